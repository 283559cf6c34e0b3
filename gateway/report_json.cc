#include "gateway/report_json.h"

#include <cstdio>

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

}  // namespace sandgate
