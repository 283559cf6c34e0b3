// The HTTP API's request handling: routing, auth, admission (backpressure),
// body streaming to the spool with the size limit, the scan, the JSON
// response, the per-request log line and the metrics. One handler object per
// request (Poco creates it through ApiHandlerFactory); shared state lives in
// ApiState.
//
// Guarantees: every request gets a JSON answer ({"error": "...", "status": N}
// for errors, never a stack trace); the body is never held in memory whole;
// a body over the limit is refused with 413 before reading when Content-Length
// announces it and as soon as the streamed count passes it; at most
// max_in_flight scan requests are admitted (503 + Retry-After beyond), of
// which at most scan_workers scan at once; spool files are deleted after the
// scan whatever happens.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>

#include "gateway/config.h"
#include "gateway/http/auth.h"
#include "gateway/http/metrics.h"
#include "policies/language/policy_store.h"

namespace sandgate {

class QuarantineStore;
class WorkerPool;

// Shared by every request of one service. Thread-safe.
struct ApiState {
  ApiState(HttpConfig config, std::string spool_dir, policy_lang::PolicyStore& store, Metrics& metrics);

  HttpConfig config;
  std::string spool_dir;  // request bodies and multipart parts, deleted after the scan
  policy_lang::PolicyStore& store;
  Metrics& metrics;
  Authenticator auth;
  bool tls = false;
  // Where held uploads go, and what /v1/quarantine administers; null: none
  // (then a held upload is answered 503: never acknowledged unstored).
  QuarantineStore* quarantine = nullptr;
  HostPort next_hop;  // where /v1/quarantine/ID/release re-injects mail
  // Store held uploads in `quarantine` before answering (sandgate serve sets
  // it; a store that is missing or failing then means 503).
  bool hold_uploads = false;
  std::function<void(const std::string&)> log_line;  // one JSON line per request; default stderr
  // Scans run in these confined worker processes; null: in this process.
  WorkerPool* pool = nullptr;

  std::atomic<int> in_flight{0};  // admitted /v1/scan requests
  std::atomic<bool> stopping{false};

  ~ApiState();
  // Runs `job` on one of `workers` scan threads and waits for it; jobs wait
  // in a queue bounded by in_flight. Scans run on these few threads only (not
  // on the many HTTP threads), so per-thread engine state such as libmagic's
  // mapped database exists `workers` times, not once per HTTP thread.
  // Test hook: a scan holds its worker `test_scan_delay_ms` longer.
  void run_scan(const std::function<void()>& job);
  int waiting() const { return waiting_.load(); }
  int workers = 1;
  int test_scan_delay_ms = 0;

  Metrics::Gauges gauges() const;
  void write_log(const std::string& line);

 private:
  void worker_loop();
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable done_cv_;
  struct Job {
    const std::function<void()>* fn;
    bool done = false;
  };
  std::deque<Job*> queue_;
  bool quit_ = false;
  std::vector<std::thread> threads_;
  std::atomic<int> waiting_{0};
  std::mutex log_mu_;
};

class ApiHandlerFactory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit ApiHandlerFactory(ApiState& state) : state_(state) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest& request) override;

 private:
  ApiState& state_;
};

}  // namespace sandgate
