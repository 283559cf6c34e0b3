// YamlPolicy: runs a compiled policy over an object tree (see yaml_policy.h
// for the semantics).
#include "policies/language/yaml_policy.h"

namespace sandgate::policy_lang {

bool is_engine_error_finding(std::string_view id) {
  return id == "engine.error" || id == "unpack.error" || id == "unpack.unsupported" || id == "engine.crash" || id == "engine.timeout" || id == "engine.memory";
}

namespace {

bool is_limit_finding(std::string_view id) { return id.substr(0, 7) == "limits."; }

struct Candidate {
  Action action;
  Reason reason;
};

// A hash list decided: the reason names the list's role, not the hash (the
// object's sha256 is in the report). Allow lists are the rules whose action
// is pass.
bool is_hash_witness(std::string_view witness) { return witness.substr(0, 7) == "sha256="; }

// True when a signer identity condition (thumbprint or subject, from a list
// or a pattern) holds on a holding path of c: every child of an `all`, the
// children of an `any` that hold, nothing under a `not` (a rule "not signed
// by a trusted signer" is not decided by who signed). Such a rule is decided
// by the signer, and its reason says so (signer.blocked / signer.allowed).
// REQUIRES: evaluate(c, ctx) is true.
bool signer_identity_matched(const Condition& c, const EvalContext& ctx) {
  using K = Condition::Kind;
  switch (c.kind) {
    case K::all:
      for (const auto& ch : c.children)
        if (signer_identity_matched(ch, ctx)) return true;
      return false;
    case K::any:
      for (const auto& ch : c.children)
        if (evaluate(ch, ctx, nullptr) && signer_identity_matched(ch, ctx)) return true;
      return false;
    case K::signer_subject:
    case K::signer_thumbprint:
      return evaluate(c, ctx, nullptr);
    default:
      return false;
  }
}

// The reasons of a deciding rule. A rule that matched on several findings of
// the object gets one reason per finding (Job.pdf.exe: name.double_extension
// and name.disguised_executable), the witness first; otherwise one reason.
// Pass decisions are recorded only when a hash or signer allow list made them.
void add_rule_reasons(const Rule& rule, const EvalContext& ctx, const std::string& witness,
                      std::vector<Candidate>& out) {
  const Action act = rule.action;
  const std::string& path = ctx.object.path;
  if (is_hash_witness(witness)) {
    out.push_back({act, {rule.name, path, act == Action::pass ? "hash.allowed" : "hash.blocked"}});
    return;
  }
  std::vector<std::string> ids;
  if (signer_identity_matched(rule.when, ctx)) {
    // The signer list's role, not the thumbprint (the object's signer facts
    // are in the report); findings the rule also required follow it.
    if (act == Action::pass) {
      out.push_back({act, {rule.name, path, "signer.allowed"}});
      return;
    }
    out.push_back({act, {rule.name, path, "signer.blocked"}});
    matched_findings(rule.when, ctx, &ids);
    for (auto& id : ids) out.push_back({act, {rule.name, path, std::move(id)}});
    return;
  }
  if (act == Action::pass) return;
  matched_findings(rule.when, ctx, &ids);
  if (ids.size() <= 1) {
    out.push_back({act, {rule.name, path, witness}});
    return;
  }
  out.push_back({act, {rule.name, path, witness}});
  for (auto& id : ids)
    if (id != witness) out.push_back({act, {rule.name, path, std::move(id)}});
}

}  // namespace

YamlPolicy::YamlPolicy(std::shared_ptr<const CompiledPolicy> compiled)
    : compiled_(std::move(compiled)) {}

const Profile* YamlPolicy::profile_for(const SubmissionFacts& facts) const {
  return compiled_->find_profile(facts.profile.empty() ? facts.channel : facts.profile);
}

Limits YamlPolicy::limits_for(const SubmissionFacts& facts) const {
  const Profile* p = profile_for(facts);
  return p ? p->limits : compiled_->limits;
}

Decision YamlPolicy::decide(const std::vector<Object>& objects,
                            const SubmissionFacts& facts) const {
  return run(objects, facts, nullptr);
}

Explanation YamlPolicy::explain(const std::vector<Object>& objects,
                                const SubmissionFacts& facts) const {
  Explanation e;
  e.decision = run(objects, facts, &e);
  return e;
}

Decision YamlPolicy::run(const std::vector<Object>& objects, const SubmissionFacts& facts,
                         Explanation* trace) const {
  Decision d;
  d.policy_name = compiled_->name;
  d.policy_sha256 = compiled_->sha256;
  const std::string& profile_name = facts.profile.empty() ? facts.channel : facts.profile;
  d.profile = profile_name;
  if (trace) trace->profile = profile_name;
  const Profile* profile = compiled_->find_profile(profile_name);
  if (!profile) {
    // Fail closed on a configuration mistake: mail is retried once fixed.
    d.action = facts.channel == "mail" ? Action::tempfail : Action::quarantine;
    d.reasons.push_back({"policy", objects.empty() ? std::string() : objects[0].path,
                         "profile.unknown=" + profile_name});
    return d;
  }
  if (trace) trace->profile_found = true;
  if (objects.empty()) {
    // No root object means the engine failed before it could look at anything.
    d.action = profile->on_error;
    d.reasons.push_back({"on_error", std::string(), "engine.error"});
    return d;
  }

  std::vector<Candidate> candidates;
  std::string witness;
  for (const Object& obj : objects) {
    EvalContext ctx{objects, obj, facts, profile_name};
    ObjectTrace* ot = nullptr;
    if (trace) {
      trace->objects.emplace_back();
      ot = &trace->objects.back();
      ot->index = obj.index;
    }
    Action act = profile->default_action;
    bool decided = false;
    for (const Rule& rule : profile->rules) {
      bool m = evaluate(rule.when, ctx, &witness);
      if (ot) ot->rules.push_back({&rule, m, m ? witness : std::string()});
      if (!m) continue;
      act = rule.action;
      decided = true;
      if (ot) ot->deciding_rule = static_cast<int>(ot->rules.size()) - 1;
      add_rule_reasons(rule, ctx, witness, candidates);
      break;
    }
    if (!decided && act != Action::pass)
      candidates.push_back({act, {"default", obj.path, "type=" + obj.type.label}});
    if (ot) ot->rule_action = act;

    // Fail closed: errors and limit hits are never allowed through by rules.
    for (const Finding& f : obj.findings) {
      if (is_engine_error_finding(f.id)) {
        if (profile->on_error != Action::pass)
          candidates.push_back({profile->on_error, {"on_error", obj.path, f.id}});
        if (profile->on_error > act) act = profile->on_error;
        if (ot && ot->on_error_finding.empty()) ot->on_error_finding = f.id;
        break;
      }
    }
    for (const Finding& f : obj.findings) {
      if (is_limit_finding(f.id)) {
        if (profile->on_limit != Action::pass)
          candidates.push_back({profile->on_limit, {"on_limit", obj.path, f.id}});
        if (profile->on_limit > act) act = profile->on_limit;
        if (ot && ot->on_limit_finding.empty()) ot->on_limit_finding = f.id;
        break;
      }
    }
    if (ot) ot->action = act;
    if (act > d.action) d.action = act;
  }
  // (A pass keeps only the hash and signer allow-list reasons: why a listed
  // file went through.)
  for (auto& c : candidates)
    if (c.action == d.action) d.reasons.push_back(std::move(c.reason));
  return d;
}

}  // namespace sandgate::policy_lang
