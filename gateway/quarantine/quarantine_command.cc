// The quarantine administration command (see quarantine_command.h). Release of
// mail re-injects first and marks the item released only after the next hop
// accepted it, so a failed release leaves the item held, never lost.
#include "gateway/quarantine/quarantine_command.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include "gateway/config.h"
#include "gateway/quarantine/open_store.h"
#include "gateway/quarantine/smtp_reinject.h"

namespace sandgate {

namespace {

constexpr const char* kUsage =
    "usage: sandgate quarantine [--config FILE] [--data-dir DIR] [--next-hop HOST:PORT] COMMAND\n"
    "  list [--json] [--since TIME] [--until TIME] [--sender S] [--recipient R]\n"
    "       [--reason R] [--state held|released|deleted]\n"
    "  show ID\n"
    "  release ID [--to ADDRESS]\n"
    "  delete ID\n"
    "  export ID --out FILE\n"
    "  purge --older-than DURATION   (e.g. 30d, 12h, 90m, 45s)\n"
    "TIME: unix seconds or YYYY-MM-DD[THH:MM:SS[Z]] (UTC)\n";

int64_t now_unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "30d" -> milliseconds.
std::optional<int64_t> parse_duration_ms(const std::string& s) {
  if (s.size() < 2 || s.size() > 12) return std::nullopt;
  int64_t unit = 0;
  switch (s.back()) {
    case 's':
      unit = 1000;
      break;
    case 'm':
      unit = 60'000;
      break;
    case 'h':
      unit = 3'600'000;
      break;
    case 'd':
      unit = 86'400'000;
      break;
    case 'w':
      unit = 7 * 86'400'000ll;
      break;
    default:
      return std::nullopt;
  }
  int64_t n = 0;
  for (size_t i = 0; i + 1 < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    n = n * 10 + (s[i] - '0');
  }
  if (n > 100'000'000'000ll / (unit / 1000)) return std::nullopt;  // keeps ms in int64
  return n * unit;
}

std::optional<int64_t> parse_time_ms(const std::string& s) {
  if (!s.empty() && s.size() <= 12 && s.find_first_not_of("0123456789") == std::string::npos)
    return std::stoll(s) * 1000;
  std::tm tm{};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  char tail = 0;
  int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &sec, &tail);
  if (s.size() == 10 && n == 3) {
  } else if (n == 6 || (n == 7 && tail == 'Z')) {
  } else {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
    return std::nullopt;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm)) * 1000;
}

std::string iso_time(int64_t ms) {
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Stored metadata is attacker-chosen: never send its control bytes to a terminal.
std::string printable(const std::string& s, size_t max = 60) {
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  }
  return out.empty() ? "-" : out;
}

std::string actor_name() {
  const char* u = std::getenv("SUDO_USER");
  if (!u || !*u) u = std::getenv("USER");
  return std::string("cli:") + ((u && *u) ? u : std::to_string(::getuid()).c_str());
}

struct Globals {
  std::string config_file, data_dir, next_hop;
  bool data_dir_set = false, next_hop_set = false;
};

}  // namespace

int run_quarantine_command(const std::vector<std::string>& args_in, std::ostream& out,
                           std::ostream& err) {
  // Global options may appear anywhere; the rest is the subcommand and its words.
  Globals g;
  std::vector<std::string> args;
  for (size_t i = 0; i < args_in.size(); ++i) {
    const std::string& a = args_in[i];
    if (a == "--config" || a == "--data-dir" || a == "--next-hop") {
      if (i + 1 >= args_in.size()) {
        err << "sandgate quarantine: " << a << " needs a value\n" << kUsage;
        return 2;
      }
      const std::string& v = args_in[++i];
      if (a == "--config") g.config_file = v;
      if (a == "--data-dir") g.data_dir = v, g.data_dir_set = true;
      if (a == "--next-hop") g.next_hop = v, g.next_hop_set = true;
    } else if (a == "-h" || a == "--help") {
      out << kUsage;
      return 0;
    } else {
      args.push_back(a);
    }
  }
  if (args.empty()) {
    err << kUsage;
    return 2;
  }
  ServiceConfig config;
  if (!g.config_file.empty()) {
    ConfigResult r = load_service_config(g.config_file);
    if (!r.config) {
      for (const auto& e : r.errors) err << e << "\n";
      return 2;
    }
    config = *r.config;
  }
  if (g.data_dir_set) config.data_dir = g.data_dir;
  if (g.next_hop_set) {
    std::string e;
    auto hp = parse_host_port(g.next_hop, &e);
    if (!hp) {
      err << "sandgate quarantine: --next-hop: " << e << "\n";
      return 2;
    }
    config.smtp.next_hop = *hp;
  }

  const std::string cmd = args[0];
  // Subcommand options.
  std::map<std::string, std::string> opt;
  std::vector<std::string> words;
  bool json = false;
  static const std::map<std::string, std::vector<std::string>> kOptions = {
      {"list", {"--since", "--until", "--sender", "--recipient", "--reason", "--state"}},
      {"show", {}},
      {"release", {"--to"}},
      {"delete", {}},
      {"export", {"--out"}},
      {"purge", {"--older-than"}},
  };
  auto known = kOptions.find(cmd);
  if (known == kOptions.end()) {
    err << "sandgate quarantine: unknown command '" << printable(cmd) << "'\n" << kUsage;
    return 2;
  }
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (cmd == "list" && a == "--json") {
      json = true;
    } else if (a.size() > 2 && a.rfind("--", 0) == 0) {
      const auto& allowed = known->second;
      if (std::find(allowed.begin(), allowed.end(), a) == allowed.end()) {
        err << "sandgate quarantine " << cmd << ": unknown option " << a << "\n" << kUsage;
        return 2;
      }
      if (i + 1 >= args.size()) {
        err << "sandgate quarantine " << cmd << ": " << a << " needs a value\n";
        return 2;
      }
      opt[a] = args[++i];
    } else {
      words.push_back(a);
    }
  }
  size_t want_words = (cmd == "list" || cmd == "purge") ? 0 : 1;
  if (words.size() != want_words) {
    err << "sandgate quarantine " << cmd << ": "
        << (want_words ? "needs exactly one ID" : "takes no arguments") << "\n"
        << kUsage;
    return 2;
  }
  if (cmd == "export" && !opt.count("--out")) {
    err << "sandgate quarantine export: --out FILE is required\n";
    return 2;
  }
  std::optional<int64_t> purge_ms;
  if (cmd == "purge") {
    if (!opt.count("--older-than") || !(purge_ms = parse_duration_ms(opt["--older-than"]))) {
      err << "sandgate quarantine purge: --older-than DURATION is required (e.g. 30d)\n";
      return 2;
    }
  }
  QuarantineFilter filter;
  if (cmd == "list") {
    for (const char* k : {"--since", "--until"}) {
      if (!opt.count(k)) continue;
      auto t = parse_time_ms(opt[k]);
      if (!t) {
        err << "sandgate quarantine list: " << k << ": cannot read time '" << printable(opt[k])
            << "'\n";
        return 2;
      }
      (std::string(k) == "--since" ? filter.since_unix_ms : filter.until_unix_ms) = *t;
    }
    filter.sender = opt["--sender"];
    filter.recipient = opt["--recipient"];
    filter.reason = opt["--reason"];
    if (opt.count("--state")) {
      filter.state = parse_quarantine_state(opt["--state"]);
      if (!filter.state) {
        err << "sandgate quarantine list: --state takes held, released or deleted\n";
        return 2;
      }
    }
  }

  std::string error;
  auto store = open_quarantine_store(config.quarantine, config.data_dir, &error);
  if (!store) {
    err << "sandgate quarantine: " << error << "\n";
    return 1;
  }
  const std::string id = words.empty() ? "" : words[0];
  const std::string actor = actor_name();

  if (cmd == "list") {
    auto items = store->list(filter, &error);
    if (!error.empty()) {
      err << "sandgate quarantine list: " << error << "\n";
      return 1;
    }
    if (json) {
      out << "[";
      for (size_t i = 0; i < items.size(); ++i)
        out << (i ? ",\n" : "\n") << quarantine_item_to_json(items[i], false);
      out << (items.empty() ? "]\n" : "\n]\n");
      return 0;
    }
    out << "ID                                CREATED               STATE     CHANNEL  SENDER / "
           "FILES  REASONS\n";
    for (const auto& it : items) {
      std::string who =
          it.channel == "mail" || it.file_names.empty() ? it.sender : it.file_names[0];
      std::string reasons;
      for (size_t i = 0; i < it.reasons.size(); ++i) reasons += (i ? "; " : "") + it.reasons[i];
      char line[160];
      std::snprintf(line, sizeof line, "%-33s %-21s %-9s %-8s ", it.id.c_str(),
                    iso_time(it.created_unix_ms).c_str(), quarantine_state_name(it.state),
                    printable(it.channel, 8).c_str());
      out << line << printable(who, 40) << "  " << printable(reasons, 80) << "\n";
    }
    return 0;
  }
  if (cmd == "show") {
    auto item = store->get(id, &error);
    if (!item) {
      err << "sandgate quarantine show: " << error << "\n";
      return 1;
    }
    std::string j = quarantine_item_to_json(*item, true);
    j.pop_back();
    j += ",\"audit\":[";
    auto records = store->audit(id, &error);
    for (size_t i = 0; i < records.size(); ++i)
      j += (i ? "," : "") + audit_record_to_json(records[i]);
    out << j << "]}\n";
    return 0;
  }
  if (cmd == "release") {
    auto item = store->get(id, &error);
    if (!item) {
      err << "sandgate quarantine release: " << error << "\n";
      return 1;
    }
    if (item->state != QuarantineState::held) {
      err << "sandgate quarantine release: item " << id << " is "
          << quarantine_state_name(item->state) << ", not held\n";
      return 1;
    }
    if (item->channel == "mail") {
      auto path = store->content_path(id, &error);
      if (!path) {
        err << "sandgate quarantine release: " << error << "\n";
        return 1;
      }
      ReinjectRequest req;
      req.next_hop = config.smtp.next_hop;
      req.sender = item->sender;
      req.recipients = opt.count("--to") ? std::vector<std::string>{opt["--to"]} : item->recipients;
      req.message_path = *path;
      req.released_header_value = id + "; by=" + actor + "; " + iso_time(now_unix_ms());
      if (!smtp_reinject(req, &error)) {
        err << "sandgate quarantine release: " << error << " (item stays held)\n";
        return 1;
      }
    }
    if (!store->set_state(id, QuarantineState::released, actor, &error)) {
      // The next hop has the message; say so loudly rather than hide it.
      err << "sandgate quarantine release: delivered, but could not record it: " << error << "\n";
      return 1;
    }
    out << "released " << id
        << (item->channel == "mail" ? " to " + config.smtp.next_hop.to_string() : std::string())
        << "\n";
    return 0;
  }
  if (cmd == "delete") {
    if (!store->set_state(id, QuarantineState::deleted, actor, &error)) {
      err << "sandgate quarantine delete: " << error << "\n";
      return 1;
    }
    out << "deleted " << id << "\n";
    return 0;
  }
  if (cmd == "export") {
    auto path = store->content_path(id, &error);
    if (!path) {
      err << "sandgate quarantine export: " << error << "\n";
      return 1;
    }
    const std::string& dest = opt["--out"];
    int in = ::open(path->c_str(), O_RDONLY | O_CLOEXEC);
    // O_EXCL: exporting hostile content never overwrites an existing file.
    int o = ::open(dest.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = in >= 0 && o >= 0;
    char buf[1 << 16];
    while (ok) {
      ssize_t n = ::read(in, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0 || ::write(o, buf, static_cast<size_t>(n)) != n) ok = false;
    }
    if (o >= 0 && ::close(o) != 0) ok = false;
    if (in >= 0) ::close(in);
    if (!ok) {
      err << "sandgate quarantine export: cannot write " << dest << ": " << std::strerror(errno)
          << "\n";
      if (o >= 0) ::unlink(dest.c_str());
      return 1;
    }
    out << "exported " << id << " to " << dest << "\n";
    return 0;
  }
  // purge
  auto n = store->purge(now_unix_ms() - *purge_ms, actor, &error);
  if (!n) {
    err << "sandgate quarantine purge: " << error << "\n";
    return 1;
  }
  out << "purged " << *n << " item" << (*n == 1 ? "" : "s") << "\n";
  return 0;
}

}  // namespace sandgate
