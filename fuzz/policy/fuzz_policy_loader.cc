// Fuzz target: the policy loader on arbitrary YAML text (includes resolve
// against a directory that does not exist), then, when the text compiles, a
// decision over a small fixed tree. The loader must never crash, hang or
// throw, whatever the text.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace sandgate;
  using namespace sandgate::policy_lang;
  if (size > 64 * 1024) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  LoadResult r = load_policy_text(text, "fuzz.yaml", "/nonexistent-sandgate-fuzz");
  if (!r.ok()) return 0;
  YamlPolicy policy(r.policy);
  std::vector<Object> objects(3);
  objects[0].path = "m.eml";
  objects[0].type.label = "eml";
  objects[1].index = 1;
  objects[1].parent = 0;
  objects[1].depth = 1;
  objects[1].path = "m.eml/a.zip";
  objects[1].type.label = "zip";
  objects[1].encrypted = true;
  objects[2].index = 2;
  objects[2].parent = 1;
  objects[2].depth = 2;
  objects[2].path = "m.eml/a.zip/x.pdf.exe";
  objects[2].type.label = "pe";
  objects[2].sha256 = std::string(64, 'a');
  objects[2].findings.push_back({"type.executable", Severity::high, "", ""});
  objects[2].facts["signer.subject"] = "CN=x";
  for (const char* channel : {"mail", "upload"}) {
    SubmissionFacts facts;
    facts.channel = channel;
    facts.sender = "a@b.example";
    facts.recipients = {"c@d.example"};
    facts.client_address = "10.0.0.1";
    (void)policy.decide(objects, facts);
    (void)policy.explain(objects, facts);
    (void)policy.limits_for(facts);
  }
  return 0;
}
