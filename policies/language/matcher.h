// Matcher: compiled conditions of the policy language and their evaluation
// against one object of a submission's tree plus the submission's facts.
//
// Guarantees: evaluation never allocates except to write the witness of a
// match (the finding id or fact that matched, for the report's reasons); globs
// are compiled once and match in O(pattern * text) worst case without
// recursion; list lookups are hash-set lookups. Thread-safe: conditions are
// immutable after compilation.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "policies/policy.h"
#include "unpack/ascii.h"
#include "unpack/finding.h"
#include "unpack/object.h"

namespace sandgate::policy_lang {

// A shell-style glob: `*` any run, `?` one character, `[abc]`, `[a-z]`,
// `[!a-z]` classes, `\x` a literal x. Optionally case-insensitive (ASCII).
class Glob {
 public:
  // Returns nullopt and sets *error for a malformed pattern (unclosed class,
  // trailing backslash, empty class).
  static std::optional<Glob> compile(std::string_view pattern, bool case_insensitive,
                                     std::string* error);
  bool match(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }
  // True when the pattern has no wildcard: it matches exactly one string.
  bool is_literal() const { return literal_; }

 private:
  struct Token {
    enum Kind : uint8_t { literal, any_one, any_run, klass } kind;
    char ch = 0;
    bool negated = false;
    std::array<uint64_t, 4> set{};  // 256-bit class membership
  };
  bool token_matches(const Token& t, unsigned char c) const;

  std::string pattern_;
  std::vector<Token> tokens_;
  bool icase_ = false;
  bool literal_ = true;
};

// Transparent hashing, so lookups by string_view do not allocate.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringHashSet = std::unordered_set<std::string, StringHash, std::equal_to<>>;

// Exact strings, compared after ASCII lowercasing (hashes, thumbprints,
// subjects, labels).
struct StringSet {
  StringHashSet values;
  bool contains_lower(std::string_view lowered) const;
  // Lowercases `v` (without allocating when short) and looks it up.
  bool contains(std::string_view v) const;
};

// Mail addresses and domains. An entry with '@' matches that address; an
// entry without matches the domain and every subdomain of it.
struct AddressSet {
  StringHashSet addresses;
  StringHashSet domains;
  bool matches(std::string_view address) const;  // case-insensitive
};

// IPv4 and IPv6 networks in CIDR notation.
struct Cidr {
  std::array<uint8_t, 16> addr{};  // IPv4 stored as ::ffff:a.b.c.d
  int prefix = 0;                  // over the 128-bit form
};
struct NetworkSet {
  std::vector<Cidr> networks;
  bool contains(std::string_view ip) const;
};
// Parses "10.0.0.0/8", "2001:db8::/32" or a bare address (full prefix).
std::optional<Cidr> parse_cidr(std::string_view text);
std::optional<std::array<uint8_t, 16>> parse_ip(std::string_view text);

enum class CmpOp { lt, le, gt, ge, eq, ne };
struct Comparison {
  CmpOp op = CmpOp::eq;
  uint64_t value = 0;
  bool test(uint64_t v) const;
};

struct Condition {
  enum class Kind {
    always,
    all,
    any,
    not_,
    // over the object
    type,               // labels
    mime,               // globs
    extension,          // extensions (lowercase, no leading dot)
    name,               // globs over the object's name
    size,               // cmp
    depth,              // cmp
    inside,             // labels: any ancestor's type label
    finding,            // globs over finding ids, min_severity
    fact,               // key, globs over the value (none: present)
    encrypted,          // flag
    sha256,             // strings
    signer_subject,     // globs or strings (list)
    signer_thumbprint,  // strings
    signer_valid,       // flag
    signed_,            // flag: a signer fact is present
    // over the submission
    channel,    // labels
    profile,    // labels
    sender,     // addresses
    recipient,  // addresses: any recipient
    client,     // networks
  };
  Kind kind = Kind::always;
  std::vector<Condition> children;
  std::vector<std::string> labels;
  std::vector<Glob> globs;
  Comparison cmp;
  Severity min_severity = Severity::info;
  bool flag = true;
  std::string key;
  std::shared_ptr<const StringSet> strings;
  std::shared_ptr<const AddressSet> addresses;
  std::shared_ptr<const NetworkSet> networks;
  // Short source text for explain output, e.g. "type in [pe, elf]".
  std::string text;
};

// What a condition is evaluated against.
struct EvalContext {
  const std::vector<Object>& objects;  // the whole tree, pre-order
  const Object& object;
  const SubmissionFacts& facts;
  std::string_view profile;  // the profile in use
};

// True when the condition holds; on a match *witness (if not null) is set to
// the finding id or "fact=value" that made it hold.
bool evaluate(const Condition& c, const EvalContext& ctx, std::string* witness);

// Appends to *ids every finding id of the object that a `finding` condition
// on a holding path of c matches: every child of an `all`, the children of an
// `any` that hold, nothing under a `not`. Distinct ids, in the order found.
// REQUIRES: evaluate(c, ctx) is true. For reasons that name every finding a
// deciding rule matched on, not only the first.
void matched_findings(const Condition& c, const EvalContext& ctx, std::vector<std::string>* ids);

// The object's own name: Object::name, else the last component of its path
// (shared with the loader).
std::string_view object_name(const Object& obj);

}  // namespace sandgate::policy_lang
