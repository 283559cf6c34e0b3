// YamlPolicy: the sandgate::Policy implemented by a compiled YAML policy, plus
// the explain API (`sandgate policy explain`): per object, every rule tried,
// whether it matched and on what, and which one decided.
//
// Semantics (issue 3):
// - The profile is SubmissionFacts::profile when set, else the profile named
//   like the channel ("mail", "upload"). A missing profile fails closed:
//   tempfail for mail, quarantine otherwise, reason rule "policy".
// - Per object the first matching rule decides; `pass` ends evaluation of
//   that object (allow-list). No match: the profile's `default` (pass unless
//   set).
// - Fail closed: an object carrying an engine error finding (engine.error,
//   unpack.error, unpack.unsupported) gets at least the profile's on_error
//   action, and one carrying a limits.* finding at least its on_limit action,
//   whatever the rules said, allow-list rules included.
// - The submission's action is the most severe over objects (Action order);
//   the reasons are those of the objects that reached that action. A rule
//   that matched on several findings of an object gives one reason per
//   finding; a rule decided by a sha256 list gives the finding "hash.blocked"
//   (or "hash.allowed" for a pass rule), and one decided by a signer
//   identity (a `signer` thumbprint or subject condition, list or pattern)
//   gives "signer.blocked" (followed by any findings the rule also matched)
//   or "signer.allowed" for a pass rule. A pass decision carries only the
//   *.allowed reasons.
// Thread-safe: immutable after construction.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "policies/language/policy_model.h"
#include "policies/policy.h"

namespace sandgate::policy_lang {

struct RuleTrace {
  const Rule* rule = nullptr;
  bool matched = false;
  std::string witness;  // what matched, when matched
};

struct ObjectTrace {
  int index = 0;
  std::vector<RuleTrace> rules;       // every rule tried, in order, up to the deciding one
  int deciding_rule = -1;             // index into rules, -1: none matched (profile default)
  Action rule_action = Action::pass;  // from the deciding rule or the default
  Action action = Action::pass;       // after on_error / on_limit
  std::string on_error_finding;       // set when on_error applied
  std::string on_limit_finding;       // set when on_limit applied
};

struct Explanation {
  std::string profile;
  bool profile_found = false;
  std::vector<ObjectTrace> objects;
  Decision decision;
};

class YamlPolicy : public Policy {
 public:
  explicit YamlPolicy(std::shared_ptr<const CompiledPolicy> compiled);

  Limits limits_for(const SubmissionFacts& facts) const override;
  Decision decide(const std::vector<Object>& objects, const SubmissionFacts& facts) const override;
  Explanation explain(const std::vector<Object>& objects, const SubmissionFacts& facts) const;

  const CompiledPolicy& compiled() const { return *compiled_; }
  // The profile used for these facts (see above), or null.
  const Profile* profile_for(const SubmissionFacts& facts) const;

 private:
  Decision run(const std::vector<Object>& objects, const SubmissionFacts& facts,
               Explanation* trace) const;

  std::shared_ptr<const CompiledPolicy> compiled_;
};

// True for the finding ids that mean the engine could not look at an object.
bool is_engine_error_finding(std::string_view id);

}  // namespace sandgate::policy_lang
