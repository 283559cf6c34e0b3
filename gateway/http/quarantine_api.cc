// /v1/quarantine (see quarantine_api.h).
#include "gateway/http/quarantine_api.h"

#include <charconv>
#include <chrono>
#include <ctime>

#include "gateway/quarantine/directory_store.h"
#include "gateway/quarantine/smtp_reinject.h"
#include "gateway/quarantine/store.h"
#include "gateway/report_json.h"

namespace sandgate {

namespace {

constexpr const char* kPrefix = "/v1/quarantine";
constexpr size_t kMaxListed = 1000;

QuarantineApiAnswer json_error(int status, const std::string& message) {
  QuarantineApiAnswer a;
  a.status = status;
  a.body = "{\"error\":";
  append_json_string(a.body, message);
  a.body += ",\"status\":" + std::to_string(status) + "}";
  return a;
}

QuarantineApiAnswer not_allowed(const char* allow) {
  QuarantineApiAnswer a = json_error(405, std::string("this endpoint takes ") + allow);
  a.allow = allow;
  return a;
}

// No such item: 404; its content deleted: 410; a state change not allowed:
// 409; anything else is the store being unavailable (database down, disk
// error): 503, try again.
QuarantineApiAnswer store_error(const std::string& error) {
  switch (classify_store_error(error)) {
    case StoreFailure::no_item: return json_error(404, error);
    case StoreFailure::deleted: return json_error(410, error);
    case StoreFailure::conflict: return json_error(409, error);
    case StoreFailure::unavailable: break;
  }
  return json_error(503, "the quarantine store is unavailable: " + error);
}

// Ids are printable tokens; refuse anything else before it reaches a store.
bool plausible_id(const std::string& id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_'))
      return false;
  return true;
}

std::string param(const std::vector<std::pair<std::string, std::string>>& query, const std::string& name) {
  for (const auto& [k, v] : query)
    if (k == name) return v;
  return "";
}

bool parse_i64(const std::string& s, int64_t& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return !s.empty() && ec == std::errc() && p == s.data() + s.size();
}

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string iso_now() {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

QuarantineApiAnswer list_items(QuarantineStore& store, const std::vector<std::pair<std::string, std::string>>& q) {
  QuarantineFilter f;
  int64_t n = 0;
  std::string s = param(q, "since");
  if (!s.empty()) {
    if (!parse_i64(s, n)) return json_error(400, "since must be a time in Unix milliseconds");
    f.since_unix_ms = n;
  }
  s = param(q, "until");
  if (!s.empty()) {
    if (!parse_i64(s, n)) return json_error(400, "until must be a time in Unix milliseconds");
    f.until_unix_ms = n;
  }
  f.sender = param(q, "sender");
  f.recipient = param(q, "recipient");
  f.reason = param(q, "reason");
  s = param(q, "state");
  if (!s.empty()) {
    f.state = parse_quarantine_state(s);
    if (!f.state) return json_error(400, "state must be held, released or deleted");
  }
  size_t limit = 100;
  s = param(q, "limit");
  if (!s.empty()) {
    if (!parse_i64(s, n) || n < 1 || n > static_cast<int64_t>(kMaxListed))
      return json_error(400, "limit must be a whole number from 1 to " + std::to_string(kMaxListed));
    limit = static_cast<size_t>(n);
  }
  std::string error;
  auto items = store.list(f, &error);
  if (!error.empty()) return store_error(error);
  QuarantineApiAnswer a;
  a.body = "{\"total\":" + std::to_string(items.size()) + ",\"items\":[";
  for (size_t i = 0; i < items.size() && i < limit; ++i) {
    if (i) a.body += ',';
    a.body += quarantine_item_to_json(items[i], false);
  }
  a.body += "]}";
  return a;
}

QuarantineApiAnswer show_item(QuarantineStore& store, const std::string& id) {
  std::string error;
  auto item = store.get(id, &error);
  if (!item) return store_error(error);
  std::string j = quarantine_item_to_json(*item, true);
  if (j.empty() || j.back() != '}') return json_error(500, "internal error");
  j.pop_back();
  j += ",\"audit\":[";
  auto records = store.audit(id, &error);
  for (size_t i = 0; i < records.size(); ++i) j += (i ? "," : "") + audit_record_to_json(records[i]);
  j += "]}";
  QuarantineApiAnswer a;
  a.body = std::move(j);
  return a;
}

QuarantineApiAnswer release_item(QuarantineStore& store, const HostPort& next_hop, const std::string& id,
                                 const std::string& to, const std::string& actor) {
  std::string error;
  auto item = store.get(id, &error);
  if (!item) return store_error(error);
  if (item->state != QuarantineState::held)
    return json_error(409, "item " + id + " is " + quarantine_state_name(item->state) + ", not held");
  if (item->channel == "mail") {
    auto path = store.content_path(id, &error);
    if (!path) return store_error(error);
    ReinjectRequest req;
    req.next_hop = next_hop;
    req.sender = item->sender;
    req.recipients = to.empty() ? item->recipients : std::vector<std::string>{to};
    req.message_path = *path;
    req.released_header_value = id + "; by=" + actor + "; " + iso_now();
    if (!smtp_reinject(req, &error))
      return json_error(502, "the next hop did not take the message (the item stays held): " + error);
  } else if (!to.empty()) {
    return json_error(400, "to applies to mail only; an upload is only marked released");
  }
  if (!store.set_state(id, QuarantineState::released, actor, &error))
    return json_error(500, "delivered, but the release could not be recorded: " + error);
  QuarantineApiAnswer a;
  a.body = "{\"id\":";
  append_json_string(a.body, id);
  a.body += ",\"state\":\"released\"";
  if (item->channel == "mail") {
    a.body += ",\"delivered_to\":";
    append_json_string(a.body, next_hop.to_string());
  }
  a.body += "}";
  return a;
}

}  // namespace

QuarantineApiAnswer quarantine_api(QuarantineStore* store, const HostPort& next_hop, const std::string& method,
                                   const std::string& path,
                                   const std::vector<std::pair<std::string, std::string>>& query,
                                   const std::string& actor) {
  if (!store) return json_error(503, "the quarantine store is not available");
  std::string rest = path.substr(std::string(kPrefix).size());
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  try {
    if (rest.empty()) {
      if (method != "GET" && method != "HEAD") return not_allowed("GET");
      return list_items(*store, query);
    }
    if (rest == "/purge") {
      if (method != "POST") return not_allowed("POST");
      std::string why;
      std::string older = param(query, "older_than");
      if (older.empty()) return json_error(400, "purge needs older_than (e.g. 30d)");
      auto secs = parse_duration_seconds(older, &why);
      if (!secs) return json_error(400, "older_than: " + why);
      std::string error;
      auto n = store->purge(now_ms() - *secs * 1000, actor, &error);
      if (!n) return store_error(error);
      QuarantineApiAnswer a;
      a.body = "{\"purged\":" + std::to_string(*n) + "}";
      return a;
    }
    // /ID or /ID/ACTION
    std::string id = rest.substr(1), action;
    size_t slash = id.find('/');
    if (slash != std::string::npos) {
      action = id.substr(slash + 1);
      id.resize(slash);
    }
    if (!plausible_id(id)) return json_error(404, "no such item");
    if (action.empty()) {
      if (method == "GET" || method == "HEAD") return show_item(*store, id);
      if (method == "DELETE") {
        std::string error;
        if (!store->set_state(id, QuarantineState::deleted, actor, &error)) return store_error(error);
        QuarantineApiAnswer a;
        a.body = "{\"id\":";
        append_json_string(a.body, id);
        a.body += ",\"state\":\"deleted\"}";
        return a;
      }
      return not_allowed("GET, DELETE");
    }
    if (action == "release") {
      if (method != "POST") return not_allowed("POST");
      return release_item(*store, next_hop, id, param(query, "to"), actor);
    }
    if (action == "content") {
      if (method != "GET") return not_allowed("GET");
      std::string error;
      auto item = store->get(id, &error);
      if (!item) return store_error(error);
      auto p = store->content_path(id, &error);
      if (!p) return store_error(error);
      QuarantineApiAnswer a;
      a.file_path = *p;
      a.download_name = id + (item->channel == "mail" ? ".eml" : ".bin");
      return a;
    }
    return json_error(404, "no such endpoint: " + path);
  } catch (const std::exception& e) {
    return json_error(500, std::string("internal error: ") + e.what());
  } catch (...) {
    return json_error(500, "internal error");
  }
}

}  // namespace sandgate
