#include "policies/builtin_policy.h"

#include <string_view>

namespace sandgate {

namespace {

// Which built-in rule a finding falls under, or nullptr when it does not decide.
const char* rule_for(const Finding& f) {
  std::string_view id = f.id;
  if (id == "type.executable") return "builtin-executables";
  if (id == "archive.encrypted" || id == "mime.encrypted") return "builtin-encrypted";
  if (id.starts_with("limits.")) return "builtin-limits";
  if (id == "unpack.error" || id == "unpack.unsupported" || id == "unpack.no_entries" ||
      id == "engine.error" || id == "engine.crash" || id == "engine.timeout" || id == "engine.memory")
    return "builtin-fail-closed";
  if (f.severity >= Severity::high) return "builtin-high-severity";
  return nullptr;
}

}  // namespace

Decision BuiltinPolicy::decide(const std::vector<Object>& objects,
                               const SubmissionFacts& facts) const {
  Decision d;
  d.policy_name = "builtin";
  d.profile = facts.profile.empty() ? facts.channel : facts.profile;
  for (const auto& obj : objects) {
    for (const auto& f : obj.findings) {
      if (const char* rule = rule_for(f)) {
        d.action = Action::quarantine;
        d.reasons.push_back(Reason{rule, obj.path, f.id});
      }
    }
  }
  return d;
}

}  // namespace sandgate
