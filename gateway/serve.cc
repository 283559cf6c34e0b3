// `sandgate serve` (see serve.h). Signals are blocked in every thread (the
// mask is set before any thread starts) and taken synchronously by the main
// thread with sigtimedwait, so no work happens in a signal handler.
#include "gateway/serve.h"

#include <malloc.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <ostream>
#include <semaphore>
#include <thread>

#include "gateway/http/http_server.h"
#include "gateway/http/metrics.h"
#include "gateway/isolation/worker_pool.h"
#include "gateway/report_json.h"
#include "gateway/smtp/content_filter.h"
#include "gateway/smtp/smtp_relay.h"
#include "gateway/smtp/smtp_server.h"
#include "gateway/quarantine/open_store.h"
#include "gateway/quarantine/store.h"
#include "policies/language/policy_store.h"

#ifndef SANDGATE_SOURCE_ROOT
#define SANDGATE_SOURCE_ROOT "."
#endif

namespace sandgate {

namespace {

constexpr const char* kServeUsage =
    "usage: sandgate serve [--config FILE] [--http HOST:PORT] [--smtp HOST:PORT]\n"
    "                      [--next-hop HOST:PORT] [--data-dir DIR] [--policy FILE]\n"
    "                      [--no-isolation]\n";

std::string json_event(const std::string& event, const std::string& message) {
  std::string l = "{\"event\":";
  append_json_string(l, event);
  l += ",\"message\":";
  append_json_string(l, message);
  l += "}";
  return l;
}

// The quarantine as the service uses it: opened at start, and when that fails
// (database down, directory not writable) opened again on a later call, at
// most every few seconds, so the service recovers without a restart. Until
// then every call fails with the reason, and the intake refuses (451/503)
// whatever it would have held.
class ReopeningStore : public QuarantineStore {
 public:
  ReopeningStore(QuarantineConfig config, std::string data_dir, std::function<void(const std::string&)> log)
      : config_(std::move(config)), data_dir_(std::move(data_dir)), log_(std::move(log)) {
    std::lock_guard lock(mu_);
    open_locked();
  }

  std::optional<std::string> put(const std::string& content_path, QuarantineItem item, std::string* error) override {
    QuarantineStore* s = store(error);
    return s ? s->put(content_path, std::move(item), error) : std::nullopt;
  }
  std::optional<QuarantineItem> get(const std::string& id, std::string* error) override {
    QuarantineStore* s = store(error);
    return s ? s->get(id, error) : std::nullopt;
  }
  std::vector<QuarantineItem> list(const QuarantineFilter& filter, std::string* error) override {
    QuarantineStore* s = store(error);
    return s ? s->list(filter, error) : std::vector<QuarantineItem>{};
  }
  std::optional<std::string> content_path(const std::string& id, std::string* error) override {
    QuarantineStore* s = store(error);
    return s ? s->content_path(id, error) : std::nullopt;
  }
  bool set_state(const std::string& id, QuarantineState state, const std::string& actor,
                 std::string* error) override {
    QuarantineStore* s = store(error);
    return s && s->set_state(id, state, actor, error);
  }
  std::optional<size_t> purge(int64_t cutoff_unix_ms, const std::string& actor, std::string* error) override {
    QuarantineStore* s = store(error);
    return s ? s->purge(cutoff_unix_ms, actor, error) : std::nullopt;
  }
  std::vector<AuditRecord> audit(const std::string& id, std::string* error) override {
    QuarantineStore* s = store(error);
    return s ? s->audit(id, error) : std::vector<AuditRecord>{};
  }

 private:
  // The open store (once opened it stays: backends reconnect by themselves).
  QuarantineStore* store(std::string* error) {
    std::lock_guard lock(mu_);
    if (!inner_ && std::chrono::steady_clock::now() >= next_try_) open_locked();
    if (!inner_) *error = "the quarantine store is not available: " + last_error_;
    return inner_.get();
  }

  void open_locked() {
    std::string err;
    inner_ = open_quarantine_store(config_, data_dir_, &err);
    if (inner_) {
      if (!last_error_.empty()) log_(json_event("quarantine", "the quarantine store is open again"));
      last_error_.clear();
      return;
    }
    if (err != last_error_)
      log_(json_event("quarantine", "cannot open the quarantine store (held items are refused): " + err));
    last_error_ = err;
    next_try_ = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  }

  const QuarantineConfig config_;
  const std::string data_dir_;
  std::function<void(const std::string&)> log_;
  std::mutex mu_;
  std::unique_ptr<QuarantineStore> inner_;
  std::string last_error_;
  std::chrono::steady_clock::time_point next_try_{};
};

}  // namespace

bool build_serve_config(const std::vector<std::string>& args, ServiceConfig& config, std::ostream& err) {
  std::string config_file, http, smtp, next_hop, data_dir, policy;
  bool no_isolation = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string* target = nullptr;
    if (a == "--no-isolation") {
      no_isolation = true;
      continue;
    }
    if (a == "--config") target = &config_file;
    else if (a == "--http") target = &http;
    else if (a == "--smtp") target = &smtp;
    else if (a == "--next-hop") target = &next_hop;
    else if (a == "--data-dir") target = &data_dir;
    else if (a == "--policy") target = &policy;
    else {
      err << "sandgate serve: unknown argument '" << a << "'\n" << kServeUsage;
      return false;
    }
    if (i + 1 >= args.size()) {
      err << "sandgate serve: " << a << " needs a value\n" << kServeUsage;
      return false;
    }
    *target = args[++i];
  }
  if (!config_file.empty()) {
    ConfigResult r = load_service_config(config_file);
    if (!r.config) {
      for (const auto& e : r.errors) err << e << "\n";
      return false;
    }
    config = std::move(*r.config);
  } else {
    // (Copied from a named object: GCC 12 at -O3 warns about a temporary
    // ServiceConfig{} "maybe uninitialized", a false positive under -Werror.)
    static const ServiceConfig kDefaults;
    config = kDefaults;
    config.source = "(embedded defaults)";
    // The shipped policy, from the working directory (the repository, as the
    // README runs it) or else from the source tree this binary was built from.
    if (!std::filesystem::exists(config.policy_path))
      config.policy_path = std::string(SANDGATE_SOURCE_ROOT) + "/policies/default.yaml";
  }
  std::string why;
  auto override_hp = [&](const std::string& v, const char* flag, HostPort& hp) {
    if (v.empty()) return true;
    auto p = parse_host_port(v, &why);
    if (!p) {
      err << "sandgate serve: " << flag << ": " << why << "\n";
      return false;
    }
    hp = *p;
    return true;
  };
  if (!override_hp(http, "--http", config.http.listen) || !override_hp(smtp, "--smtp", config.smtp.listen) ||
      !override_hp(next_hop, "--next-hop", config.smtp.next_hop))
    return false;
  if (!data_dir.empty()) config.data_dir = data_dir;
  if (!policy.empty()) config.policy_path = policy;
  if (no_isolation) config.isolation.enabled = false;
  return true;
}

namespace {

// SIGHUP also re-reads the configuration file for its API tokens (adding or
// revoking a token must not need a restart). Only the tokens change: the
// listeners, TLS, limits and data directory are bound at start. A file that
// no longer validates keeps the tokens in force and says why.
void reload_tokens(const ServiceConfig& running, Authenticator& auth,
                   const std::function<void(const std::string&)>& log_line) {
  if (running.source.empty() || running.source == "(embedded defaults)") return;
  ConfigResult r = load_service_config(running.source);
  if (!r.config) {
    std::string why;
    for (const auto& e : r.errors) why += (why.empty() ? "" : "; ") + e;
    log_line(json_event("config", "API tokens NOT reloaded: " + why));
    return;
  }
  const size_t n = r.config->http.tokens.size();
  auth.replace(std::move(r.config->http.tokens), r.config->http.allow_loopback_without_token);
  log_line(json_event("config", "API tokens reloaded from " + running.source + ": " +
                                    std::to_string(n) + " token(s)"));
}

}  // namespace

int run_serve(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  (void)out;
  // Scans run on whichever of the many HTTP threads got the request; with
  // glibc's default of 8 arenas per core each keeping up to the trim
  // threshold of freed memory, RSS grew past 500 MiB with 64 uploads of
  // 10 MB (bench/http_scan.sh). Few arenas keep it bounded.
  mallopt(M_ARENA_MAX, 2);
  // Scans allocate multi-megabyte buffers (decoded attachments, the YARA
  // window). glibc raises its mmap threshold each time such a block is freed,
  // after which they come from the heap and freed memory stays in the
  // process: RSS reached 330 MiB with 100 SMTP sessions of 10 MB messages
  // (bench/smtp_relay.sh). A fixed threshold keeps big blocks in mmap, given
  // back to the system when freed.
  mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  ServiceConfig config;
  if (!build_serve_config(args, config, err)) return 2;

  // Block the signals we wait for before any thread exists, so every thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);

  std::error_code ec;
  for (const char* sub : {"spool", "quarantine"}) {
    std::filesystem::create_directories(std::filesystem::path(config.data_dir) / sub, ec);
    if (ec) {
      err << "sandgate serve: cannot create " << config.data_dir << "/" << sub << ": " << ec.message() << "\n";
      return 2;
    }
  }
  // One service per data directory: the lock is held until the process ends
  // (also by kill -9), so a second instance cannot clear the spool of a
  // running one below.
  const std::string lock_path = config.data_dir + "/serve.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0 || ::flock(lock_fd, LOCK_EX | LOCK_NB) != 0) {
    err << "sandgate serve: the data directory " << config.data_dir
        << " is in use by another sandgate serve (" << lock_path << " is locked)\n";
    return 2;
  }
  // Spool files left by a previous run that was killed belong to messages and
  // uploads that were never acknowledged (their senders retry): remove them.
  size_t stale_spool = 0;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(config.data_dir) / "spool", ec)) {
    std::error_code rec;
    if (e.is_regular_file(rec) && std::filesystem::remove(e.path(), rec)) ++stale_spool;
  }

  Metrics metrics;
  auto log_line = [&err](const std::string& line) {
    static std::mutex mu;
    std::lock_guard lock(mu);
    err << line << "\n";
    err.flush();
  };
  policy_lang::PolicyStore store(config.policy_path, [&](const std::string& line) {
    if (line.find("NOT reloaded") != std::string::npos) metrics.count_reload_failure();
    log_line(json_event("policy", line));
  });
  if (!store.ok()) {
    for (const auto& d : store.initial_diagnostics()) err << d.format() << "\n";
    err << "sandgate serve: the policy " << config.policy_path << " could not be loaded\n";
    return 2;
  }

  // Scan workers: forked now, while this process has no other thread (see
  // gateway/isolation/worker_pool.h), before the watcher and the intake start.
  std::unique_ptr<WorkerPool> pool;
  if (config.isolation.enabled) {
    WorkerPoolOptions po;
    po.workers = config.isolation.workers;
    po.jobs_per_worker = config.isolation.jobs_per_worker;
    po.limits.address_space_bytes = config.isolation.memory_bytes;
    po.user = config.isolation.user;
    po.scratch_root = (std::filesystem::path(config.data_dir) / "scratch").string();
    pool = std::make_unique<WorkerPool>(po, store, &metrics,
                                        [&](const std::string& l) { log_line(json_event("isolation", l)); });
    std::string perr;
    if (!pool->start(&perr)) {
      err << "sandgate serve: scan workers: " << perr << " (--no-isolation scans in-process)\n";
      return 2;
    }
  }
  store.start_watching();
  if (stale_spool > 0)
    log_line(json_event("spool", "removed " + std::to_string(stale_spool) +
                                     " spool file(s) left by an earlier run (never acknowledged)"));

  // The quarantine: held mail and uploads. When it cannot be opened the
  // service still runs, but whatever would be held is refused for now (mail
  // 451, uploads 503): nothing is acknowledged that was not stored.
  auto quarantine = std::make_unique<ReopeningStore>(config.quarantine, config.data_dir, log_line);

  HttpService http(config.http, config.data_dir, store, metrics);
  http.state().log_line = log_line;
  http.state().quarantine = quarantine.get();
  http.state().pool = pool.get();
  http.state().hold_uploads = true;
  http.state().next_hop = config.smtp.next_hop;
  if (const char* d = std::getenv("SANDGATE_TEST_SCAN_DELAY_MS")) http.state().test_scan_delay_ms = std::atoi(d);
  std::string error;
  if (!http.start(&error)) {
    err << "sandgate serve: " << error << "\n";
    return 2;
  }
  HostPort bound = config.http.listen;
  bound.port = http.port();

  // SMTP intake: scans on at most one slot per core (the scan is CPU-bound;
  // more sessions than cores wait here, not in the kernel).
  std::counting_semaphore<1024> scan_slots(std::clamp<int>(static_cast<int>(std::thread::hardware_concurrency()), 1, 1024));
  const std::string smtp_spool = config.data_dir + "/spool";
  smtp::ScanFunction scan = [&](const Submission& sub) {
    scan_slots.acquire();
    struct Release {
      std::counting_semaphore<1024>& s;
      ~Release() { s.release(); }
    } release{scan_slots};
    if (pool) return pool->scan(sub);
    auto policy = store.current();
    if (!policy) throw std::runtime_error("no policy loaded");
    ScanOptions opts;
    opts.scratch_dir = smtp_spool;
    return scan_submission(sub, *policy, opts);
  };
  smtp::RelayTarget target;
  target.host = config.smtp.next_hop.host;
  target.port = config.smtp.next_hop.port;
  target.helo_name = config.smtp.hostname;
  target.command_timeout_s = config.smtp.next_hop_timeout_s;
  smtp::SmtpRelay relay(target);
  smtp::FilterOptions filter_options;
  filter_options.verdict_header = config.smtp.verdict_header;
  filter_options.report_header = config.smtp.report_header;
  filter_options.tag_subject_prefix = config.smtp.tag_subject_prefix;
  filter_options.profile = config.smtp.profile;
  filter_options.notify_recipients = config.smtp.notify_recipients;
  filter_options.notify_admin = config.smtp.notify_admin;
  filter_options.notice_from = config.smtp.notice_from;
  filter_options.spool_dir = smtp_spool;
  filter_options.on_message = [&metrics](const std::string& action, int code) {
    metrics.count_smtp_message(action, code);
  };
  smtp::ContentFilter filter(scan, relay, quarantine.get(), filter_options, log_line);
  smtp::ServerOptions smtp_options;
  smtp_options.host = config.smtp.listen.host;
  smtp_options.port = config.smtp.listen.port;
  smtp_options.limits.spool_dir = smtp_spool;
  smtp_options.limits.hostname = config.smtp.hostname;
  smtp_options.limits.max_message_bytes = config.smtp.max_message_bytes;
  smtp_options.limits.max_recipients = static_cast<size_t>(config.smtp.max_recipients);
  smtp_options.limits.reject_bare_newlines = config.smtp.reject_bare_newlines;
  smtp_options.limits.xforward = config.smtp.xforward;
  smtp_options.max_connections = config.smtp.max_connections;
  smtp_options.command_timeout_s = config.smtp.command_timeout_s;
  smtp_options.data_timeout_s = config.smtp.data_timeout_s;
  smtp_options.tls_cert = config.smtp.tls_cert;
  smtp_options.tls_key = config.smtp.tls_key;
  smtp_options.on_session = [&metrics](smtp::SessionEvent e) {
    switch (e) {
      case smtp::SessionEvent::opened: metrics.smtp_session_opened(); break;
      case smtp::SessionEvent::refused: metrics.count_smtp_refused(); break;
      case smtp::SessionEvent::closed: metrics.smtp_session_closed(); break;
    }
  };
  metrics.enable_smtp();
  smtp::SmtpServer smtp_server(smtp_options, filter, log_line);
  if (!smtp_server.start(&error)) {
    err << "sandgate serve: smtp: " << error << "\n";
    http.stop(std::chrono::milliseconds(0));
    return 2;
  }
  HostPort smtp_bound = config.smtp.listen;
  smtp_bound.port = smtp_server.port();
  {
    std::string l = "{\"event\":\"listening\",\"http\":";
    append_json_string(l, std::string(http.tls() ? "https://" : "http://") + bound.to_string());
    l += ",\"config\":";
    append_json_string(l, config.source);
    l += ",\"policy\":";
    append_json_string(l, config.policy_path);
    l += ",\"policy_sha256\":";
    append_json_string(l, store.current()->compiled().sha256);
    l += ",\"data_dir\":";
    append_json_string(l, config.data_dir);
    l += ",\"smtp\":";
    append_json_string(l, smtp_bound.to_string());
    l += ",\"next_hop\":";
    append_json_string(l, config.smtp.next_hop.to_string());
    l += ",\"scan_workers\":" + std::to_string(pool ? pool->size() : 0);
    l += "}";
    log_line(l);
  }

  // Retention: items older than quarantine.retention are purged (with an
  // audit record each) every quarantine.purge_every, first a minute after start.
  auto next_purge = std::chrono::steady_clock::now() + std::chrono::seconds(
      std::min<int64_t>(60, config.quarantine.retention_interval_s));
  while (true) {
    if (config.quarantine.retention_s > 0 && std::chrono::steady_clock::now() >= next_purge) {
      next_purge = std::chrono::steady_clock::now() + std::chrono::seconds(config.quarantine.retention_interval_s);
      std::string perr;
      const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                 std::chrono::system_clock::now().time_since_epoch()).count();
      auto n = quarantine->purge(now_ms - config.quarantine.retention_s * 1000, "retention", &perr);
      if (!n) log_line(json_event("retention", "purge failed (will retry): " + perr));
      else if (*n > 0) log_line(json_event("retention", "purged " + std::to_string(*n) + " quarantined item(s)"));
    }
    timespec tick{1, 0};
    int sig = sigtimedwait(&signals, nullptr, &tick);
    if (sig == SIGHUP) {
      log_line(json_event("signal", "SIGHUP: reloading the policy"));
      store.request_reload();
      reload_tokens(config, http.state().auth, log_line);
    } else if (sig == SIGTERM || sig == SIGINT) {
      log_line(json_event("signal", std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                                        ": stopping; finishing requests in progress"));
      break;
    }
  }
  smtp_server.stop();
  http.stop();
  store.stop_watching();
  log_line(json_event("stopped", "all requests finished"));
  return 0;
}

}  // namespace sandgate
