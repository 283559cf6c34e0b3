// Mach-O analyzer: tells unsigned, ad-hoc signed and certificate-signed macOS
// binaries apart (each slice of a fat binary separately), verifies the CMS
// signature over the CodeDirectory and its signer chain against the
// code-signing trust store, and publishes signer facts for policy.
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>

#include "analyzers/analyzer.h"
#include "analyzers/macho/macho_parser.h"
#include "analyzers/pe/code_signing.h"
#include "analyzers/pe/signed_data.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"macho.malformed", Severity::medium, "the Mach-O headers or signature are truncated or inconsistent"},
    {"macho.unsigned", Severity::low, "a Mach-O slice carries no code signature"},
    {"macho.adhoc", Severity::low, "a Mach-O slice is only ad-hoc signed (no signer identity)"},
    {"macho.signed", Severity::info, "a Mach-O slice is signed by a certificate (team id, signer)"},
    {"macho.signature.invalid", Severity::high,
     "the CMS signature does not match the slice's CodeDirectory"},
    {"macho.signature.untrusted", Severity::medium,
     "the Mach-O signer does not chain to a trusted anchor"},
    {"macho.entitlements", Severity::info, "the signature carries entitlements"},
});

namespace {

struct Pkcs7Free {
  void operator()(PKCS7* p) const { PKCS7_free(p); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};

class MachoAnalyzer final : public Analyzer {
 public:
  std::string_view name() const override { return "macho"; }

  void analyze(Object& obj) override {
    if (obj.type.label != "macho" || !obj.bytes) return;
    MachoInfo info = parse_macho(*obj.bytes);
    for (const auto& e : info.errors)
      obj.findings.push_back(make_finding("macho.malformed", "Mach-O container is unusable", e));
    obj.facts["macho.slices"] = std::to_string(info.slices.size());
    if (info.fat) obj.facts["macho.fat"] = "true";
    for (size_t i = 0; i < info.slices.size(); ++i) slice(obj, info.slices[i], i, info.fat);
  }

 private:
  static void slice(Object& obj, const MachoSlice& s, size_t i, bool fat) {
    std::string where = fat ? "slice " + std::to_string(i) + " (" + macho_cpu_name(s.cputype) + ")"
                            : std::string("binary");
    for (const auto& e : s.errors)
      obj.findings.push_back(make_finding("macho.malformed", where + ": " + e, e));
    if (i == 0 || obj.facts["macho.cpu"].empty()) {
      obj.facts["macho.cpu"] = macho_cpu_name(s.cputype);
      obj.facts["macho.filetype"] = macho_filetype_name(s.filetype);
    }
    const MachoSignature& sig = s.signature;
    if (!sig.present) {
      obj.findings.push_back(make_finding("macho.unsigned", where + " has no code signature"));
      return;
    }
    if (!sig.has_code_directory) return;  // reported as malformed above
    std::string cd_evidence = "identifier=" + sig.identifier + "; team_id=" + sig.team_id +
                              "; flags=" + std::to_string(sig.cd_flags) +
                              "; hash_type=" + std::to_string(sig.hash_type);
    if (!sig.identifier.empty()) obj.facts["macho.identifier"] = sig.identifier;
    if (!sig.team_id.empty()) obj.facts["macho.team_id"] = sig.team_id;
    if (!sig.entitlements.empty()) {
      obj.facts["macho.entitlements"] = sig.entitlements.substr(0, 4096);
      obj.findings.push_back(make_finding("macho.entitlements", where + " carries entitlements",
                                          sig.entitlements.substr(0, 512)));
    }
    if (sig.cms.empty()) {
      // Apple's codesign writes an empty BlobWrapper for ad-hoc signatures.
      obj.findings.push_back(make_finding(sig.adhoc() ? "macho.adhoc" : "macho.unsigned",
                                          where + (sig.adhoc() ? " is ad-hoc signed"
                                                               : " has no signer"),
                                          cd_evidence));
      return;
    }
    verify_cms(obj, sig, where, cd_evidence);
  }

  static void verify_cms(Object& obj, const MachoSignature& sig, const std::string& where,
                         const std::string& cd_evidence) {
    std::unique_ptr<PKCS7, Pkcs7Free> p7(
        decode_signed_data(reinterpret_cast<const unsigned char*>(sig.cms.data()), sig.cms.size()));
    if (!p7 || !PKCS7_type_is_signed(p7.get())) {
      ERR_clear_error();
      obj.findings.push_back(make_finding("macho.malformed", where + ": CMS blob is unreadable"));
      return;
    }
    STACK_OF(X509)* signers = PKCS7_get0_signers(p7.get(), nullptr, 0);
    X509* signer = signers && sk_X509_num(signers) >= 1 ? sk_X509_value(signers, 0) : nullptr;
    sk_X509_free(signers);
    if (!signer) {
      ERR_clear_error();
      obj.findings.push_back(
          make_finding("macho.malformed", where + ": the CMS signer certificate is missing"));
      return;
    }
    CertDescription d = describe_cert(signer);
    std::string evidence = cd_evidence + "; subject=" + d.subject + "; issuer=" + d.issuer +
                           "; serial=" + d.serial + "; sha1=" + d.sha1 + "; sha256=" + d.sha256 +
                           "; valid=" + d.not_before + ".." + d.not_after;
    if (!signed_data_digests_supported(p7.get())) {
      obj.findings.push_back(make_finding(
          "macho.malformed", where + ": the CMS signature names a digest other than SHA-1/SHA-2"));
      return;
    }
    auto store = codesign_store();
    // The CMS signature is detached: its content is the CodeDirectory blob.
    std::unique_ptr<BIO, BioFree> cd(
        BIO_new_mem_buf(sig.code_directory.data(), int(sig.code_directory.size())));
    bool sig_ok = PKCS7_verify(p7.get(), nullptr, store.get(), cd.get(), nullptr,
                               PKCS7_NOVERIFY | PKCS7_BINARY) == 1;
    ERR_clear_error();
    std::string chain_error;
    bool trusted = sig_ok && verify_chain(signer, p7->d.sign->cert, 0, &chain_error) ==
                                 ChainResult::trusted;
    obj.facts["signer.subject"] = d.subject;
    obj.facts["signer.common_name"] = d.common_name;
    obj.facts["signer.issuer"] = d.issuer;
    obj.facts["signer.thumbprint"] = d.sha256;
    obj.facts["signer.thumbprint_sha1"] = d.sha1;
    obj.facts["signer.valid"] = trusted ? "true" : "false";
    if (!sig_ok) {
      obj.findings.push_back(make_finding("macho.signature.invalid",
                                          where + ": signature does not match the CodeDirectory",
                                          evidence));
      return;
    }
    obj.findings.push_back(make_finding(
        "macho.signed", where + " is signed by " + d.common_name +
                            (sig.team_id.empty() ? "" : " (team " + sig.team_id + ")"),
        evidence));
    if (!trusted)
      obj.findings.push_back(make_finding("macho.signature.untrusted",
                                          where + ": " + chain_error, evidence));
  }
};

SANDGATE_REGISTER_ANALYZER(MachoAnalyzer);

}  // namespace
}  // namespace sandgate
