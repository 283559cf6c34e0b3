// `sandgate policy check` and `sandgate policy explain`: every error of a
// deliberately broken policy with its exact position and exit 1; the shipped
// policy checks clean; the same input explained under two profiles.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gateway/policy_command.h"

#include <doctest/doctest.h>

#include <sstream>

#include "tests/policies/language/test_util.h"

using namespace sandgate;
using namespace sandgate::policy_test;

namespace {

struct Run {
  int rc;
  std::string out, err;
};

Run run(std::vector<std::string> args) {
  std::ostringstream out, err;
  int rc = run_policy_command(args, out, err);
  return {rc, out.str(), err.str()};
}

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) v.push_back(l);
  return v;
}

std::string shipped() { return source_root() + "/policies/default.yaml"; }

}  // namespace

TEST_CASE("check: every error of the broken policy, with its line and column, exit 1") {
  std::string f = test_data_dir() + "/broken.yaml";
  std::string lists = test_data_dir() + "/lists/bad-hashes.txt";
  Run r = run({"check", f});
  CHECK(r.rc == 1);
  const std::vector<std::string> want = {
      f + ":3:10: 'depth' must be a whole number",
      f + ":4:16: 'total_bytes': unknown size unit 'XB' (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
      f + ":5:3: unknown key 'ratioo' in limits; did you mean 'ratio'?",
      f + ":9:11: cannot read list file 'lists/does-not-exist.txt': No such file or directory",
      f + ":11:11: unknown list kind 'sha265'; did you mean 'sha256'? "
          "(kinds: sha256, thumbprint, subject, address, network)",
      f + ":18:15: unknown action 'quarantne'; did you mean 'quarantine'? "
          "(actions: pass, tag, strip, tempfail, quarantine, reject)",
      f + ":21:22: unknown type label 'exe'",
      f + ":25:20: unknown finding id 'type.exectuable'; did you mean 'type.executable'?",
      f + ":29:17: unclosed or empty '[' class in glob '[abc'",
      f + ":31:9: rule needs an 'action'",
      f + ":31:15: duplicate rule name 'r1' in profile 'mail'",
      f + ":32:9: unknown key 'actoin' in rule; did you mean 'action'?",
      f + ":35:26: list 'hashes' is of kind 'sha256' but 'sender' needs a list of kind 'address'",
      f + ":36:17: 'size': unknown size unit 'parsecs' (B, KB, MB, GB, TB, KiB, MiB, GiB, TiB)",
      f + ":37:20: unknown channel 'smtp' (mail, upload)",
      f + ":38:17: unknown action 'hold' (actions: pass, tag, strip, tempfail, quarantine, reject)",
      f + ":42:23: unknown type label 'zipp'; did you mean 'zip'?",
      f + ":43:24: unknown profile 'uploads'",
      lists + ":3:3: 'not-a-hash' is not a SHA-256 (64 hex digits)",
      f + ": 19 error(s)",
  };
  auto got = lines(r.err);
  CAPTURE(r.err);
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i]);
  CHECK(r.out.empty());
}

TEST_CASE("check: the shipped policy and its lists check clean, exit 0") {
  Run r = run({"check", shipped()});
  CAPTURE(r.err);
  CHECK(r.rc == 0);
  CHECK(r.err.empty());  // not even a warning
  CHECK(r.out.find("ok: policy 'default'") != std::string::npos);
  CHECK(r.out.find("mail (") != std::string::npos);
  CHECK(r.out.find("upload (") != std::string::npos);
}

TEST_CASE("check: several files, syntax errors, usage") {
  TempDir dir;
  std::string bad = dir.write("bad.yaml", "name: x\nprofiles:\n  mail: [\n");
  Run r = run({"check", shipped(), bad});
  CHECK(r.rc == 1);
  CHECK(r.out.find("ok: policy 'default'") != std::string::npos);
  CHECK(r.err.find(bad + ":") != std::string::npos);
  CHECK(r.err.find("YAML syntax error") != std::string::npos);
  CHECK(run({"check"}).rc == 2);
  CHECK(run({}).rc == 2);
  CHECK(run({"frobnicate"}).rc == 2);
  CHECK(run({"check", dir.file("missing.yaml")}).rc == 1);
  // A glob matching no known finding is a warning, not an error.
  std::string warn = dir.write("warn.yaml",
                               "name: w\nprofiles:\n  mail:\n    rules:\n"
                               "      - {name: m, when: {finding: 'nosuch.family.*'}, action: tag}\n");
  r = run({"check", warn});
  CHECK(r.rc == 0);
  CHECK(r.err == warn +
                     ":5:35: warning: finding pattern 'nosuch.family.*' matches no finding id "
                     "known to this build\n");
}

TEST_CASE("load_policy_for_cli returns a policy, or null with the errors printed") {
  std::ostringstream err;
  auto p = load_policy_for_cli(shipped(), err);
  REQUIRE(p);
  CHECK(err.str().empty());
  SubmissionFacts upload;
  CHECK(p->limits_for(upload).max_object_bytes == 50ull << 20);
  auto q = load_policy_for_cli(test_data_dir() + "/broken.yaml", err);
  CHECK_FALSE(q);
  CHECK(err.str().find("broken.yaml:18:15: unknown action 'quarantne'") != std::string::npos);
}

TEST_CASE("explain: a zip of PDFs passes in mail and is quarantined in upload") {
  std::string zip = test_data_dir() + "/cv-pdfs.zip";
  Run mail = run({"explain", "--policy", shipped(), "--profile", "mail", zip});
  CAPTURE(mail.out);
  CAPTURE(mail.err);
  REQUIRE(mail.rc == 0);
  CHECK(mail.out.find("profile mail") != std::string::npos);
  CHECK(mail.out.find("rule 'deliver-scanned'") != std::string::npos);
  CHECK(mail.out.find("MATCH on depth=0 -> pass  [decides]") != std::string::npos);
  CHECK(mail.out.find("rule 'executables-and-scripts' (line ") != std::string::npos);
  CHECK(mail.out.find("decision: pass (verdict pass)") != std::string::npos);

  Run upload = run({"explain", "--policy", shipped(), "--profile", "upload", zip});
  CAPTURE(upload.out);
  REQUIRE(upload.rc == 0);
  CHECK(upload.out.find("decision: quarantine (verdict quarantine)") != std::string::npos);
  CHECK(upload.out.find("no rule matched: profile default -> quarantine") != std::string::npos);
  CHECK(upload.out.find("reason: rule 'default', object 'cv-pdfs.zip'") != std::string::npos);

  // A single PDF is an accepted CV format.
  Run cv =
      run({"explain", "--policy", shipped(), "--profile", "upload", test_data_dir() + "/cv.pdf"});
  CAPTURE(cv.out);
  CHECK(cv.out.find("rule 'accepted-cv-formats'") != std::string::npos);
  CHECK(cv.out.find("decision: pass (verdict pass)") != std::string::npos);
}

TEST_CASE("explain: usage and policy errors") {
  CHECK(run({"explain", "--policy"}).rc == 2);
  CHECK(run({"explain", "--policy", shipped()}).rc == 2);  // no input
  CHECK(run({"explain", "--bogus", "x"}).rc == 2);
  CHECK(run({"explain", "--policy", shipped(), "--profile", "nope", shipped()}).rc == 2);
  CHECK(run({"explain", "--policy", test_data_dir() + "/broken.yaml", shipped()}).rc == 1);
  CHECK(run({"explain", "--policy", shipped(), "/nonexistent/input"}).rc == 2);
}
