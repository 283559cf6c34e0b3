// `sandgate scan|serve|policy|quarantine`. Exit codes for scan: 0 all pass,
// 1 any quarantined, 2 usage or I/O error.
#include "gateway/cli.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>

#include "gateway/engine.h"
#include "gateway/policy_command.h"
#include "gateway/quarantine/quarantine_command.h"
#include "gateway/report_json.h"
#include "gateway/serve.h"
#include "policies/builtin_policy.h"

namespace sandgate {

namespace {

constexpr const char* kUsage =
    "usage: sandgate scan [--policy FILE] [--profile NAME] [--jobs N] PATH...\n"
    "       sandgate serve [--config FILE] [--http HOST:PORT] [--smtp HOST:PORT]\n"
    "                      [--next-hop HOST:PORT] [--data-dir DIR]\n"
    "       sandgate policy check FILE...\n"
    "       sandgate policy explain --policy FILE --profile NAME INPUT\n"
    "       sandgate quarantine list [--json] | show ID | release ID | delete ID\n";

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

struct ScanArgs {
  std::string policy_file;
  std::string profile;
  unsigned jobs = 0;
  std::vector<std::string> paths;
};

// Parses scan options; returns an error message or nullopt.
std::optional<std::string> parse_scan(const std::vector<std::string>& args, ScanArgs& out) {
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](const char* name) -> std::optional<std::string> {
      if (i + 1 >= args.size()) return std::nullopt;
      (void)name;
      return args[++i];
    };
    if (a == "--policy" || a == "--profile" || a == "--jobs") {
      auto v = value(a.c_str());
      if (!v) return a + " needs a value";
      if (a == "--policy") out.policy_file = *v;
      else if (a == "--profile") out.profile = *v;
      else {
        try {
          int n = std::stoi(*v);
          if (n < 1 || n > 64) return std::string("--jobs takes 1 to 64");
          out.jobs = static_cast<unsigned>(n);
        } catch (...) {
          return "--jobs takes a number, not '" + *v + "'";
        }
      }
    } else if (a == "--") {
      out.paths.insert(out.paths.end(), args.begin() + static_cast<long>(i) + 1, args.end());
      break;
    } else if (a.size() > 1 && a[0] == '-') {
      return "unknown option " + a;
    } else {
      out.paths.push_back(a);
    }
  }
  if (out.paths.empty()) return std::string("scan needs at least one PATH");
  return std::nullopt;
}

int run_scan(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  ScanArgs sa;
  if (auto e = parse_scan(args, sa)) {
    err << "sandgate scan: " << *e << "\n" << kUsage;
    return 2;
  }
  std::shared_ptr<const Policy> policy;
  if (!sa.policy_file.empty()) {
    policy = load_policy_for_cli(sa.policy_file, err);
    if (!policy) return 2;
  } else {
    policy = std::make_shared<BuiltinPolicy>();
  }

  // Scan inputs on a small pool; print reports in input order as they finish.
  size_t n = sa.paths.size();
  std::vector<std::optional<std::string>> lines(n);
  std::vector<int> status(n, 0);  // 0 pass, 1 quarantine, 2 I/O error
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> next{0};
  unsigned jobs = sa.jobs ? sa.jobs : std::max(1u, std::thread::hardware_concurrency());
  jobs = static_cast<unsigned>(std::min<size_t>(jobs, n));

  auto worker = [&] {
    for (size_t i = next++; i < n; i = next++) {
      Submission sub;
      sub.spool_path = sa.paths[i];
      sub.facts.channel = ends_with(sa.paths[i], ".eml") ? "mail" : "upload";
      sub.facts.profile = sa.profile;
      std::string line;
      int st;
      std::string error;
      if (!open_file_source(sa.paths[i], &error)) {
        st = 2;
        line = "sandgate scan: " + error;
      } else {
        Report report = scan_submission(sub, *policy);
        st = report.decision.verdict_pass() ? 0 : 1;
        line = report_to_json(report);
      }
      std::lock_guard lock(mu);
      lines[i] = std::move(line);
      status[i] = st;
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (unsigned j = 1; j < jobs; ++j) pool.emplace_back(worker);
  std::thread printer([&] {
    for (size_t i = 0; i < n; ++i) {
      std::string line;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return lines[i].has_value(); });
        line = std::move(*lines[i]);
      }
      if (status[i] == 2) {
        err << line << "\n";
      } else {
        out << line << "\n";
      }
    }
    out.flush();
  });
  worker();
  for (auto& t : pool) t.join();
  printer.join();
  return *std::max_element(status.begin(), status.end());
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string& cmd = args[0];
  if (cmd == "scan") return run_scan(args, out, err);
  if (cmd == "policy")
    return run_policy_command(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
  if (cmd == "serve")
    return run_serve(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
  if (cmd == "quarantine")
    return run_quarantine_command(std::vector<std::string>(args.begin() + 1, args.end()), out, err);
  err << "sandgate: unknown command '" << cmd << "'\n" << kUsage;
  return 2;
}

}  // namespace sandgate
