// PE analyzer: describes a Windows executable for policy and the report:
// header facts, packer and anomaly hints (each low severity: they describe,
// a rule decides), and the Authenticode verdict with signer facts
// (signer.subject, signer.thumbprint, signer.valid) that policy conditions read.
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/pe/authenticode.h"
#include "analyzers/pe/pe_parser.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"pe.malformed", Severity::medium, "the PE headers are truncated or inconsistent"},
    {"pe.anomaly", Severity::low, "a PE structure is out of the ordinary (e.g. data past the end)"},
    {"pe.packer", Severity::low, "section names of a known executable packer (UPX, ASPack, ...)"},
    {"pe.section.high_entropy", Severity::low,
     "a section's bytes look compressed or encrypted (entropy above 7.2 bits/byte)"},
    {"pe.overlay", Severity::low, "data is appended after the image (overlay)"},
    {"pe.entry_outside_sections", Severity::low, "the entry point lies outside every section"},
    {"pe.unsigned", Severity::info, "the executable carries no Authenticode signature"},
    {"pe.authenticode.valid", Severity::info,
     "the Authenticode signature and its chain verify against the trust store"},
    {"pe.authenticode.tampered", Severity::high,
     "the file no longer matches its Authenticode signature"},
    {"pe.authenticode.untrusted", Severity::medium,
     "the Authenticode signer does not chain to a trusted anchor"},
    {"pe.authenticode.expired", Severity::medium,
     "the signer's certificate is expired and no valid timestamp falls inside its validity"},
    {"pe.authenticode.malformed", Severity::high,
     "the certificate table or its PKCS#7 signature cannot be read"},
    {"pe.authenticode.trailing_data", Severity::low,
     "bytes follow the certificate table, outside what the signature covers"},
});

namespace {

constexpr double kHighEntropy = 7.2;
constexpr uint64_t kEntropyMinBytes = 1024;

struct Packer {
  std::string_view section;
  std::string_view name;
};
constexpr std::array<Packer, 14> kPackers = {{
    {"UPX0", "UPX"}, {"UPX1", "UPX"}, {"UPX2", "UPX"}, {".UPX", "UPX"},
    {".aspack", "ASPack"}, {".adata", "ASPack"}, {".MPRESS1", "MPRESS"}, {".MPRESS2", "MPRESS"},
    {".petite", "Petite"}, {".nsp0", "NsPack"}, {".nsp1", "NsPack"}, {".themida", "Themida"},
    {".vmp0", "VMProtect"}, {".vmp1", "VMProtect"},
}};

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string signer_evidence(const AuthenticodeResult& r) {
  std::string e = "subject=" + r.signer.subject + "; issuer=" + r.signer.issuer +
                  "; serial=" + r.signer.serial + "; sha1=" + r.signer.sha1 +
                  "; sha256=" + r.signer.sha256 + "; valid=" + r.signer.not_before + ".." +
                  r.signer.not_after;
  if (!r.signing_time.empty())
    e += "; signing_time=" + r.signing_time + " (" + r.timestamp_kind +
         (r.timestamp_verified ? ", verified)" : ", unverified)");
  if (!r.digest_algorithm.empty()) e += "; digest=" + r.digest_algorithm;
  return e;
}

class PeAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "pe"; }

  void analyze(Object& obj) override {
    if (obj.type.label != "pe" || !obj.bytes) return;
    const ByteSource& src = *obj.bytes;
    // Headers first; the bytes are then read once for both the section
    // entropy and the Authenticode digest (pe_read_pass), not once each.
    PeParseOptions opt;
    opt.entropy = false;
    PeInfo pe = parse_pe(src, opt);
    for (const auto& e : pe.errors)
      obj.findings.push_back(make_finding("pe.malformed", "PE headers are unusable", e));
    if (!pe.is_pe) return;
    AuthenticodeVerifier verifier(src, pe);
    std::optional<std::string> digest;
    const EVP_MD* md = verifier.digest_md();
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(md ? EVP_MD_CTX_new() : nullptr,
                                                           EVP_MD_CTX_free);
    PeDigestInput in = verifier.digest_input(pe);
    in.sink = [&ctx](const unsigned char* p, size_t n) { EVP_DigestUpdate(ctx.get(), p, n); };
    opt.entropy = true;
    const bool hashing = ctx && EVP_DigestInit_ex(ctx.get(), md, nullptr) == 1;
    bool read_ok = pe_read_pass(src, pe, opt, hashing ? &in : nullptr);
    if (hashing && read_ok) {
      unsigned char out[EVP_MAX_MD_SIZE];
      unsigned int n = 0;
      if (EVP_DigestFinal_ex(ctx.get(), out, &n) == 1) digest = hex_lower(out, n);
    }
    describe(obj, pe);
    for (const auto& a : pe.anomalies)
      obj.findings.push_back(make_finding("pe.anomaly", a, obj.path));
    hints(obj, pe);
    signature(obj, verifier.finish(std::move(digest)));
  }

 private:
  static void describe(Object& obj, const PeInfo& pe) {
    obj.facts["pe.machine"] = pe_machine_name(pe.machine);
    obj.facts["pe.format"] = pe.pe32plus ? "pe32+" : "pe32";
    obj.facts["pe.dll"] = pe.is_dll() ? "true" : "false";
    obj.facts["pe.subsystem"] = std::to_string(pe.subsystem);
    obj.facts["pe.sections"] = std::to_string(pe.sections.size());
    obj.facts["pe.imports.dlls"] = std::to_string(pe.import_dlls.size());
    obj.facts["pe.imports.functions"] = std::to_string(pe.import_functions);
    obj.facts["pe.resources"] = pe.has_resources ? "true" : "false";
    obj.facts["pe.overlay"] = std::to_string(pe.overlay_size);
  }

  static void hints(Object& obj, const PeInfo& pe) {
    std::string packers;
    for (const auto& s : pe.sections) {
      for (const auto& p : kPackers)
        if (s.name == p.section && packers.find(p.name) == std::string::npos)
          packers += (packers.empty() ? "" : ", ") + std::string(p.name);
      if (s.entropy_bytes >= kEntropyMinBytes && s.entropy > kHighEntropy) {
        char e[16];
        std::snprintf(e, sizeof e, "%.2f", s.entropy);
        obj.findings.push_back(make_finding("pe.section.high_entropy",
                                            "section " + s.name + " has entropy " + e,
                                            "section=" + s.name + "; bytes=" +
                                                std::to_string(s.entropy_bytes)));
      }
    }
    if (!packers.empty())
      obj.findings.push_back(make_finding("pe.packer", "packed with " + packers, packers));
    if (pe.overlay_size)
      obj.findings.push_back(make_finding(
          "pe.overlay", std::to_string(pe.overlay_size) + " bytes appended after the image",
          "offset=" + hex(pe.overlay_offset) + "; size=" + std::to_string(pe.overlay_size)));
    if (!pe.entry_in_section && !(pe.entry_rva == 0 && pe.is_dll()))
      obj.findings.push_back(make_finding("pe.entry_outside_sections",
                                          "entry point " + hex(pe.entry_rva) +
                                              " is outside every section"));
  }

  static void signature(Object& obj, const AuthenticodeResult& r) {
    using S = AuthenticodeStatus;
    if (r.status == S::unsigned_) {
      obj.findings.push_back(make_finding("pe.unsigned", "no Authenticode signature"));
      return;
    }
    std::string id = std::string("pe.authenticode.") + authenticode_status_name(r.status);
    std::string evidence = r.has_signer ? signer_evidence(r) : std::string();
    if (r.status == S::tampered)
      evidence += "; signed_digest=" + r.signed_digest + "; file_digest=" + r.file_digest;
    obj.findings.push_back(make_finding(id, r.detail, evidence));
    if (r.trailing_data)
      obj.findings.push_back(make_finding("pe.authenticode.trailing_data",
                                          "data follows the certificate table"));
    if (!r.has_signer) return;
    obj.facts["signer.subject"] = r.signer.subject;
    obj.facts["signer.common_name"] = r.signer.common_name;
    obj.facts["signer.issuer"] = r.signer.issuer;
    obj.facts["signer.serial"] = r.signer.serial;
    // The policy matcher compares one thumbprint value with list entries;
    // SHA-256 is the one we publish there, SHA-1 is kept beside it.
    obj.facts["signer.thumbprint"] = r.signer.sha256;
    obj.facts["signer.thumbprint_sha1"] = r.signer.sha1;
    obj.facts["signer.valid"] = r.status == S::valid ? "true" : "false";
    obj.facts["signer.status"] = authenticode_status_name(r.status);
    if (!r.signing_time.empty()) obj.facts["signer.signing_time"] = r.signing_time;
  }
};

SANDGATE_REGISTER_ANALYZER(PeAnalyzer);

}  // namespace
}  // namespace sandgate
