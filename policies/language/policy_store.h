// PolicyStore: the running service's current policy, with safe hot reload.
//
// Guarantees:
// - current() hands out a std::shared_ptr to an immutable policy; a scan that
//   took one finishes on that version even if a reload swaps in another.
// - reload_now() loads, validates and compiles the file off to the side and
//   swaps it in atomically only when it has no errors; otherwise the old
//   policy keeps serving and the errors are returned and logged.
// - The watcher (start_watching) polls the policy file and every file it
//   includes (list and YARA files) for changes of mtime, size or inode, and
//   services request_reload(), which is async-signal-safe (call it from a
//   SIGHUP handler).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"

namespace sandgate::policy_lang {

struct ReloadResult {
  bool swapped = false;    // a new version is now current
  bool unchanged = false;  // valid, but the same SHA-256 as the current one
  std::vector<Diagnostic> diagnostics;
  std::string sha256;  // of the policy now current
};

class PolicyStore {
 public:
  using Logger = std::function<void(const std::string& line)>;

  // Loads `path`; check ok() (the first load has no old policy to fall back on).
  // `logger` receives one line per event (default: stderr).
  explicit PolicyStore(std::string path, Logger logger = {});
  ~PolicyStore();
  PolicyStore(const PolicyStore&) = delete;
  PolicyStore& operator=(const PolicyStore&) = delete;

  bool ok() const { return current() != nullptr; }
  const std::vector<Diagnostic>& initial_diagnostics() const { return initial_diags_; }

  // The policy to scan with; null only when the first load failed.
  std::shared_ptr<const YamlPolicy> current() const;

  // Reloads synchronously now (SIGHUP path from a normal thread, or tests).
  ReloadResult reload_now();

  // Async-signal-safe: asks the watcher thread to reload at its next tick.
  void request_reload() noexcept { reload_requested_.store(true, std::memory_order_relaxed); }

  // Starts the watcher thread: polls file stamps every `interval` and serves
  // request_reload() within ~100 ms. Idempotent. stop_watching() (or the
  // destructor) joins it.
  void start_watching(std::chrono::milliseconds interval = std::chrono::milliseconds(1000));
  void stop_watching();

  // Number of successful swaps since construction (for tests and metrics).
  uint64_t generation() const { return generation_.load(); }

 private:
  struct Stamp {
    std::string path;
    bool exists = false;
    int64_t mtime_ns = 0;
    uint64_t size = 0;
    uint64_t inode = 0;
    bool operator==(const Stamp&) const = default;
  };
  static std::vector<Stamp> stamp(const std::vector<std::string>& files);
  void watch_loop(std::stop_token stop, std::chrono::milliseconds interval);
  void log(const std::string& line) const;

  std::string path_;
  Logger logger_;
  mutable std::mutex mu_;  // guards current_ and stamps_
  std::shared_ptr<const YamlPolicy> current_;
  std::vector<Stamp> stamps_;  // of the files of the last load attempt
  std::mutex reload_mu_;       // one reload at a time
  std::vector<Diagnostic> initial_diags_;
  std::atomic<bool> reload_requested_{false};
  std::atomic<uint64_t> generation_{0};
  std::jthread watcher_;
};

}  // namespace sandgate::policy_lang
