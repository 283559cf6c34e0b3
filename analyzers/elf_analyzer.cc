// ELF analyzer: class, byte order, machine, type and program interpreter of
// an ELF file (System V ABI, "ELF header" and "Program header" chapters),
// published as facts (elf.class, elf.machine, elf.type, elf.interpreter,
// elf.static) for policy and reports. Bounds-checked: the header and program
// header table are read only up to fixed caps; a truncated or inconsistent
// structure is the finding elf.malformed, never a crash.
#include <string>

#include "analyzers/analyzer.h"
#include "unpack/cursor.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"elf.malformed", Severity::medium, "the ELF headers are truncated or inconsistent"},
});

namespace {

constexpr uint32_t kPtInterp = 3;
constexpr uint32_t kMaxProgramHeaders = 4096;
constexpr size_t kMaxInterpreter = 4096;

const char* machine_name(uint16_t m) {
  switch (m) {
    case 3: return "x86";
    case 62: return "x86_64";
    case 40: return "arm";
    case 183: return "aarch64";
    case 8: return "mips";
    case 20: return "ppc";
    case 21: return "ppc64";
    case 22: return "s390";
    case 243: return "riscv";
    case 2: return "sparc";
    case 43: return "sparcv9";
    default: return "other";
  }
}

const char* type_name(uint16_t t) {
  switch (t) {
    case 1: return "relocatable";
    case 2: return "executable";
    case 3: return "shared";  // also position-independent executables
    case 4: return "core";
    default: return "other";
  }
}

class ElfAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "elf"; }

  void analyze(Object& obj) override {
    if (obj.type.label != "elf" || !obj.bytes) return;
    std::string err = parse(obj);
    if (!err.empty()) obj.findings.push_back(make_finding("elf.malformed", err, obj.path));
  }

 private:
  // Fills facts; returns a description of the first problem, or "".
  static std::string parse(Object& obj) {
    const ByteSource& src = *obj.bytes;
    std::string h = src.read_string(0, 64);
    if (h.size() < 16 || h.compare(0, 4, "\x7f" "ELF") != 0) return "file ends inside e_ident";
    uint8_t cls = static_cast<uint8_t>(h[4]), data = static_cast<uint8_t>(h[5]);
    if (cls != 1 && cls != 2) return "unknown ELF class " + std::to_string(cls);
    if (data != 1 && data != 2) return "unknown ELF data encoding " + std::to_string(data);
    const bool is64 = cls == 2, be = data == 2;
    obj.facts["elf.class"] = is64 ? "64" : "32";
    obj.facts["elf.endian"] = be ? "big" : "little";
    size_t ehsize = is64 ? 64 : 52;
    if (h.size() < ehsize) return "file ends inside the ELF header";
    ByteCursor c(h);
    auto u16 = [&](ByteCursor& x) { return be ? x.u16be() : x.u16le(); };
    auto u32 = [&](ByteCursor& x) { return be ? x.u32be() : x.u32le(); };
    auto word = [&](ByteCursor& x) -> uint64_t {
      return is64 ? (be ? x.u64be() : x.u64le()) : u32(x);
    };
    c.seek(16);
    uint16_t type = u16(c), machine = u16(c);
    obj.facts["elf.type"] = type_name(type);
    obj.facts["elf.machine"] = machine_name(machine);
    u32(c);  // e_version
    word(c);  // e_entry
    uint64_t phoff = word(c);
    word(c);  // e_shoff
    u32(c);   // e_flags
    u16(c);   // e_ehsize
    uint16_t phentsize = u16(c), phnum = u16(c);
    size_t want_ent = is64 ? 56 : 32;
    if (phnum == 0) {
      obj.facts["elf.static"] = "true";
      return {};
    }
    if (phentsize < want_ent) return "program header entry size " + std::to_string(phentsize);
    if (phnum > kMaxProgramHeaders) return "too many program headers (" + std::to_string(phnum) + ")";
    uint64_t table = uint64_t(phnum) * phentsize;
    if (phoff > src.size() || table > src.size() - phoff)
      return "program header table runs past the end of the file";
    std::string ph = src.read_string(phoff, static_cast<size_t>(table));
    bool interp = false;
    for (uint16_t i = 0; i < phnum; ++i) {
      ByteCursor p(std::string_view(ph).substr(size_t(i) * phentsize, phentsize));
      uint32_t ptype = u32(p);
      if (ptype != kPtInterp) continue;
      uint64_t off = 0, filesz = 0;
      if (is64) {
        u32(p);  // p_flags
        off = word(p);
        word(p);
        word(p);
        filesz = word(p);
      } else {
        off = u32(p);
        u32(p);
        u32(p);
        filesz = u32(p);
      }
      if (off > src.size() || filesz > src.size() - off || filesz > kMaxInterpreter)
        return "PT_INTERP lies outside the file";
      std::string path = src.read_string(off, static_cast<size_t>(filesz));
      if (auto z = path.find('\0'); z != std::string::npos) path.resize(z);
      for (char& ch : path)
        if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
      obj.facts["elf.interpreter"] = path;
      interp = true;
      break;
    }
    obj.facts["elf.static"] = interp ? "false" : "true";
    return {};
  }
};

SANDGATE_REGISTER_ANALYZER(ElfAnalyzer);

}  // namespace
}  // namespace sandgate
