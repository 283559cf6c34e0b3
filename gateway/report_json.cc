#include "gateway/report_json.h"

#include <cstdio>
#include <stdexcept>

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>

namespace sandgate {

namespace {

// Length of the valid UTF-8 sequence starting at s[i], 0 if invalid (RFC 3629).
size_t utf8_sequence(std::string_view s, size_t i) {
  auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  unsigned char c = b(i);
  size_t n;
  uint32_t cp;
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) n = 2, cp = c & 0x1F;
  else if (c >= 0xE0 && c <= 0xEF) n = 3, cp = c & 0x0F;
  else if (c >= 0xF0 && c <= 0xF4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
    return 0;
  return n;
}

void field(std::string& out, const char* name) {
  out += '"';
  out += name;
  out += "\":";
}

void string_field(std::string& out, const char* name, std::string_view value) {
  field(out, name);
  append_json_string(out, value);
}

void number(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3f", v);
  out += buf;
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
      ++i;
    } else if (c == '\n') {
      out += "\\n";
      ++i;
    } else if (c == '\t') {
      out += "\\t";
      ++i;
    } else if (c == '\r') {
      out += "\\r";
      ++i;
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      ++i;
    } else if (c < 0x80) {
      out += static_cast<char>(c);
      ++i;
    } else if (size_t n = utf8_sequence(s, i)) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += "\\ufffd";
      ++i;
    }
  }
  out += '"';
}

std::string report_to_json(const Report& r) {
  std::string out;
  out.reserve(512 + r.objects.size() * 400);
  out += '{';
  string_field(out, "id", r.id);
  out += ',';
  string_field(out, "verdict", r.decision.verdict_pass() ? "pass" : "quarantine");
  out += ',';
  string_field(out, "action", action_name(r.decision.action));
  out += ',';
  field(out, "reasons");
  out += '[';
  for (size_t i = 0; i < r.decision.reasons.size(); ++i) {
    const auto& reason = r.decision.reasons[i];
    if (i) out += ',';
    out += '{';
    string_field(out, "rule", reason.rule);
    out += ',';
    string_field(out, "object", reason.object);
    out += ',';
    string_field(out, "finding", reason.finding);
    out += '}';
  }
  out += "],";
  field(out, "policy");
  out += '{';
  string_field(out, "name", r.decision.policy_name);
  out += ',';
  string_field(out, "profile", r.decision.profile);
  out += ',';
  string_field(out, "sha256", r.decision.policy_sha256);
  out += "},";
  field(out, "objects");
  out += '[';
  for (size_t i = 0; i < r.objects.size(); ++i) {
    const Object& o = r.objects[i];
    if (i) out += ',';
    out += '{';
    string_field(out, "path", o.path);
    out += ',';
    string_field(out, "name", o.name);
    out += ',';
    field(out, "depth");
    out += std::to_string(o.depth);
    out += ',';
    field(out, "size");
    out += std::to_string(o.size);
    out += ',';
    string_field(out, "sha256", o.sha256);
    out += ',';
    if (!o.sha1.empty()) {
      string_field(out, "sha1", o.sha1);
      out += ',';
      string_field(out, "md5", o.md5);
      out += ',';
    }
    field(out, "type");
    out += '{';
    string_field(out, "mime", o.type.mime);
    out += ',';
    string_field(out, "label", o.type.label);
    out += "},";
    if (!o.declared_mime.empty()) {
      string_field(out, "declared_mime", o.declared_mime);
      out += ',';
    }
    if (o.encrypted) out += "\"encrypted\":true,";
    if (o.truncated) out += "\"truncated\":true,";
    if (!o.facts.empty()) {
      field(out, "facts");
      out += '{';
      bool first = true;
      for (const auto& [k, v] : o.facts) {
        if (!first) out += ',';
        first = false;
        append_json_string(out, k);
        out += ':';
        append_json_string(out, v);
      }
      out += "},";
    }
    field(out, "findings");
    out += '[';
    for (size_t k = 0; k < o.findings.size(); ++k) {
      const Finding& f = o.findings[k];
      if (k) out += ',';
      out += '{';
      string_field(out, "id", f.id);
      out += ',';
      string_field(out, "severity", severity_name(f.severity));
      out += ',';
      string_field(out, "message", f.message);
      if (!f.evidence.empty()) {
        out += ',';
        string_field(out, "evidence", f.evidence);
      }
      out += '}';
    }
    out += "]}";
  }
  out += "],";
  field(out, "limits");
  out += "{\"hit\":[";
  for (size_t i = 0; i < r.limits_hit.size(); ++i) {
    if (i) out += ',';
    append_json_string(out, r.limits_hit[i]);
  }
  out += "]},";
  field(out, "duration_ms");
  number(out, r.duration_ms);
  out += '}';
  return out;
}

namespace {

using Poco::JSON::Array;
using JsonObject = Poco::JSON::Object;

std::string str(const JsonObject::Ptr& o, const std::string& key) {
  if (!o->has(key)) return {};
  Poco::Dynamic::Var v = o->get(key);
  if (!v.isString()) throw std::runtime_error("'" + key + "' is not a string");
  return v.extract<std::string>();
}

JsonObject::Ptr obj(const JsonObject::Ptr& o, const std::string& key) {
  JsonObject::Ptr p = o->getObject(key);
  if (!p) throw std::runtime_error("'" + key + "' is not an object");
  return p;
}

Poco::JSON::Array::Ptr arr(const JsonObject::Ptr& o, const std::string& key) {
  Poco::JSON::Array::Ptr p = o->getArray(key);
  if (!p) throw std::runtime_error("'" + key + "' is not an array");
  return p;
}

JsonObject::Ptr element(const Poco::JSON::Array::Ptr& a, size_t i) {
  JsonObject::Ptr p = a->getObject(static_cast<unsigned>(i));
  if (!p) throw std::runtime_error("an array element is not an object");
  return p;
}

template <typename T>
T num(const JsonObject::Ptr& o, const std::string& key) {
  if (!o->has(key)) return T{};
  Poco::Dynamic::Var v = o->get(key);
  if (!v.isNumeric()) throw std::runtime_error("'" + key + "' is not a number");
  return v.convert<T>();
}

}  // namespace

bool report_from_json(std::string_view json, Report& report, std::string* error) {
  try {
    Poco::JSON::Parser parser;
    Poco::Dynamic::Var parsed = parser.parse(std::string(json));
    JsonObject::Ptr root = parsed.extract<JsonObject::Ptr>();
    if (!root) throw std::runtime_error("not a JSON object");
    Report r;
    r.id = str(root, "id");
    const std::string action = str(root, "action");
    bool known = false;
    for (int a = 0; a <= static_cast<int>(Action::reject); ++a) {
      if (action_name(static_cast<Action>(a)) == action) {
        r.decision.action = static_cast<Action>(a);
        known = true;
      }
    }
    if (!known) throw std::runtime_error("unknown action '" + action + "'");
    auto reasons = arr(root, "reasons");
    for (size_t i = 0; i < reasons->size(); ++i) {
      auto e = element(reasons, i);
      r.decision.reasons.push_back(Reason{str(e, "rule"), str(e, "object"), str(e, "finding")});
    }
    auto pol = obj(root, "policy");
    r.decision.policy_name = str(pol, "name");
    r.decision.profile = str(pol, "profile");
    r.decision.policy_sha256 = str(pol, "sha256");
    auto objects = arr(root, "objects");
    std::vector<int> last_at_depth;  // index of the latest object at each depth
    for (size_t i = 0; i < objects->size(); ++i) {
      auto e = element(objects, i);
      Object o;
      o.index = static_cast<int>(i);
      o.path = str(e, "path");
      o.name = str(e, "name");
      o.depth = num<int>(e, "depth");
      if (o.depth < 0 || o.depth > static_cast<int>(last_at_depth.size()) || (i == 0) != (o.depth == 0))
        throw std::runtime_error("object " + std::to_string(i) + " is not in pre-order");
      o.parent = o.depth == 0 ? -1 : last_at_depth[static_cast<size_t>(o.depth - 1)];
      last_at_depth.resize(static_cast<size_t>(o.depth));
      last_at_depth.push_back(o.index);
      o.size = num<uint64_t>(e, "size");
      o.sha256 = str(e, "sha256");
      o.sha1 = str(e, "sha1");
      o.md5 = str(e, "md5");
      o.declared_mime = str(e, "declared_mime");
      auto type = obj(e, "type");
      o.type.mime = str(type, "mime");
      o.type.label = str(type, "label");
      o.encrypted = e->optValue<bool>("encrypted", false);
      o.truncated = e->optValue<bool>("truncated", false);
      if (e->has("facts")) {
        auto facts = obj(e, "facts");
        for (const auto& name : facts->getNames()) o.facts[name] = str(facts, name);
      }
      auto findings = arr(e, "findings");
      for (size_t k = 0; k < findings->size(); ++k) {
        auto fe = element(findings, k);
        Finding f;
        f.id = str(fe, "id");
        auto sev = parse_severity(str(fe, "severity"));
        if (!sev) throw std::runtime_error("unknown severity in finding " + f.id);
        f.severity = *sev;
        f.message = str(fe, "message");
        f.evidence = str(fe, "evidence");
        o.findings.push_back(std::move(f));
      }
      r.objects.push_back(std::move(o));
    }
    auto hit = arr(obj(root, "limits"), "hit");
    for (size_t i = 0; i < hit->size(); ++i) {
      Poco::Dynamic::Var v = hit->get(static_cast<unsigned>(i));
      if (!v.isString()) throw std::runtime_error("limits.hit holds a non-string");
      r.limits_hit.push_back(v.extract<std::string>());
    }
    r.duration_ms = num<double>(root, "duration_ms");
    report = std::move(r);
    return true;
  } catch (const Poco::Exception& e) {
    if (error) *error = e.displayText();
  } catch (const std::exception& e) {
    if (error) *error = e.what();
  }
  return false;
}

}  // namespace sandgate
