// PolicyStore: hot reload of the running policy (see policy_store.h).
#include "policies/language/policy_store.h"

#include <sys/stat.h>

#include <iostream>

namespace sandgate::policy_lang {

PolicyStore::PolicyStore(std::string path, Logger logger)
    : path_(std::move(path)), logger_(std::move(logger)) {
  // Stamp before loading: an edit racing the load is then seen as a change.
  LoadResult r = load_policy_file(path_);
  std::vector<Stamp> stamps = stamp(r.files);
  initial_diags_ = r.diagnostics;
  std::lock_guard lock(mu_);
  stamps_ = std::move(stamps);
  if (r.ok()) {
    current_ = std::make_shared<const YamlPolicy>(r.policy);
  } else {
    for (const auto& d : r.diagnostics) log(d.format());
  }
}

PolicyStore::~PolicyStore() { stop_watching(); }

std::shared_ptr<const YamlPolicy> PolicyStore::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

void PolicyStore::log(const std::string& line) const {
  if (logger_) {
    logger_(line);
  } else {
    std::cerr << "sandgate: " << line << "\n";
  }
}

std::vector<PolicyStore::Stamp> PolicyStore::stamp(const std::vector<std::string>& files) {
  std::vector<Stamp> out;
  out.reserve(files.size());
  for (const auto& f : files) {
    Stamp s;
    s.path = f;
    struct stat st {};
    if (::stat(f.c_str(), &st) == 0) {
      s.exists = true;
      s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
      s.size = static_cast<uint64_t>(st.st_size);
      s.inode = static_cast<uint64_t>(st.st_ino);
    }
    out.push_back(std::move(s));
  }
  return out;
}

ReloadResult PolicyStore::reload_now() {
  std::lock_guard reload_lock(reload_mu_);
  ReloadResult res;
  std::vector<std::string> files;
  {
    std::lock_guard lock(mu_);
    for (const auto& s : stamps_) files.push_back(s.path);
  }
  std::vector<Stamp> before = stamp(files);
  // Compile off to the side; nothing shared is touched until the swap.
  LoadResult r = load_policy_file(path_);
  std::vector<Stamp> stamps = stamp(r.files);
  res.diagnostics = r.diagnostics;
  std::shared_ptr<const YamlPolicy> next;
  if (r.ok()) next = std::make_shared<const YamlPolicy>(r.policy);
  {
    std::lock_guard lock(mu_);
    // If a file changed while loading, keep the old stamps for it so the
    // watcher reloads again and the final content wins.
    stamps_ = std::move(stamps);
    for (auto& s : stamps_)
      for (const auto& b : before)
        if (b.path == s.path && !(b == s)) s = b;
    if (next) {
      if (current_ && current_->compiled().sha256 == next->compiled().sha256) {
        res.unchanged = true;
      } else {
        current_ = next;
        res.swapped = true;
      }
    }
    res.sha256 = current_ ? current_->compiled().sha256 : std::string();
  }
  if (res.swapped) {
    ++generation_;
    log("policy " + path_ + " reloaded: name '" + next->compiled().name + "', sha256 " +
        res.sha256);
  } else if (!next) {
    log("policy " + path_ + " NOT reloaded, " + std::to_string(r.error_count()) +
        " error(s); still serving sha256 " + res.sha256 + ":");
    for (const auto& d : r.diagnostics) log("  " + d.format());
  }
  return res;
}

void PolicyStore::start_watching(std::chrono::milliseconds interval) {
  if (watcher_.joinable()) return;
  watcher_ = std::jthread([this, interval](std::stop_token st) { watch_loop(st, interval); });
}

void PolicyStore::stop_watching() {
  if (!watcher_.joinable()) return;
  watcher_.request_stop();
  watcher_.join();
}

void PolicyStore::watch_loop(std::stop_token stop, std::chrono::milliseconds interval) {
  using namespace std::chrono;
  const auto tick = std::min<milliseconds>(interval, milliseconds(100));
  auto next_poll = steady_clock::now() + interval;
  while (!stop.stop_requested()) {
    std::this_thread::sleep_for(tick);
    if (stop.stop_requested()) break;
    bool reload = reload_requested_.exchange(false, std::memory_order_relaxed);
    if (!reload && steady_clock::now() >= next_poll) {
      next_poll = steady_clock::now() + interval;
      std::vector<Stamp> known;
      {
        std::lock_guard lock(mu_);
        known = stamps_;
      }
      std::vector<std::string> files;
      for (const auto& s : known) files.push_back(s.path);
      reload = stamp(files) != known;
    }
    if (reload) reload_now();
  }
}

}  // namespace sandgate::policy_lang
