// What every quarantine backend shares: state names, ids, the JSON views of
// items and audit records, and the filter / state-machine helpers of
// store_util.h. Nothing here touches storage.
#include "gateway/quarantine/store.h"

#include <Poco/Data/RecordSet.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <openssl/rand.h>

#include <algorithm>
#include <chrono>

#include "gateway/quarantine/store_util.h"
#include "gateway/report_json.h"
#include "unpack/hex.h"

namespace sandgate {

namespace quarantine_detail {

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

bool new_quarantine_id(std::string* id) {
  unsigned char rnd[16];
  if (RAND_bytes(rnd, sizeof rnd) != 1) return false;
  *id = hex_lower(rnd, sizeof rnd);
  return true;
}

std::string encode_list(const std::vector<std::string>& v) {
  std::string out = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ",";
    append_json_string(out, v[i]);
  }
  return out + "]";
}

std::vector<std::string> decode_list(const std::string& text) {
  std::vector<std::string> out;
  try {
    Poco::JSON::Parser parser;
    auto arr = parser.parse(text).extract<Poco::JSON::Array::Ptr>();
    for (size_t i = 0; arr && i < arr->size(); ++i) out.push_back(arr->getElement<std::string>(i));
  } catch (...) {
    out.clear();
  }
  return out;
}

namespace {

std::string lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return s;
}

bool contains_ci(const std::string& hay, const std::string& needle) {
  return lower(hay).find(lower(needle)) != std::string::npos;
}

}  // namespace

bool matches_text_filters(const QuarantineFilter& f, const QuarantineItem& it) {
  if (!f.sender.empty() && !contains_ci(it.sender, f.sender)) return false;
  if (!f.recipient.empty() &&
      std::none_of(it.recipients.begin(), it.recipients.end(),
                   [&](const std::string& r) { return contains_ci(r, f.recipient); }))
    return false;
  if (!f.reason.empty() &&
      std::none_of(it.reasons.begin(), it.reasons.end(),
                   [&](const std::string& r) { return r.find(f.reason) != std::string::npos; }))
    return false;
  return true;
}

QuarantineItem item_from_row(Poco::Data::RecordSet& rs) {
  QuarantineItem it;
  it.id = rs["id"].convert<std::string>();
  it.created_unix_ms = rs["created_ms"].convert<Poco::Int64>();
  it.channel = rs["channel"].convert<std::string>();
  it.profile = rs["profile"].convert<std::string>();
  it.policy_sha256 = rs["policy_sha256"].convert<std::string>();
  it.sender = rs["sender"].convert<std::string>();
  it.recipients = decode_list(rs["recipients"].convert<std::string>());
  it.client_address = rs["client_address"].convert<std::string>();
  it.subject = rs["subject"].convert<std::string>();
  it.file_names = decode_list(rs["file_names"].convert<std::string>());
  it.size = static_cast<uint64_t>(rs["size"].convert<Poco::Int64>());
  it.verdict = rs["verdict"].convert<std::string>();
  it.action = rs["action"].convert<std::string>();
  it.reasons = decode_list(rs["reasons"].convert<std::string>());
  it.report_json = rs["report_json"].convert<std::string>();
  it.state =
      parse_quarantine_state(rs["state"].convert<std::string>()).value_or(QuarantineState::held);
  return it;
}

bool transition_allowed(QuarantineState from, QuarantineState to) {
  return (from == QuarantineState::held && to != QuarantineState::held) ||
         (from == QuarantineState::released && to == QuarantineState::deleted);
}

}  // namespace quarantine_detail

const char* quarantine_state_name(QuarantineState state) {
  switch (state) {
    case QuarantineState::held:
      return "held";
    case QuarantineState::released:
      return "released";
    case QuarantineState::deleted:
      return "deleted";
  }
  return "held";
}

std::string store_error_no_item(const std::string& id) { return "no quarantined item '" + id + "'"; }

std::string store_error_deleted(const std::string& id) { return "item " + id + " is deleted"; }

std::string store_error_transition(const std::string& id, const std::string& from,
                                   const std::string& to) {
  return "item " + id + " is " + from + ", cannot become " + to;
}

StoreFailure classify_store_error(const std::string& error) {
  // Ids are tokens (no spaces, quotes or commas), so the forms cannot blur.
  auto token = [](std::string_view s) {
    return !s.empty() && s.find_first_of(" ',") == std::string_view::npos;
  };
  std::string_view e = error;
  if (e.starts_with("no quarantined item '") && e.ends_with("'") && e.size() > 22 &&
      token(e.substr(21, e.size() - 22)))
    return StoreFailure::no_item;
  if (!e.starts_with("item ")) return StoreFailure::unavailable;
  e.remove_prefix(5);
  size_t sp = e.find(' ');
  if (sp == std::string_view::npos || !token(e.substr(0, sp))) return StoreFailure::unavailable;
  std::string_view rest = e.substr(sp);
  if (rest == " is deleted") return StoreFailure::deleted;
  size_t comma = rest.find(", cannot become ");
  if (rest.starts_with(" is ") && comma != std::string_view::npos &&
      parse_quarantine_state(std::string(rest.substr(4, comma - 4))) &&
      parse_quarantine_state(std::string(rest.substr(comma + 16))))
    return StoreFailure::conflict;
  return StoreFailure::unavailable;
}

std::optional<QuarantineState> parse_quarantine_state(const std::string& name) {
  if (name == "held") return QuarantineState::held;
  if (name == "released") return QuarantineState::released;
  if (name == "deleted") return QuarantineState::deleted;
  return std::nullopt;
}

bool is_quarantine_id(const std::string& s) {
  return s.size() == 32 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

std::string audit_record_to_json(const AuditRecord& r) {
  std::string out = "{\"seq\":" + std::to_string(r.seq) +
                    ",\"time_unix_ms\":" + std::to_string(r.time_unix_ms) + ",\"id\":";
  append_json_string(out, r.item_id);
  out += ",\"actor\":";
  append_json_string(out, r.actor);
  out += ",\"action\":";
  append_json_string(out, r.action);
  out += ",\"from\":";
  append_json_string(out, r.from_state);
  out += ",\"to\":";
  append_json_string(out, r.to_state);
  return out + "}";
}

std::string quarantine_item_to_json(const QuarantineItem& it, bool with_report) {
  using quarantine_detail::encode_list;
  std::string out = "{\"id\":";
  append_json_string(out, it.id);
  out += ",\"created_unix_ms\":" + std::to_string(it.created_unix_ms);
  auto field = [&](const char* name, const std::string& value) {
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, value);
  };
  field("state", quarantine_state_name(it.state));
  field("channel", it.channel);
  field("profile", it.profile);
  field("policy_sha256", it.policy_sha256);
  field("sender", it.sender);
  out += ",\"recipients\":" + encode_list(it.recipients);
  field("client_address", it.client_address);
  field("subject", it.subject);
  out += ",\"file_names\":" + encode_list(it.file_names);
  out += ",\"size\":" + std::to_string(it.size);
  field("verdict", it.verdict);
  field("action", it.action);
  out += ",\"reasons\":" + encode_list(it.reasons);
  if (with_report) {
    bool valid = false;
    try {
      Poco::JSON::Parser parser;
      parser.parse(it.report_json);
      valid = !it.report_json.empty();
    } catch (...) {
    }
    if (valid) {
      out += ",\"report\":" + it.report_json;
    } else {
      field("report", it.report_json);
    }
  }
  return out + "}";
}

}  // namespace sandgate
