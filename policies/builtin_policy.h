// The built-in default policy, used when no policy file is given. It is the one
// place where the engine's fallback decision lives: quarantine any executable,
// any encrypted content, any limit hit and any engine error anywhere in the
// tree, and anything else rated high or critical; pass the rest.
#pragma once

#include "policies/policy.h"

namespace sandgate {

class BuiltinPolicy final : public Policy {
 public:
  explicit BuiltinPolicy(Limits limits = {}) : limits_(limits) {}
  Limits limits_for(const SubmissionFacts&) const override { return limits_; }
  Decision decide(const std::vector<Object>& objects, const SubmissionFacts& facts) const override;

 private:
  Limits limits_;
};

}  // namespace sandgate
