// Policy language tests for code signers (issue 7): the reasons of rules
// decided by a signer (signer.blocked / signer.allowed), SHA-1 and SHA-256
// thumbprint list entries, and the `codesign` section (trust anchors named by
// the policy) with its positioned validation errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/policies/language/test_util.h"

using namespace sandgate;
using namespace sandgate::policy_lang;
using namespace sandgate::policy_test;

namespace {

constexpr const char* kSha256 = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
constexpr const char* kSha1 = "00112233445566778899aabbccddeeff00112233";

// A signed PE as the Authenticode analyzer describes it.
Object signed_pe(const std::string& path, const std::string& sha256, bool valid,
                 const std::string& sha1 = "ffffffffffffffffffffffffffffffffffffffff") {
  Object o = make_object(0, -1, 0, path, "pe");
  o.findings.push_back(finding("type.executable", Severity::high));
  o.facts["signer.subject"] = "CN=Some Vendor,O=Vendor Inc";
  o.facts["signer.thumbprint"] = sha256;
  o.facts["signer.thumbprint_sha1"] = sha1;
  o.facts["signer.valid"] = valid ? "true" : "false";
  return o;
}

std::string policy_text() {
  return std::string(R"(name: signers
lists:
  blocked-signers: {kind: thumbprint, file: lists/blocked.txt}
  trusted-signers: {kind: thumbprint, file: lists/trusted.txt}
profiles:
  mail:
    rules:
      - name: blocked-signers
        when: {signer: {thumbprint: {list: blocked-signers}}}
        action: quarantine
      - name: blocked-subjects
        when: {signer: {subject: 'CN=Evil*'}, finding: type.executable}
        action: reject
      - name: trusted-signers
        when: {signer: {valid: true, thumbprint: {list: trusted-signers}}}
        action: pass
      - name: not-trusted
        when: {not: {signer: {thumbprint: {list: trusted-signers}}}, type: pe}
        action: quarantine
      - name: executables
        when: {type: pe}
        action: quarantine
)");
}

std::shared_ptr<const YamlPolicy> signer_policy(const TempDir& dir, const std::string& blocked,
                                                const std::string& trusted) {
  dir.write("lists/blocked.txt", "# blocked\n" + blocked);
  dir.write("lists/trusted.txt", "# trusted\n" + trusted);
  return compile(dir, policy_text());
}

SubmissionFacts facts(const std::string& channel) {
  SubmissionFacts f;
  f.channel = channel;
  return f;
}

bool has_reason(const Decision& d, const std::string& rule, const std::string& finding) {
  for (const auto& r : d.reasons)
    if (r.rule == rule && r.finding == finding) return true;
  return false;
}

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(pclose(p) == 0);
  return out;
}

// A self-signed certificate (and its key) made with the openssl command.
void make_cert(const TempDir& dir, const std::string& name) {
  std::filesystem::create_directories(std::filesystem::path(dir.file(name)).parent_path());
  run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "
      "'/CN=Sandgate Policy Test CA' -keyout " +
      dir.file(name + ".key") + " -out " + dir.file(name + ".pem") + " 2>&1");
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("a rule decided by a blocked signer list gives the reason signer.blocked") {
  TempDir dir;
  auto p = signer_policy(dir, std::string(kSha256) + "\n", "");
  std::vector<Object> objs{signed_pe("tool.exe", kSha256, true)};
  Decision d = p->decide(objs, facts("mail"));
  CHECK(d.action == Action::quarantine);
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "blocked-signers");
  CHECK(d.reasons[0].object == "tool.exe");
  CHECK(d.reasons[0].finding == "signer.blocked");
  // Blocked whether or not the signature verifies.
  objs = {signed_pe("tool.exe", kSha256, false)};
  d = p->decide(objs, facts("mail"));
  CHECK(has_reason(d, "blocked-signers", "signer.blocked"));
  // Thumbprints in a list may be upper case with colons.
  std::string colons;
  for (size_t i = 0; i < 64; i += 2) colons += (i ? ":" : "") + std::string(kSha256 + i, 2);
  for (auto& c : colons) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  TempDir dir2;
  auto p2 = signer_policy(dir2, colons + "\n", "");
  CHECK(has_reason(p2->decide(objs, facts("mail")), "blocked-signers", "signer.blocked"));
}

TEST_CASE("a SHA-1 thumbprint in a list matches the signer's SHA-1 thumbprint") {
  TempDir dir;
  auto p = signer_policy(dir, std::string(kSha1) + "\n", "");
  std::vector<Object> objs{signed_pe("tool.exe", kSha256, true, kSha1)};
  Decision d = p->decide(objs, facts("mail"));
  CHECK(has_reason(d, "blocked-signers", "signer.blocked"));
  // Another signer's SHA-1 does not.
  objs = {signed_pe("tool.exe", kSha256, true)};
  CHECK_FALSE(has_reason(p->decide(objs, facts("mail")), "blocked-signers", "signer.blocked"));
}

TEST_CASE("a pass rule decided by a trusted signer list records signer.allowed") {
  TempDir dir;
  auto p = signer_policy(dir, "", std::string(kSha256) + "\n");
  // `valid` written before `thumbprint`: the reason still names the signer list.
  std::vector<Object> objs{signed_pe("tool.exe", kSha256, true)};
  Decision d = p->decide(objs, facts("mail"));
  CHECK(d.action == Action::pass);
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "trusted-signers");
  CHECK(d.reasons[0].finding == "signer.allowed");
  // Listed but not valid: the pass rule does not hold; the next rules decide
  // on the type, and `not: {signer: ...}` is not a signer decision.
  objs = {signed_pe("tool.exe", kSha256, false)};
  d = p->decide(objs, facts("mail"));
  CHECK(d.action == Action::quarantine);
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "executables");
  CHECK(d.reasons[0].finding == "type=pe");
  objs = {signed_pe("tool.exe", std::string(64, 'e'), true)};
  d = p->decide(objs, facts("mail"));
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "not-trusted");
  CHECK(d.reasons[0].finding != "signer.blocked");
}

TEST_CASE("on both lists: the blocked rule comes first and wins") {
  TempDir dir;
  auto p = signer_policy(dir, std::string(kSha256) + "\n", std::string(kSha256) + "\n");
  std::vector<Object> objs{signed_pe("tool.exe", kSha256, true)};
  Decision d = p->decide(objs, facts("mail"));
  CHECK(d.action == Action::quarantine);
  CHECK(has_reason(d, "blocked-signers", "signer.blocked"));
  CHECK_FALSE(has_reason(d, "trusted-signers", "signer.allowed"));
}

TEST_CASE("a subject pattern decides too, and the findings it also needed follow the reason") {
  TempDir dir;
  auto p = signer_policy(dir, "", "");
  std::vector<Object> objs{signed_pe("tool.exe", kSha256, true)};
  objs[0].facts["signer.subject"] = "CN=Evil Corp,O=Evil";
  Decision d = p->decide(objs, facts("mail"));
  CHECK(d.action == Action::reject);
  REQUIRE(d.reasons.size() == 2);
  CHECK(d.reasons[0].finding == "signer.blocked");
  CHECK(d.reasons[1].finding == "type.executable");
  CHECK(d.reasons[1].rule == "blocked-subjects");
}

TEST_CASE("the shipped policy has a blocked-signers rule before the trusted-signer rule") {
  auto r = load_policy_file(source_root() + "/policies/default.yaml");
  REQUIRE_MESSAGE(r.ok(), diagnostics_text(r));
  const CompiledPolicy& c = *r.policy;
  REQUIRE(c.lists.count("blocked-signers"));
  CHECK(c.lists.at("blocked-signers").kind == ListKind::thumbprint);
  CHECK_FALSE(c.codesign.has_value());  // the section is a commented example
  for (const char* profile : {"mail", "upload"}) {
    CAPTURE(profile);
    const Profile* p = c.find_profile(profile);
    REQUIRE(p != nullptr);
    int blocked = -1, trusted = -1, exes = -1;
    for (size_t i = 0; i < p->rules.size(); ++i) {
      if (p->rules[i].name == "blocked-signers") blocked = int(i);
      if (p->rules[i].name == "trusted-signed-executables") trusted = int(i);
      if (p->rules[i].name == "executables-and-scripts") exes = int(i);
    }
    REQUIRE(blocked >= 0);
    CHECK(blocked < exes);
    if (trusted >= 0) CHECK(blocked < trusted);
    CHECK(p->rules[size_t(blocked)].action == Action::quarantine);
  }
  // Decisions with the shipped rules: a listed signer is quarantined with
  // the reason signer.blocked in both profiles.
  TempDir dir;
  std::filesystem::copy(source_root() + "/policies", dir.path() + "/p",
                        std::filesystem::copy_options::recursive);
  std::ofstream(dir.file("p/lists/blocked-signers.txt"), std::ios::app) << kSha256 << "\n";
  std::ofstream(dir.file("p/lists/trusted-signers.txt"), std::ios::app) << kSha256 << "\n";
  auto loaded = load_policy_file(dir.file("p/default.yaml"));
  REQUIRE_MESSAGE(loaded.ok(), diagnostics_text(loaded));
  YamlPolicy shipped(loaded.policy);
  std::vector<Object> objs{signed_pe("tool.exe", kSha256, true)};
  for (const char* profile : {"mail", "upload"}) {
    CAPTURE(profile);
    Decision d = shipped.decide(objs, facts(profile));
    CHECK(d.action == Action::quarantine);
    CHECK(has_reason(d, "blocked-signers", "signer.blocked"));
  }
}

TEST_CASE("codesign: anchors are read and checked when the policy loads") {
  TempDir dir;
  make_cert(dir, "certs/ca");
  const std::string text = R"(name: cs
codesign:
  system_bundle: false
  anchors: [certs/ca.pem]
profiles:
  upload: {rules: []}
)";
  auto r = load_policy_file(dir.write("p.yaml", text));
  REQUIRE_MESSAGE(r.ok(), diagnostics_text(r));
  REQUIRE(r.policy->codesign.has_value());
  const CodesignTrustConfig& cs = *r.policy->codesign;
  CHECK_FALSE(cs.system_bundle);
  REQUIRE(cs.anchor_files.size() == 1);
  CHECK(cs.anchor_files[0] == dir.file("certs/ca.pem"));
  REQUIRE(cs.anchor_pems.size() == 1);
  CHECK(cs.anchor_pems[0] == slurp(dir.file("certs/ca.pem")));
  // The anchor is watched and is part of the policy's identity.
  CHECK(std::find(r.files.begin(), r.files.end(), dir.file("certs/ca.pem")) != r.files.end());
  const std::string sha_before = r.policy->sha256;
  make_cert(dir, "certs/ca");  // a new CA in the same file
  auto r2 = load_policy_file(dir.file("p.yaml"));
  REQUIRE(r2.ok());
  CHECK(r2.policy->sha256 != sha_before);
  // Defaults: the system bundle is on; no section at all leaves it unset.
  auto r3 = load_policy_file(dir.write("q.yaml",
                                       "name: q\ncodesign: {anchors: certs/ca.pem}\n"
                                       "profiles:\n  upload: {rules: []}\n"));
  REQUIRE(r3.ok());
  CHECK(r3.policy->codesign->system_bundle);
  CHECK(r3.policy->codesign->anchor_files.size() == 1);
  auto r4 = load_policy_file(dir.write("n.yaml", "name: n\nprofiles:\n  upload: {rules: []}\n"));
  REQUIRE(r4.ok());
  CHECK_FALSE(r4.policy->codesign.has_value());
}

TEST_CASE("codesign: a bad section is a FILE:LINE:COL error") {
  TempDir dir;
  make_cert(dir, "ca");
  dir.write("notes.txt", "not a certificate\n");
  auto r = load_policy_file(dir.write("p.yaml", R"(name: cs
codesign:
  system_bundle: maybe
  anchor: [ca.pem]
  anchors:
    - ca.pem
    - missing.pem
    - notes.txt
    - ca.key
profiles:
  upload: {rules: []}
)"));
  CHECK_FALSE(r.ok());
  std::string all = diagnostics_text(r);
  CAPTURE(all);
  REQUIRE(r.diagnostics.size() == 5);
  const std::string f = dir.file("p.yaml");
  CHECK(r.diagnostics[0].format() == f + ":3:18: 'system_bundle' must be true or false");
  CHECK(r.diagnostics[1].format() ==
        f + ":4:3: unknown key 'anchor' in codesign; did you mean 'anchors'?");
  CHECK(r.diagnostics[2].format() ==
        f + ":7:7: cannot read trust anchor 'missing.pem': No such file or directory");
  CHECK(r.diagnostics[3].format().starts_with(f + ":8:7: trust anchor 'notes.txt' is not a PEM "
                                                  "certificate file"));
  CHECK(r.diagnostics[4].format().starts_with(f + ":9:7: trust anchor 'ca.key' is not a PEM "
                                                  "certificate file"));
  // The watcher also sees the missing anchor, to reload once it appears.
  CHECK(std::find(r.files.begin(), r.files.end(), dir.file("missing.pem")) != r.files.end());
  // Not a mapping.
  auto r2 = load_policy_file(dir.write("q.yaml",
                                       "name: q\ncodesign: [ca.pem]\n"
                                       "profiles:\n  upload: {rules: []}\n"));
  CHECK_FALSE(r2.ok());
  REQUIRE(r2.diagnostics.size() == 1);
  CHECK(r2.diagnostics[0].format() ==
        dir.file("q.yaml") + ":2:11: codesign must be a mapping, not a list");
}
