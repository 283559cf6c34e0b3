#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "policies/builtin_policy.h"

using namespace sandgate;

static Object object_with(std::string path, std::string id, Severity sev) {
  Object o;
  o.path = std::move(path);
  o.findings.push_back(Finding{std::move(id), sev, "m", ""});
  return o;
}

TEST_CASE("builtin policy passes a tree without deciding findings") {
  BuiltinPolicy p;
  std::vector<Object> objs{object_with("a.zip", "type.extension_mismatch", Severity::medium)};
  auto d = p.decide(objs, SubmissionFacts{});
  CHECK(d.action == Action::pass);
  CHECK(d.verdict_pass());
  CHECK(d.reasons.empty());
  CHECK(d.policy_name == "builtin");
}

TEST_CASE("builtin policy quarantines executables, encryption, limits and errors anywhere") {
  BuiltinPolicy p;
  struct Case {
    const char* id;
    Severity sev;
    const char* rule;
  } cases[] = {
      {"type.executable", Severity::high, "builtin-executables"},
      {"archive.encrypted", Severity::medium, "builtin-encrypted"},
      {"limits.ratio", Severity::medium, "builtin-limits"},
      {"unpack.error", Severity::medium, "builtin-fail-closed"},
      {"unpack.unsupported", Severity::medium, "builtin-fail-closed"},
      {"engine.error", Severity::high, "builtin-fail-closed"},
      {"name.double_extension", Severity::high, "builtin-high-severity"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.id);
    std::vector<Object> objs{Object{}, object_with("x.iso/y.7z/z.zip/Job.pdf.exe", c.id, c.sev)};
    objs[0].path = "x.iso";
    auto d = p.decide(objs, SubmissionFacts{});
    CHECK(d.action == Action::quarantine);
    CHECK_FALSE(d.verdict_pass());
    REQUIRE(d.reasons.size() == 1);
    CHECK(d.reasons[0].rule == c.rule);
    CHECK(d.reasons[0].object == "x.iso/y.7z/z.zip/Job.pdf.exe");
    CHECK(d.reasons[0].finding == c.id);
  }
}
