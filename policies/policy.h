// Policy: turns an unpacked, analysed object tree plus the submission's facts
// into one Decision. The engine only talks to this interface; the built-in
// default (builtin_policy.h) and the YAML policy language implement it.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/limits.h"
#include "unpack/object.h"

namespace sandgate {

// Facts about how the content arrived, for conditions over the submission.
struct SubmissionFacts {
  std::string channel = "upload";  // "mail" or "upload"
  std::string profile;             // empty: the policy's default for the channel
  std::string sender;              // envelope sender (mail)
  std::vector<std::string> recipients;
  std::string client_address;      // peer IP address
  std::string file_name;           // name given by the client, if any
  std::string declared_mime;       // Content-Type given by the client, if any
};

// Ordered by severity: the submission's action is the maximum over objects.
enum class Action { pass = 0, tag = 1, strip = 2, tempfail = 3, quarantine = 4, reject = 5 };

std::string_view action_name(Action a);
// True when the action delivers the content unchanged (pass) or only tagged.
inline bool action_delivers(Action a) { return a == Action::pass || a == Action::tag; }

struct Reason {
  std::string rule;     // the rule that decided
  std::string object;   // Object::path
  std::string finding;  // the finding id or fact that matched
};

struct Decision {
  Action action = Action::pass;
  std::vector<Reason> reasons;
  std::string policy_name;
  std::string profile;
  std::string policy_sha256;
  bool verdict_pass() const { return action_delivers(action); }
};

class Policy {
 public:
  virtual ~Policy() = default;
  // The limits the scan of a submission with these facts runs under.
  virtual Limits limits_for(const SubmissionFacts& facts) const = 0;
  // REQUIRES: objects is the whole tree in pre-order, as the engine built it.
  virtual Decision decide(const std::vector<Object>& objects,
                          const SubmissionFacts& facts) const = 0;
};

}  // namespace sandgate
