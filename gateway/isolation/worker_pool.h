// WorkerPool: runs scan_submission in confined worker processes (see
// docs/isolation.md). The front process (network, spool, quarantine) keeps the
// pool; a job is the spool file as an open read-only descriptor (SCM_RIGHTS
// over a SOCK_SEQPACKET socketpair) plus the name and facts as JSON; the
// worker answers with the report as JSON.
//
// Process model: start() forks one "zygote" while the front is still single-
// threaded (fork of a multi-threaded process would copy locks held by other
// threads: OpenSSL, Poco, stdio). The zygote holds the policy, forks every
// worker on request, reaps them and removes their scratch directories. On a
// policy reload the front tells the zygote to reload the same file; workers
// forked before that are retired before their next job.
//
// Guarantees:
// - scan() never throws and never waits forever: a job's deadline is the
//   profile's limits.max_seconds plus a grace; past it the worker is killed.
// - A worker that crashes (any signal, including SIGSYS from seccomp), is
//   killed for its deadline, or runs out of memory costs only that
//   submission: its report is the profile's on_error decision over a root
//   object carrying engine.crash / engine.timeout / engine.memory. Other
//   jobs run in other workers and are untouched; the worker is replaced.
// - Workers are replaced after jobs_per_worker jobs or past rss_mark_bytes.
// Thread-safe: scan() may be called from any number of threads.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/engine.h"
#include "gateway/isolation/sandbox.h"
#include "policies/language/policy_store.h"

namespace sandgate {

class Metrics;

struct WorkerPoolOptions {
  int workers = 0;                      // 0: number of cores + 1
  int jobs_per_worker = 1000;           // then the worker is replaced
  uint64_t rss_mark_bytes = 768ull << 20;  // a worker past this peak RSS is replaced
  double grace_seconds = 2;             // added to the profile's max_seconds
  SandboxLimits limits;                 // rlimits of each worker
  std::string scratch_root;             // workers' private directories are made here
  std::string user = "nobody";          // dropped to when started as root; "" keeps root
  bool seccomp = true;                  // false only for debugging
};

// Outcome counters (also exported as metrics when a Metrics is given).
struct WorkerPoolStats {
  uint64_t jobs = 0;
  uint64_t crashes = 0;
  uint64_t timeouts = 0;
  uint64_t memory = 0;
  uint64_t spawned = 0;
  int alive = 0;
};

class WorkerPool {
 public:
  using Logger = std::function<void(const std::string& line)>;

  // `store` must outlive the pool. `metrics` may be null.
  WorkerPool(WorkerPoolOptions options, policy_lang::PolicyStore& store, Metrics* metrics = nullptr,
             Logger log = {});
  ~WorkerPool();  // stops every worker and the zygote
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Forks the zygote and the first workers. REQUIRES: the process has no other
  // thread yet (see the file comment) and store.ok().
  bool start(std::string* error);

  // Scans one submission in a worker with the store's current policy.
  Report scan(const Submission& submission);

  WorkerPoolStats stats() const;
  // Pids of the idle workers (tests read their /proc/PID/limits).
  std::vector<pid_t> idle_worker_pids() const;
  int size() const { return size_; }

 private:
  struct Worker;
  enum class Outcome { ok, crash, timeout, memory, lost_before_start };

  std::unique_ptr<Worker> acquire(uint64_t generation);
  void release(std::unique_ptr<Worker> worker, bool keep);
  std::unique_ptr<Worker> spawn(uint64_t generation, std::string* error);
  // Keeps the pool at its size: a worker that crashed, was retired or is
  // from an older policy is replaced in the background, so the next job does
  // not wait for a fork and its warm-up.
  void refill_loop();
  bool sync_policy(uint64_t generation, std::string* error);
  std::string exit_status(pid_t pid);
  Outcome run_job(Worker& w, const Submission& sub, int spool_fd, double deadline_s, Report& report,
                  std::string& evidence, bool& retire);
  Report failure_report(const Submission& sub, const Policy& policy, Outcome outcome, const std::string& evidence,
                        uint64_t size, std::string sha256) const;
  void count(Outcome outcome);

  WorkerPoolOptions options_;
  policy_lang::PolicyStore& store_;
  Metrics* metrics_;
  Logger log_;
  int size_ = 1;

  std::mutex control_mu_;  // one request/answer on the zygote channel at a time
  int control_fd_ = -1;
  pid_t zygote_pid_ = -1;
  uint64_t zygote_generation_ = 0;

  mutable std::mutex mu_;
  std::condition_variable cv_;         // an idle worker or a free place: for acquire()
  std::condition_variable refill_cv_;  // the pool fell below its size, or stopping_
  std::vector<std::unique_ptr<Worker>> idle_;
  int alive_ = 0;  // idle + busy + being spawned
  bool stopping_ = false;
  std::thread refiller_;
  WorkerPoolStats stats_;
};

}  // namespace sandgate
