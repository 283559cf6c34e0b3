// The compiled form of a YAML policy: what the loader produces and the matcher
// runs. Everything that costs time (globs, list files, CIDRs, label sets) is
// parsed once per load, so matching one object is a walk over small vectors
// and hash-set lookups. A CompiledPolicy is immutable once built and is shared
// by every scan that started on it (see policy_store.h).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

#include "analyzers/yara/yara_rules.h"
#include "policies/language/matcher.h"
#include "policies/policy.h"
#include "unpack/finding.h"
#include "unpack/limits.h"

namespace sandgate::policy_lang {

// What a named list holds; a condition may only use a list of its own kind.
enum class ListKind { sha256, thumbprint, subject, address, network };

struct NamedList {
  std::string name;
  ListKind kind = ListKind::sha256;
  std::shared_ptr<const StringSet> strings;     // sha256, thumbprint, subject
  std::shared_ptr<const AddressSet> addresses;  // address
  std::shared_ptr<const NetworkSet> networks;   // network
};

struct Rule {
  std::string name;
  Condition when;  // Kind::always when the rule has no `when`
  Action action = Action::pass;
  int line = 0;  // 1-based line of the rule in the policy file, for explain
};

struct Profile {
  std::string name;
  Action on_error = Action::quarantine;  // engine.error / unpack.error / unpack.unsupported
  Action on_limit = Action::quarantine;  // any limits.* finding
  Action default_action = Action::pass;  // when no rule matches an object
  Limits limits;
  std::vector<Rule> rules;
};

// The `codesign` section: the anchors code-signing chains (Authenticode,
// Mach-O) must reach. The policy library only reads and checks them; the
// engine hands them to the analyzers' trust store for each scan on this
// policy (analyzers/pe/code_signing.h), so neither library links the other.
struct CodesignTrustConfig {
  bool system_bundle = true;              // /etc/ssl/certs/ca-certificates.crt
  std::vector<std::string> anchor_files;  // resolved paths, in file order
  std::vector<std::string> anchor_pems;   // their PEM text, read and checked at load
};

struct CompiledPolicy {
  std::string name;
  std::string source_path;                  // the policy file as given
  std::string sha256;                       // see policy_loader.h for what is hashed
  std::vector<std::string> included_files;  // list and YARA files, resolved paths
  std::vector<std::string> yara_files;      // resolved YARA rule files, in order
  // yara_files compiled at load; null when the policy names no YARA files.
  // The engine makes them current for each scan on this policy.
  std::shared_ptr<const YaraRules> yara_rules;
  // Unset when the policy has no `codesign` section: the trust store is then
  // configured from the environment (SANDGATE_CODESIGN_ANCHORS).
  std::optional<CodesignTrustConfig> codesign;
  Limits limits;                            // top-level limits
  std::map<std::string, NamedList> lists;
  std::vector<Profile> profiles;  // in file order

  const Profile* find_profile(std::string_view name) const {
    for (const auto& p : profiles)
      if (p.name == name) return &p;
    return nullptr;
  }
};

}  // namespace sandgate::policy_lang
