// How the policy language uses YARA and hash lists: the `yara:` section is
// compiled at load (a broken rule file is a policy error at FILE:LINE), rule
// names become known finding ids, hash lists decide with the reasons
// hash.blocked / hash.allowed, a rule matching several findings lists them
// all, and the shipped policy quarantines a disguised program and a YARA hit.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"

using namespace sandgate;
using namespace sandgate::policy_lang;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sgyarapol.XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& rel, const std::string& text) const {
    std::string p = path_ + "/" + rel;
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    return p;
  }

 private:
  std::string path_;
};

std::string all_diags(const LoadResult& r) {
  std::string s;
  for (const auto& d : r.diagnostics) s += d.format() + "\n";
  return s;
}

const char* kProfiles = R"(
profiles:
  upload:
    default: pass
    rules:
      - name: blocked
        when: {sha256: {list: bad}}
        action: quarantine
      - name: allowed
        when: {sha256: {list: good}}
        action: pass
      - name: disguised
        when:
          finding: [name.double_extension, name.disguised_executable, name.padding]
        action: quarantine
      - name: yara
        when: {finding: "yara.*"}
        action: quarantine
)";

const std::string kBad = std::string(64, 'b');
const std::string kGood = std::string(64, 'a');

Object obj(int index, int parent, int depth, std::string path, std::string sha256 = {}) {
  Object o;
  o.index = index;
  o.parent = parent;
  o.depth = depth;
  o.path = path;
  o.name = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  o.type.label = "data";
  o.sha256 = std::move(sha256);
  return o;
}

Finding finding(std::string id, Severity s = Severity::high) {
  Finding f;
  f.id = std::move(id);
  f.severity = s;
  return f;
}

}  // namespace

TEST_CASE("a YARA rule file that does not compile fails the policy at its file and line") {
  TempDir dir;
  std::string rule = dir.write(
      "rules/bad.yar", "rule fine { condition: true }\n\n\nrule bad { condition: $missing }\n");
  std::string pol =
      dir.write("p.yaml", std::string("name: p\nyara:\n  - rules/*.yar\n") + kProfiles +
                              "lists:\n  bad: {kind: sha256, entries: []}\n"
                              "  good: {kind: sha256, entries: []}\n");
  LoadResult r = load_policy_file(pol);
  INFO(all_diags(r));
  CHECK_FALSE(r.ok());
  bool found = false;
  for (const auto& d : r.diagnostics)
    if (d.file == rule && d.line == 4 && !d.warning &&
        d.format().starts_with(rule + ":4:1: YARA rule error: ") &&
        d.message.find("$missing") != std::string::npos)
      found = true;
  CHECK(found);
  // The rule file is watched for reloads like list files.
  CHECK(std::find(r.files.begin(), r.files.end(), rule) != r.files.end());
}

TEST_CASE("compiled YARA rules: rule names are known finding ids") {
  TempDir dir;
  dir.write("r.yar", "rule job_lure { strings: $a = \"careers\" condition: $a }\n");
  const std::string lists =
      "lists:\n  bad: {kind: sha256, entries: []}\n  good: {kind: sha256, entries: []}\n";
  SUBCASE("yara.RULE and yara.* load without a warning") {
    std::string pol = dir.write(
        "p.yaml",
        "name: p\nyara: r.yar\n" + lists + kProfiles +
            "      - name: lure\n        when: {finding: yara.job_lure}\n        action: tag\n");
    LoadResult r = load_policy_file(pol);
    INFO(all_diags(r));
    REQUIRE(r.ok());
    CHECK(r.diagnostics.empty());
    REQUIRE(r.policy->yara_rules);
    CHECK(r.policy->yara_rules->rule_names() == std::vector<std::string>{"job_lure"});
  }
  SUBCASE("a yara id that names no rule is an error, as for any unknown id") {
    std::string pol = dir.write(
        "p.yaml",
        "name: p\nyara: r.yar\n" + lists + kProfiles +
            "      - name: lure\n        when: {finding: yara.job_lures}\n        action: tag\n");
    LoadResult r = load_policy_file(pol);
    CHECK_FALSE(r.ok());
    CHECK(all_diags(r).find("unknown finding id 'yara.job_lures'; did you mean 'yara.job_lure'?") !=
          std::string::npos);
  }
  SUBCASE("no yara section: no rules") {
    std::string pol = dir.write("p.yaml", "name: p\n" + lists + kProfiles);
    LoadResult r = load_policy_file(pol);
    INFO(all_diags(r));
    REQUIRE(r.ok());
    CHECK(r.diagnostics.empty());  // yara.* still matches the catalogued yara.timeout/error
    CHECK(r.policy->yara_rules == nullptr);
  }
}

TEST_CASE("hash lists decide with the reasons hash.blocked and hash.allowed") {
  TempDir dir;
  dir.write("lists/bad.txt", "# blocked\n" + kBad + "  evil.exe\n");
  dir.write("lists/good.txt", kGood + "\n");
  std::string pol = dir.write("p.yaml", std::string("name: p\n") +
                                            "lists:\n  bad: {kind: sha256, file: lists/bad.txt}\n"
                                            "  good: {kind: sha256, file: lists/good.txt}\n" +
                                            kProfiles);
  LoadResult r = load_policy_file(pol);
  INFO(all_diags(r));
  REQUIRE(r.ok());
  YamlPolicy policy(r.policy);
  SubmissionFacts facts;
  facts.channel = "upload";

  SUBCASE("blocked") {
    std::vector<Object> objs{obj(0, -1, 0, "a.zip", std::string(64, 'c')),
                             obj(1, 0, 1, "a.zip/evil.exe", kBad)};
    Decision d = policy.decide(objs, facts);
    CHECK(d.action == Action::quarantine);
    REQUIRE(d.reasons.size() == 1);
    CHECK(d.reasons[0].rule == "blocked");
    CHECK(d.reasons[0].object == "a.zip/evil.exe");
    CHECK(d.reasons[0].finding == "hash.blocked");
  }
  SUBCASE("allowed: the pass says why, even over findings that would quarantine") {
    std::vector<Object> objs{obj(0, -1, 0, "offer.pdf.exe", kGood)};
    objs[0].findings.push_back(finding("name.double_extension"));
    Decision d = policy.decide(objs, facts);
    CHECK(d.action == Action::pass);
    REQUIRE(d.reasons.size() == 1);
    CHECK(d.reasons[0].rule == "allowed");
    CHECK(d.reasons[0].finding == "hash.allowed");
  }
  SUBCASE("an allowed object does not hide a blocked sibling") {
    std::vector<Object> objs{obj(0, -1, 0, "a.zip", std::string(64, 'c')),
                             obj(1, 0, 1, "a.zip/ok.txt", kGood),
                             obj(2, 0, 1, "a.zip/evil.exe", kBad)};
    Decision d = policy.decide(objs, facts);
    CHECK(d.action == Action::quarantine);
    REQUIRE(d.reasons.size() == 1);
    CHECK(d.reasons[0].finding == "hash.blocked");
  }
  SUBCASE("no list matched: the reasons are the usual ones") {
    std::vector<Object> objs{obj(0, -1, 0, "clean.txt", std::string(64, 'd'))};
    Decision d = policy.decide(objs, facts);
    CHECK(d.action == Action::pass);
    CHECK(d.reasons.empty());
  }
}

TEST_CASE("a rule that matched on several findings lists each of them") {
  TempDir dir;
  std::string pol = dir.write("p.yaml", std::string("name: p\n") +
                                            "lists:\n  bad: {kind: sha256, entries: []}\n"
                                            "  good: {kind: sha256, entries: []}\n" +
                                            kProfiles);
  LoadResult r = load_policy_file(pol);
  REQUIRE(r.ok());
  YamlPolicy policy(r.policy);
  SubmissionFacts facts;
  facts.channel = "upload";
  std::vector<Object> objs{obj(0, -1, 0, "Job.pdf.exe")};
  objs[0].findings = {finding("name.dangerous_extension", Severity::medium),
                      finding("name.disguised_executable"), finding("name.double_extension")};
  Decision d = policy.decide(objs, facts);
  CHECK(d.action == Action::quarantine);
  REQUIRE(d.reasons.size() == 2);
  // The witness (first listed finding id that matched) first, then the others.
  CHECK(d.reasons[0].rule == "disguised");
  CHECK(d.reasons[0].finding == "name.disguised_executable");
  CHECK(d.reasons[1].rule == "disguised");
  CHECK(d.reasons[1].finding == "name.double_extension");
  // `any` only lists the findings of branches that held.
  std::string pol2 = dir.write(
      "q.yaml",
      "name: q\nprofiles:\n  upload:\n    rules:\n      - name: r\n        when:\n          any:\n"
      "            - all: [{finding: name.padding}, {type: pe}]\n"
      "            - finding: name.double_extension\n        action: quarantine\n");
  LoadResult r2 = load_policy_file(pol2);
  INFO(all_diags(r2));
  REQUIRE(r2.ok());
  objs[0].findings.push_back(finding("name.padding"));
  Decision d2 = YamlPolicy(r2.policy).decide(objs, facts);
  REQUIRE(d2.reasons.size() == 1);
  CHECK(d2.reasons[0].finding == "name.double_extension");
}

TEST_CASE("the shipped policy: YARA rules compile, disguised programs list both findings") {
  LoadResult r = load_policy_file(std::string(SANDGATE_SOURCE_ROOT) + "/policies/default.yaml");
  INFO(all_diags(r));
  REQUIRE(r.ok());
  for (const auto& d : r.diagnostics) CHECK(d.message.find("YARA") == std::string::npos);
  REQUIRE(r.policy->yara_rules);
  auto names = r.policy->yara_rules->rule_names();
  for (const char* want : {"eicar_test_file", "embedded_pe_in_document",
                           "download_and_run_powershell", "download_and_run_lolbin"})
    CHECK(std::find(names.begin(), names.end(), want) != names.end());
  YamlPolicy policy(r.policy);
  for (const char* channel : {"mail", "upload"}) {
    CAPTURE(channel);
    SubmissionFacts facts;
    facts.channel = channel;
    std::vector<Object> objs{obj(0, -1, 0, "offer.zip"),
                             obj(1, 0, 1, "offer.zip/Coinbase_online_careers_2022_07.pdf.exe")};
    objs[0].type.label = "zip";
    objs[1].type.label = "pe";
    objs[1].findings = {finding("type.executable"),
                        finding("name.dangerous_extension", Severity::medium),
                        finding("name.double_extension"), finding("name.disguised_executable")};
    Decision d = policy.decide(objs, facts);
    CHECK(d.action >= Action::quarantine);
    std::vector<std::string> got;
    for (const auto& x : d.reasons) got.push_back(x.finding);
    CHECK(std::find(got.begin(), got.end(), "name.double_extension") != got.end());
    CHECK(std::find(got.begin(), got.end(), "name.disguised_executable") != got.end());

    std::vector<Object> eicar{obj(0, -1, 0, "eicar.txt")};
    eicar[0].type.label = "text";
    eicar[0].findings = {finding("yara.eicar_test_file")};
    Decision e = policy.decide(eicar, facts);
    CHECK(e.action >= Action::quarantine);
    REQUIRE_FALSE(e.reasons.empty());
    CHECK(e.reasons[0].rule == "yara-matches");
    CHECK(e.reasons[0].finding == "yara.eicar_test_file");
  }
}
