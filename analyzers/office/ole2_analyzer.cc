// Office analyzer for compound files (label ole2: .doc/.xls/.ppt, an OOXML
// vbaProject.bin, an embedded oleObject*.bin, encrypted OOXML):
//  - VBA projects (MS-OVBA): module names, auto-exec entry points and
//    suspicious idioms in the decompressed source; facts office.has_macros,
//    office.vba.modules;
//  - Excel 4.0 macro sheets in a BIFF5/BIFF8 workbook (BOUNDSHEET type 1);
//  - encryption: EncryptionInfo/EncryptedPackage (encrypted OOXML, MS-OFFCRYPTO
//    2.3.4), the Word FIB fEncrypted bit, an Excel FILEPASS record, the
//    PowerPoint EncryptedSummary stream;
//  - embedded objects (ObjectPool, Ole10Native packages, Equation Editor).
// The streams themselves become child objects through the OLE2 unpacker.
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/office/vba_heuristics.h"
#include "unpack/ascii.h"
#include "unpack/cursor.h"
#include "unpack/ole2/cfb.h"
#include "unpack/ole2/vba_project.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"office.vba.present", Severity::medium, "the document carries a VBA macro project"},
    {"office.vba.autoexec", Severity::high,
     "a VBA macro runs by itself when the document opens or closes"},
    {"office.vba.suspicious", Severity::high,
     "VBA macro code that runs programs, downloads, writes files or hides strings"},
    {"office.vba.malformed", Severity::medium,
     "a VBA project is damaged or its source could not be read"},
    {"office.xlm", Severity::high, "the workbook has an Excel 4.0 (XLM) macro sheet"},
    {"office.encrypted", Severity::medium,
     "the document is password-encrypted; its content cannot be analysed"},
    {"office.embedded_object", Severity::medium,
     "the document embeds an OLE object (a package, an ActiveX control, another document)"},
    {"office.equation_editor", Severity::high,
     "an Equation Editor 3.0 object, the target of CVE-2017-11882 and CVE-2018-0802"},
});

namespace {

constexpr size_t kMaxEvidence = 400;

std::string join(const std::set<std::string>& items) {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += ", ";
    out += s;
    if (out.size() > kMaxEvidence) {
      out += ", ...";
      break;
    }
  }
  return out;
}

std::string printable(std::string_view s, size_t max = 80) {
  std::string out;
  for (char c : s.substr(0, max)) out.push_back(static_cast<unsigned char>(c) >= 0x20 ? c : '?');
  return out;
}

struct SheetInfo {
  bool encrypted = false;                // FILEPASS in the globals substream
  std::vector<std::string> macro_sheets;  // BOUNDSHEET dt = 1, "name (hidden)"
};

// Walks the BIFF records of a workbook's globals substream ([MS-XLS] 2.1.4,
// 2.4.28 BoundSheet8) up to its EOF record.
SheetInfo read_workbook_globals(std::string_view stream) {
  SheetInfo info;
  ByteCursor c(stream);
  for (int records = 0; c.has(4) && records < 100000; ++records) {
    uint16_t type = c.u16le();
    uint16_t len = c.u16le();
    if (!c.has(len)) break;
    std::string_view data = c.bytes(len);
    if (type == 0x000A) break;  // EOF of the globals substream
    if (type == 0x002F) info.encrypted = true;  // FILEPASS
    if (type == 0x0085 && len >= 8 && !info.encrypted) {
      // lbPlyPos (4), hsState (1, low 2 bits), dt (1), then a ShortXLUnicodeString.
      uint8_t state = static_cast<uint8_t>(data[4]) & 3;
      uint8_t dt = static_cast<uint8_t>(data[5]);
      if (dt != 1) continue;
      // BIFF8 ShortXLUnicodeString: cch, fHighByte, chars (1 or 2 bytes
      // each); BIFF5 has no fHighByte byte.
      size_t cch = static_cast<uint8_t>(data[6]);
      std::string name;
      size_t step = 1, from = 7;
      if (len >= 8 + 2 * cch && (data[7] & 1)) {
        step = 2;
        from = 8;
      } else if (len >= 8 + cch && data[7] == 0) {
        from = 8;
      }
      for (size_t k = 0; k < cch && from + k * step < data.size(); ++k)
        name.push_back(data[from + k * step]);
      static constexpr std::string_view kState[] = {"visible", "hidden", "very hidden", "?"};
      info.macro_sheets.push_back(printable(name) + " (" + std::string(kState[state]) + ")");
    }
  }
  return info;
}

class Ole2OfficeAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "office.ole2"; }

  void analyze(Object& obj) override {
    if (obj.type.label != "ole2" || !obj.bytes) return;
    std::string error;
    auto file = cfb::CompoundFile::open(obj.bytes, &error);
    if (!file) return;  // the OLE2 unpacker reports the damage
    check_vba(*file, obj);
    check_streams(*file, obj);
  }

 private:
  static void check_vba(const cfb::CompoundFile& file, Object& obj) {
    auto projects = ovba::read_projects(file);
    if (projects.empty()) return;
    std::set<std::string> names;
    office::VbaIndicators ind;
    std::string problems;
    for (const auto& p : projects) {
      for (const auto& m : p.modules) {
        names.insert(printable(m.name));
        office::scan_vba_source(m.source, &ind);
      }
      for (const auto& pr : p.problems) {
        if (problems.size() < kMaxEvidence) problems += (problems.empty() ? "" : "; ") + printable(pr, 120);
      }
    }
    obj.facts["office.has_macros"] = "true";
    obj.facts["office.vba.modules"] = join(names);
    obj.findings.push_back(make_finding(
        "office.vba.present", "VBA macro project with " + std::to_string(names.size()) + " module(s)",
        join(names)));
    if (!problems.empty())
      obj.findings.push_back(make_finding("office.vba.malformed", "VBA project partly unreadable", problems));
    if (!ind.autoexec.empty())
      obj.findings.push_back(make_finding("office.vba.autoexec",
                                          "macro runs automatically", join(ind.autoexec)));
    if (!ind.suspicious.empty())
      obj.findings.push_back(make_finding("office.vba.suspicious",
                                          "macro uses suspicious keywords", join(ind.suspicious)));
  }

  static void check_streams(const cfb::CompoundFile& file, Object& obj) {
    const auto& entries = file.entries();
    bool enc_info = false, enc_package = false, encrypted = false;
    std::string enc_evidence;
    std::set<std::string> embedded;
    bool equation = false;
    std::set<std::string> xlm;
    for (const cfb::DirEntry& e : entries) {
      if (!e.reachable) continue;
      if (e.is_storage() && ascii_iequals(e.name, "ObjectPool")) embedded.insert("ObjectPool");
      if (!e.is_stream()) continue;
      if (ascii_iequals(e.name, "EncryptionInfo")) enc_info = true;
      if (ascii_iequals(e.name, "EncryptedPackage")) enc_package = true;
      if (ascii_iequals(e.name, "EncryptedSummary")) {
        encrypted = true;
        enc_evidence = "PowerPoint EncryptedSummary stream";
      }
      if (ascii_iequals(e.name, "\x01Ole10Native")) embedded.insert("Ole10Native package");
      if (ascii_iequals(e.name, "Equation Native")) equation = true;
      if (ascii_iequals(e.name, "WordDocument")) {
        // [MS-DOC] 2.5.2 FibBase: wIdent 0xA5EC, flags at offset 0x0A, fEncrypted = 0x0100.
        std::string fib = file.read_stream(e, 32);
        ByteCursor c(fib);
        uint16_t ident = c.u16le();
        c.seek(0x0A);
        uint16_t flags = c.u16le();
        if (!c.failed() && ident == 0xA5EC && (flags & 0x0100)) {
          encrypted = true;
          enc_evidence = "Word FIB fEncrypted";
        }
      }
      if (ascii_iequals(e.name, "Workbook") || ascii_iequals(e.name, "Book")) {
        // The globals substream is near the start; a few MiB is plenty.
        SheetInfo info = read_workbook_globals(file.read_stream(e, 8u << 20));
        if (info.encrypted) {
          encrypted = true;
          enc_evidence = "Excel FILEPASS record";
        }
        for (auto& s : info.macro_sheets) xlm.insert(std::move(s));
      }
    }
    if (enc_info && enc_package) {
      encrypted = true;
      enc_evidence = "EncryptionInfo and EncryptedPackage streams (encrypted OOXML)";
    }
    if (encrypted)
      obj.findings.push_back(make_finding("office.encrypted", "document is encrypted", enc_evidence));
    if (!xlm.empty()) {
      obj.facts["office.has_macros"] = "true";
      obj.facts["office.xlm"] = "true";
      obj.findings.push_back(make_finding("office.xlm", "Excel 4.0 macro sheet", join(xlm)));
    }
    if (!embedded.empty())
      obj.findings.push_back(make_finding("office.embedded_object", "embedded OLE object", join(embedded)));
    if (equation)
      obj.findings.push_back(make_finding("office.equation_editor", "Equation Editor object",
                                          "Equation Native stream"));
  }
};

SANDGATE_REGISTER_ANALYZER(Ole2OfficeAnalyzer);

}  // namespace
}  // namespace sandgate
