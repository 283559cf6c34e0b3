// Service metrics and their Prometheus text exposition (format 0.0.4): counters
// with labels, gauges and one histogram, written by hand (Debian 12 has no
// prometheus-cpp). Label values are escaped per the format (\\, \", \n).
// Thread-safe: every method may be called from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace sandgate {

class Metrics {
 public:
  Metrics();

  void count_request(int status);
  void count_scan(const std::string& verdict, const std::string& profile, double seconds, uint64_t bytes);
  void count_engine_error() { engine_errors_.fetch_add(1); }
  void count_engine_timeout() { engine_timeouts_.fetch_add(1); }
  void count_reload_failure() { reload_failures_.fetch_add(1); }
  void count_rejected_busy() { rejected_busy_.fetch_add(1); }
  // Scan workers (gateway/isolation): a submission lost to a worker that died
  // ("crash"), was killed at its deadline ("timeout") or ran out of memory
  // ("memory"); and how many workers are running.
  void count_worker_failure(const std::string& kind);
  void set_workers_alive(int64_t n) { workers_alive_.store(n); }
  // SMTP intake (rendered once enable_smtp() was called): each message by
  // the policy's action ("error" when it could not be scanned) and the class
  // of the reply the sending server got ("2xx", "4xx", "5xx"); sessions
  // opened, refused at connect (421: full or shutting down) and open now.
  void enable_smtp() { smtp_enabled_.store(true); }
  void count_smtp_message(const std::string& action, int reply_code);
  void smtp_session_opened() { smtp_sessions_.fetch_add(1), smtp_active_.fetch_add(1); }
  void smtp_session_closed() { smtp_active_.fetch_sub(1); }
  void count_smtp_refused() { smtp_refused_.fetch_add(1); }

  // Gauges read at scrape time (set by the service).
  struct Gauges {
    int64_t in_flight = 0;       // admitted /v1/scan requests
    int64_t queue_depth = 0;     // requests waiting for a scan worker
    int64_t max_in_flight = 0;
    uint64_t policy_reloads = 0;  // successful swaps
    int policy_loaded = 0;
  };

  // The whole exposition, text/plain; version=0.0.4.
  std::string render(const Gauges& g) const;

  static std::string escape_label(const std::string& v);
  static const std::vector<double>& duration_buckets();

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> requests_by_status_;
  std::map<std::pair<std::string, std::string>, uint64_t> scans_;  // (verdict, profile)
  std::vector<uint64_t> bucket_counts_;                            // non-cumulative, + Inf last
  double duration_sum_ = 0;
  uint64_t duration_count_ = 0;
  uint64_t bytes_scanned_ = 0;
  std::atomic<uint64_t> engine_errors_{0};
  std::atomic<uint64_t> engine_timeouts_{0};
  std::atomic<uint64_t> reload_failures_{0};
  std::atomic<uint64_t> rejected_busy_{0};
  std::map<std::string, uint64_t> worker_failures_;  // by kind, under mu_
  std::atomic<int64_t> workers_alive_{-1};           // -1: no worker pool (in-process scans)
  std::atomic<bool> smtp_enabled_{false};
  std::map<std::pair<std::string, std::string>, uint64_t> smtp_messages_;  // (action, reply class), under mu_
  std::atomic<uint64_t> smtp_sessions_{0};
  std::atomic<uint64_t> smtp_refused_{0};
  std::atomic<int64_t> smtp_active_{0};
};

}  // namespace sandgate
