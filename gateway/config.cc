// The `sandgate serve` configuration loader (see config.h). A small
// hand-written schema walk over yaml-cpp nodes: each key is checked against the
// keys its mapping allows and each value against its type and range, with the
// node's mark for FILE:LINE:COL.
#include "gateway/config.h"
#include "unpack/hex.h"

#include <openssl/evp.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "policies/language/policy_loader.h"

namespace sandgate {

std::string HostPort::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::optional<HostPort> parse_host_port(const std::string& text, std::string* error) {
  auto fail = [&](const std::string& m) -> std::optional<HostPort> {
    if (error) *error = m;
    return std::nullopt;
  };
  HostPort hp;
  std::string port_text;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return fail("expected [IPv6]:PORT, got '" + text + "'");
    hp.host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string::npos || colon == 0) return fail("expected HOST:PORT, got '" + text + "'");
    hp.host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (ec != std::errc() || p != port_text.data() + port_text.size() || value > 65535 || port_text.empty())
    return fail("port must be a number from 0 to 65535, got '" + port_text + "'");
  hp.port = static_cast<uint16_t>(value);
  return hp;
}

std::string token_sha256_hex(const std::string& token) {
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  return hex_lower(md, len);
}

namespace {

class Walker {
 public:
  Walker(std::string file, std::string base_dir) : file_(std::move(file)), base_(std::move(base_dir)) {}

  std::vector<std::string> errors;

  void error(const YAML::Node& at, const std::string& message) {
    const YAML::Mark m = at.Mark();
    int line = m.line >= 0 ? m.line + 1 : 1;
    int col = m.column >= 0 ? m.column + 1 : 1;
    errors.push_back(file_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + message);
  }

  // Checks that `node` is a mapping with only `allowed` keys; calls visit(key, value) for each.
  template <typename Visit>
  void mapping(const YAML::Node& node, const std::string& what, std::initializer_list<std::string_view> allowed,
               Visit visit) {
    if (!node.IsMap()) {
      error(node, what + " must be a mapping");
      return;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      const YAML::Node key = it->first;  // copies: it-> yields a temporary proxy
      const YAML::Node value = it->second;
      if (!key.IsScalar()) {
        error(key, "keys of " + what + " must be names");
        continue;
      }
      std::string k = key.Scalar();
      bool known = false;
      for (auto a : allowed) known = known || a == k;
      if (!known) {
        std::vector<std::string_view> cands(allowed);
        std::string hint = policy_lang::closest_match(k, cands);
        error(key, "unknown key '" + k + "' in " + what + (hint.empty() ? "" : " (did you mean '" + hint + "'?)"));
        continue;
      }
      if (!seen.insert(k).second) {
        error(key, "duplicate key '" + k + "' in " + what);
        continue;
      }
      visit(k, value);
    }
  }

  bool scalar(const YAML::Node& n, const std::string& key, std::string& out) {
    if (!n.IsScalar()) {
      error(n, key + " must be a single value");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  void path(const YAML::Node& n, const std::string& key, std::string& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    if (v.empty()) {
      error(n, key + " must not be empty");
      return;
    }
    out = std::filesystem::path(v).is_absolute() || base_.empty() ? v : (std::filesystem::path(base_) / v).string();
  }

  void boolean(const YAML::Node& n, const std::string& key, bool& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    if (v == "true" || v == "yes" || v == "on") out = true;
    else if (v == "false" || v == "no" || v == "off") out = false;
    else error(n, key + " must be true or false, got '" + v + "'");
  }

  void integer(const YAML::Node& n, const std::string& key, int lo, int hi, int& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    long long x = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
    if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi) {
      error(n, key + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) +
                   ", got '" + v + "'");
      return;
    }
    out = static_cast<int>(x);
  }

  void seconds(const YAML::Node& n, const std::string& key, double& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    std::string num = v;
    if (!num.empty() && num.back() == 's') num.pop_back();
    double x = 0;
    auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), x);
    if (num.empty() || ec != std::errc() || p != num.data() + num.size() || !(x > 0) || x > 86400) {
      error(n, key + " must be a number of seconds above 0 and at most 86400, got '" + v + "'");
      return;
    }
    out = x;
  }

  void size(const YAML::Node& n, const std::string& key, uint64_t& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    std::string why;
    auto x = policy_lang::parse_size(v, &why);
    if (!x || *x == 0) {
      error(n, key + ": " + (x ? std::string("must be above 0") : why));
      return;
    }
    out = *x;
  }

  void host_port(const YAML::Node& n, const std::string& key, HostPort& out) {
    std::string v, why;
    if (!scalar(n, key, v)) return;
    auto hp = parse_host_port(v, &why);
    if (!hp) error(n, key + ": " + why);
    else out = *hp;
  }

  void token(const YAML::Node& n, ApiToken& t, std::set<std::string>& ids) {
    bool has_id = false, has_hash = false;
    mapping(n, "a token", {"id", "sha256", "profiles", "admin"}, [&](const std::string& k, const YAML::Node& v) {
      if (k == "admin") {
        boolean(v, k, t.admin);
      } else if (k == "id") {
        if (scalar(v, "id", t.id) && !t.id.empty()) {
          has_id = true;
          if (!ids.insert(t.id).second) error(v, "duplicate token id '" + t.id + "'");
        }
      } else if (k == "sha256") {
        has_hash = true;  // present; a bad value is its own error
        std::string h;
        if (!scalar(v, "sha256", h)) return;
        if (h.rfind("sha256:", 0) == 0) h = h.substr(7);
        if (h.size() != 64 || h.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos) {
          error(v, "sha256 must be 'sha256:' and 64 hex digits (the hash of the token, never the token itself)");
          return;
        }
        for (size_t i = 0; i < 32; ++i)
          t.sha256[i] = static_cast<unsigned char>(std::stoi(h.substr(2 * i, 2), nullptr, 16));
      } else if (k == "profiles") {
        if (v.IsScalar()) {
          t.profiles.push_back(v.Scalar());
        } else if (v.IsSequence()) {
          for (auto pit = v.begin(); pit != v.end(); ++pit) {
            const YAML::Node p = *pit;
            std::string s;
            if (scalar(p, "a profile", s)) t.profiles.push_back(s);
          }
        } else {
          error(v, "profiles must be a name or a list of names");
        }
      }
    });
    if (n.IsMap()) {
      if (!has_id) error(n, "a token needs an id");
      if (!has_hash) error(n, "a token needs a sha256");
      if (t.profiles.empty() && !t.admin)
        error(n, "a token needs at least one profile (or \"*\"), or admin: true");
    }
  }

  void http(const YAML::Node& n, HttpConfig& h) {
    mapping(n, "http", {"listen", "tls", "allow_loopback_without_token", "tokens", "limits"},
            [&](const std::string& k, const YAML::Node& v) {
              if (k == "listen") host_port(v, "listen", h.listen);
              else if (k == "allow_loopback_without_token") boolean(v, k, h.allow_loopback_without_token);
              else if (k == "tls") {
                mapping(v, "tls", {"cert", "key"}, [&](const std::string& tk, const YAML::Node& tv) {
                  path(tv, tk, tk == "cert" ? h.tls_cert : h.tls_key);
                });
                if (v.IsMap() && h.tls_cert.empty() != h.tls_key.empty()) error(v, "tls needs both cert and key");
              } else if (k == "tokens") {
                if (!v.IsSequence()) {
                  error(v, "tokens must be a list");
                  return;
                }
                std::set<std::string> ids;
                for (auto tit = v.begin(); tit != v.end(); ++tit) {
                  const YAML::Node t = *tit;
                  ApiToken tok;
                  size_t before = errors.size();
                  token(t, tok, ids);
                  if (errors.size() == before) h.tokens.push_back(std::move(tok));
                }
              } else if (k == "limits") {
                mapping(v, "http.limits",
                        {"max_body", "max_parts", "max_in_flight", "scan_workers", "threads", "queued_connections",
                         "idle_timeout", "body_timeout", "retry_after"},
                        [&](const std::string& lk, const YAML::Node& lv) {
                          if (lk == "max_body") size(lv, lk, h.max_body_bytes);
                          else if (lk == "max_parts") integer(lv, lk, 1, 1000, h.max_parts);
                          else if (lk == "max_in_flight") integer(lv, lk, 1, 4096, h.max_in_flight);
                          else if (lk == "scan_workers") integer(lv, lk, 0, 256, h.scan_workers);
                          else if (lk == "threads") integer(lv, lk, 0, 4096, h.threads);
                          else if (lk == "queued_connections") integer(lv, lk, 1, 65536, h.queued_connections);
                          else if (lk == "idle_timeout") seconds(lv, lk, h.idle_timeout_s);
                          else if (lk == "body_timeout") seconds(lv, lk, h.body_timeout_s);
                          else if (lk == "retry_after") integer(lv, lk, 0, 3600, h.retry_after_s);
                        });
              }
            });
  }

  void smtp(const YAML::Node& n, SmtpConfig& m) {
    mapping(n, "smtp",
            {"listen", "next_hop", "hostname", "tls", "profile", "headers", "tag_subject_prefix",
             "limits", "reject_bare_newlines", "xforward", "notify"},
            [&](const std::string& k, const YAML::Node& v) {
      if (k == "listen" || k == "next_hop") {
        host_port(v, k, k == "listen" ? m.listen : m.next_hop);
      } else if (k == "hostname") {
        if (scalar(v, k, m.hostname) &&
            (m.hostname.empty() || m.hostname.size() > 255 ||
             m.hostname.find_first_of(" \t\r\n") != std::string::npos))
          error(v, "hostname must be a host name without spaces (1-255 characters)");
      } else if (k == "tls") {
        mapping(v, "smtp.tls", {"cert", "key"}, [&](const std::string& tk, const YAML::Node& tv) {
          path(tv, tk, tk == "cert" ? m.tls_cert : m.tls_key);
        });
        if (v.IsMap() && m.tls_cert.empty() != m.tls_key.empty()) error(v, "tls needs both cert and key");
      } else if (k == "profile") {
        if (scalar(v, k, m.profile) && m.profile.empty()) error(v, "profile must not be empty");
      } else if (k == "headers") {
        mapping(v, "smtp.headers", {"verdict", "report"}, [&](const std::string& hk, const YAML::Node& hv) {
          boolean(hv, hk, hk == "verdict" ? m.verdict_header : m.report_header);
        });
      } else if (k == "tag_subject_prefix") {
        if (scalar(v, k, m.tag_subject_prefix) &&
            m.tag_subject_prefix.find_first_of("\r\n") != std::string::npos)
          error(v, "tag_subject_prefix must be one line");
      } else if (k == "limits") {
        mapping(v, "smtp.limits",
                {"max_message", "max_recipients", "max_connections", "command_timeout", "data_timeout",
                 "next_hop_timeout"},
                [&](const std::string& lk, const YAML::Node& lv) {
                  if (lk == "max_message") size(lv, lk, m.max_message_bytes);
                  else if (lk == "max_recipients") integer(lv, lk, 1, 100000, m.max_recipients);
                  else if (lk == "max_connections") integer(lv, lk, 1, 4096, m.max_connections);
                  else if (lk == "command_timeout") seconds(lv, lk, m.command_timeout_s);
                  else if (lk == "data_timeout") seconds(lv, lk, m.data_timeout_s);
                  else if (lk == "next_hop_timeout") seconds(lv, lk, m.next_hop_timeout_s);
                });
      } else if (k == "reject_bare_newlines") {
        boolean(v, k, m.reject_bare_newlines);
      } else if (k == "xforward") {
        boolean(v, k, m.xforward);
      } else if (k == "notify") {
        mapping(v, "smtp.notify", {"recipients", "admin", "from"}, [&](const std::string& nk, const YAML::Node& nv) {
          if (nk == "recipients") {
            boolean(nv, nk, m.notify_recipients);
          } else {
            std::string& out = nk == "admin" ? m.notify_admin : m.notice_from;
            if (scalar(nv, nk, out) &&
                (out.empty() || out.size() > 254 || out.find_first_of(" <>\r\n\t") != std::string::npos))
              error(nv, nk + " must be a mail address (without angle brackets or spaces)");
          }
        });
      }
    });
  }

  void root(const YAML::Node& n, ServiceConfig& c) {
    if (n.IsNull()) return;  // an empty file: all defaults
    mapping(n, "the config", {"policy", "data_dir", "http", "smtp", "quarantine", "isolation"},
            [&](const std::string& k, const YAML::Node& v) {
      if (k == "policy") path(v, k, c.policy_path);
      else if (k == "data_dir") path(v, k, c.data_dir);
      else if (k == "http") http(v, c.http);
      else if (k == "smtp") {
        smtp(v, c.smtp);
      } else if (k == "quarantine") {
        quarantine(v, c.quarantine);
      } else if (k == "isolation") {
        isolation(v, c.isolation);
      }
    });
  }

  void duration(const YAML::Node& n, const std::string& key, int64_t min_s, int64_t& out) {
    std::string v, why;
    if (!scalar(n, key, v)) return;
    auto d = parse_duration_seconds(v, &why);
    if (!d) error(n, key + ": " + why);
    else if (*d != 0 && *d < min_s) error(n, key + " must be 0 or at least " + std::to_string(min_s) + " seconds");
    else out = *d;
  }

  void isolation(const YAML::Node& n, IsolationConfig& c) {
    mapping(n, "isolation", {"enabled", "workers", "memory", "jobs_per_worker", "user"},
            [&](const std::string& k, const YAML::Node& v) {
              if (k == "enabled") boolean(v, k, c.enabled);
              else if (k == "workers") integer(v, k, 0, 256, c.workers);
              else if (k == "jobs_per_worker") integer(v, k, 1, 1000000, c.jobs_per_worker);
              else if (k == "user") scalar(v, k, c.user);
              else if (k == "memory") {
                size(v, k, c.memory_bytes);
                if (c.memory_bytes < (64ull << 20)) error(v, "memory must be at least 64MiB (a worker maps its libraries)");
              }
            });
  }

  void quarantine(const YAML::Node& n, QuarantineConfig& q) {
    mapping(n, "quarantine", {"backend", "dir", "postgresql", "retention", "purge_every"},
            [&](const std::string& k, const YAML::Node& v) {
              if (k == "backend") {
                std::string b;
                if (!scalar(v, k, b)) return;
                if (b != "directory" && b != "postgresql")
                  error(v, "backend must be directory or postgresql, got '" + b + "'");
                else q.backend = b;
              } else if (k == "dir") {
                path(v, k, q.dir);
              } else if (k == "postgresql") {
                if (scalar(v, k, q.postgresql) && q.postgresql.empty()) error(v, "postgresql must not be empty");
              } else if (k == "retention") {
                duration(v, k, 1, q.retention_s);
              } else if (k == "purge_every") {
                duration(v, k, 1, q.retention_interval_s);
                if (q.retention_interval_s == 0) error(v, "purge_every must be above 0");
              }
            });
    if (n.IsMap() && q.backend == "postgresql" && q.postgresql.empty())
      error(n, "the postgresql backend needs a postgresql connection string");
  }

 private:
  std::string file_;
  std::string base_;
};

}  // namespace

std::optional<int64_t> parse_duration_seconds(const std::string& text, std::string* error) {
  std::string num = text;
  int64_t unit = 1;
  if (!num.empty()) {
    switch (num.back()) {
      case 'd': unit = 86400; num.pop_back(); break;
      case 'h': unit = 3600; num.pop_back(); break;
      case 'm': unit = 60; num.pop_back(); break;
      case 's': num.pop_back(); break;
      default: break;
    }
  }
  int64_t x = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), x);
  if (num.empty() || ec != std::errc() || p != num.data() + num.size() || x < 0 || x > 36500ll * 86400 / unit) {
    *error = "a duration is a whole number with d, h, m or s (e.g. 30d), got '" + text + "'";
    return std::nullopt;
  }
  return x * unit;
}

ConfigResult parse_service_config(const std::string& text, const std::string& display_path,
                                  const std::string& base_dir) {
  ConfigResult result;
  ServiceConfig config;
  config.source = display_path;
  Walker w(display_path, base_dir);
  try {
    YAML::Node doc = YAML::Load(text);
    w.root(doc, config);
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    int col = e.mark.column >= 0 ? e.mark.column + 1 : 1;
    w.errors.push_back(display_path + ":" + std::to_string(line) + ":" + std::to_string(col) + ": " + e.msg);
  } catch (const std::exception& e) {
    w.errors.push_back(display_path + ":1:1: " + e.what());
  }
  result.errors = std::move(w.errors);
  if (result.errors.empty()) result.config = std::move(config);
  return result;
}

ConfigResult load_service_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ConfigResult r;
    r.errors.push_back(path + ":1:1: cannot read the config file");
    return r;
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string base = std::filesystem::path(path).parent_path().string();
  return parse_service_config(ss.str(), path, base);
}

}  // namespace sandgate
