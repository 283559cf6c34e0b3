#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

#include "gateway/report_json.h"

using namespace sandgate;

TEST_CASE("strings are escaped and invalid UTF-8 is replaced") {
  std::string out;
  append_json_string(out, std::string("a\"b\\c\n\x01", 7));
  CHECK(out == "\"a\\\"b\\\\c\\n\\u0001\"" );
  out.clear();
  append_json_string(out, "caf\xc3\xa9 \xff\xfe \xe2\x80\xae");
  CHECK(out == "\"caf\xc3\xa9 \\ufffd\\ufffd \xe2\x80\xae\"");
  out.clear();
  append_json_string(out, "\xed\xa0\x80");  // a UTF-16 surrogate encoded in UTF-8 is invalid
  CHECK(out == "\"\\ufffd\\ufffd\\ufffd\"");
}

TEST_CASE("the report has the contract's fields and parses as JSON") {
  Report r;
  r.id = "0d7a0c5e-1111-4222-8333-444455556666";
  r.decision.action = Action::quarantine;
  r.decision.reasons.push_back({"builtin-executables", "o.zip/Job.pdf.exe", "type.executable"});
  r.decision.policy_name = "builtin";
  r.decision.profile = "upload";
  Object root;
  root.path = "o.zip";
  root.size = 10;
  root.type = {"application/zip", "zip"};
  Object exe;
  exe.path = "o.zip/Job.pdf.exe";
  exe.name = "Job.pdf.exe\xff";
  exe.depth = 1;
  exe.type = {"application/vnd.microsoft.portable-executable", "pe"};
  exe.findings.push_back({"type.executable", Severity::high, "content is pe", ""});
  r.objects = {root, exe};
  r.limits_hit = {"limits.ratio"};
  r.duration_ms = 1.5;
  std::string json = report_to_json(r);
  CHECK(json.find('\n') == std::string::npos);
  Poco::JSON::Parser parser;
  auto obj = parser.parse(json).extract<Poco::JSON::Object::Ptr>();
  CHECK(obj->getValue<std::string>("verdict") == "quarantine");
  CHECK(obj->getValue<std::string>("action") == "quarantine");
  auto reasons = obj->getArray("reasons");
  REQUIRE(reasons->size() == 1);
  CHECK(reasons->getObject(0)->getValue<std::string>("object") == "o.zip/Job.pdf.exe");
  auto objects = obj->getArray("objects");
  REQUIRE(objects->size() == 2);
  auto o1 = objects->getObject(1);
  CHECK(o1->getValue<int>("depth") == 1);
  CHECK(o1->getObject("type")->getValue<std::string>("label") == "pe");
  CHECK(o1->getArray("findings")->getObject(0)->getValue<std::string>("severity") == "high");
  CHECK(obj->getObject("limits")->getArray("hit")->getElement<std::string>(0) == "limits.ratio");
  CHECK(obj->getObject("policy")->getValue<std::string>("profile") == "upload");
  CHECK(obj->getValue<double>("duration_ms") == doctest::Approx(1.5));

  r.decision.action = Action::tag;
  auto tagged = parser.parse(report_to_json(r)).extract<Poco::JSON::Object::Ptr>();
  CHECK(tagged->getValue<std::string>("verdict") == "pass");
}
