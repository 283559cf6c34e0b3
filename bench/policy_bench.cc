// policy_bench: how many objects per second the compiled shipped policy
// decides, for the mail and upload profiles, over a synthetic tree that mixes
// clean leaves, archives, executables and findings (so rules are tried deep
// into each profile). Prints the median of several runs.
//
// usage: policy_bench [POLICY.yaml] [RUNS]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"

using namespace sandgate;
using namespace sandgate::policy_lang;

namespace {

std::vector<Object> make_tree(size_t n) {
  static const char* labels[] = {"pdf", "png", "xml", "text", "zip", "ooxml", "jpeg", "data"};
  std::vector<Object> v;
  Object root;
  root.path = "mail.eml";
  root.type.label = "eml";
  root.type.mime = "message/rfc822";
  v.push_back(root);
  for (size_t i = 1; i < n; ++i) {
    Object o;
    o.index = static_cast<int>(i);
    o.parent = static_cast<int>(i < 8 ? 0 : (i / 8));
    o.depth = v[static_cast<size_t>(o.parent)].depth + 1;
    o.name = "file" + std::to_string(i) + ".bin";
    o.path = v[static_cast<size_t>(o.parent)].path + "/" + o.name;
    o.type.label = labels[i % 8];
    o.type.mime = "application/x-" + o.type.label;
    o.size = 1000 + i;
    o.sha256 = std::string(64, "0123456789abcdef"[i % 16]);
    if (i % 50 == 0) o.findings.push_back({"type.extension_mismatch", Severity::medium, "", ""});
    if (i % 97 == 0) {
      o.type.label = "pe";
      o.findings.push_back({"type.executable", Severity::high, "", ""});
    }
    v.push_back(std::move(o));
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  std::string path =
      argc > 1 ? argv[1] : std::string(SANDGATE_SOURCE_ROOT) + "/policies/default.yaml";
  int runs = argc > 2 ? std::max(1, std::atoi(argv[2])) : 7;
  LoadResult r = load_policy_file(path);
  if (!r.ok()) {
    for (const auto& d : r.diagnostics) std::fprintf(stderr, "%s\n", d.format().c_str());
    return 1;
  }
  YamlPolicy policy(r.policy);
  std::vector<Object> tree = make_tree(1000);
  for (const char* profile : {"mail", "upload"}) {
    SubmissionFacts facts;
    facts.channel = profile;
    facts.sender = "someone@outside.example";
    std::vector<double> rates;
    int actions = 0;
    for (int run = 0; run < runs; ++run) {
      const int reps = 200;
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < reps; ++i) actions += static_cast<int>(policy.decide(tree, facts).action);
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      rates.push_back(static_cast<double>(reps) * static_cast<double>(tree.size()) / s);
    }
    std::sort(rates.begin(), rates.end());
    double median = rates[rates.size() / 2];
    std::printf(
        "profile %-6s  %.2f M objects/s  (%.3f us/object, median of %d runs, checksum %d)\n",
        profile, median / 1e6, 1e6 / median, runs, actions);
  }
  return 0;
}
