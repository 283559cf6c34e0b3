// Names of the policy actions.
#include "policies/policy.h"

namespace sandgate {

std::string_view action_name(Action a) {
  switch (a) {
    case Action::pass: return "pass";
    case Action::tag: return "tag";
    case Action::strip: return "strip";
    case Action::tempfail: return "tempfail";
    case Action::quarantine: return "quarantine";
    case Action::reject: return "reject";
  }
  return "quarantine";
}

}  // namespace sandgate
