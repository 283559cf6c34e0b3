// The worker pool (see worker_pool.h and docs/isolation.md).
// The front side lives here; the zygote and the worker loop, and the wire
// format, are in worker_process.cc.
#include "gateway/isolation/worker_pool.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <thread>

#include <openssl/evp.h>


#include "gateway/http/metrics.h"
#include "gateway/isolation/wire.h"
#include "gateway/isolation/worker_process.h"
#include "gateway/uuid.h"
#include "unpack/hex.h"

SANDGATE_DECLARE_FINDINGS({
    {"engine.crash", sandgate::Severity::high,
     "the scan worker died on this submission (crash or a refused system call): it was not fully inspected"},
    {"engine.timeout", sandgate::Severity::high,
     "the scan worker passed the time limit and was stopped: the submission was not fully inspected"},
    {"engine.memory", sandgate::Severity::high,
     "the scan worker ran out of memory: the submission was not fully inspected"},
});

namespace sandgate {

using namespace isolation;

namespace {

using Clock = std::chrono::steady_clock;

// SHA-256 of the submission for a report the worker could not make (the
// quarantine and the operator look items up by it). Empty on a read error.
std::string sha256_of(int fd) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) return {};
  std::vector<char> buf(1 << 16);
  bool ok = EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1;
  off_t off = 0;
  while (ok) {
    ssize_t n = ::pread(fd, buf.data(), buf.size(), off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    ok = EVP_DigestUpdate(ctx, buf.data(), static_cast<size_t>(n)) == 1;
    off += n;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  ok = ok && EVP_DigestFinal_ex(ctx, md, &len) == 1;
  EVP_MD_CTX_free(ctx);
  return ok ? hex_lower(md, len) : std::string();
}

int pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  return -1;
#endif
}

}  // namespace

struct WorkerPool::Worker {
  pid_t pid = -1;
  int fd = -1;
  int pidfd = -1;
  uint64_t generation = 0;
  int jobs = 0;
  ProgressPage* progress = nullptr;  // shared with the worker, read-only here
  ~Worker() {
    close_fd(fd);  // the worker reads EOF and exits; the zygote reaps it
    close_fd(pidfd);
    if (progress) ::munmap(progress, ProgressPage::kBytes);
  }
  // " while scanning PATH (STAGE)" when the worker recorded where it was.
  std::string where() const {
    std::string at = read_progress(progress);
    return at.empty() ? std::string() : " while scanning " + at;
  }
  void kill() const {
#ifdef SYS_pidfd_send_signal
    if (pidfd >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, nullptr, 0) == 0) return;
#endif
    if (pid > 0) ::kill(pid, SIGKILL);
  }
};

WorkerPool::WorkerPool(WorkerPoolOptions options, policy_lang::PolicyStore& store, Metrics* metrics, Logger log)
    : options_(std::move(options)), store_(store), metrics_(metrics), log_(std::move(log)) {
  size_ = options_.workers > 0 ? options_.workers
                               : static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) + 1;
  if (!log_) log_ = [](const std::string& line) { log_raw("isolation", line); };
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  refill_cv_.notify_all();
  if (refiller_.joinable()) refiller_.join();
  {
    std::lock_guard lock(mu_);
    idle_.clear();
    alive_ = 0;
  }
  close_fd(control_fd_);  // the zygote reads EOF, kills and reaps what is left, exits
  if (zygote_pid_ > 0) {
    int status;
    ::waitpid(zygote_pid_, &status, 0);
  }
  if (metrics_) metrics_->set_workers_alive(0);
}

bool WorkerPool::start(std::string* error) {
  auto fail = [&](const std::string& m) {
    if (error) *error = m;
    return false;
  };
  if (!store_.ok()) return fail("no policy loaded");
  if (options_.scratch_root.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    options_.scratch_root = std::string(tmp && *tmp ? tmp : "/tmp") + "/sandgate-scratch";
  }
  std::error_code ec;
  std::filesystem::create_directories(options_.scratch_root, ec);
  if (ec) return fail("cannot create " + options_.scratch_root + ": " + ec.message());
  std::string why;
  auto user = lookup_unprivileged_user(options_.user, &why);
  if (!why.empty()) return fail(why);
  if (user) ::chmod(options_.scratch_root.c_str(), 0711);  // workers reach only their own directory

  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0)
    return fail(std::string("socketpair: ") + std::strerror(errno));
  const pid_t front = ::getpid();
  zygote_generation_ = store_.generation();
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(sv[0]);
    ::close(sv[1]);
    return fail(std::string("fork: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(sv[0]);
    zygote_main(sv[1], options_, store_, user, front);
  }
  ::close(sv[1]);
  control_fd_ = sv[0];
  zygote_pid_ = pid;

  // The first workers now, so a confinement problem stops the start.
  std::vector<std::unique_ptr<Worker>> first;
  for (int i = 0; i < size_; ++i) {
    std::string err;
    auto w = spawn(zygote_generation_, &err);
    if (!w) return fail("cannot start a scan worker: " + err);
    first.push_back(std::move(w));
  }
  std::lock_guard lock(mu_);
  for (auto& w : first) idle_.push_back(std::move(w));
  alive_ = size_;
  if (metrics_) metrics_->set_workers_alive(alive_);
  refiller_ = std::thread(&WorkerPool::refill_loop, this);
  return true;
}

void WorkerPool::refill_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    if (alive_ >= size_) {
      refill_cv_.wait(lock);
      continue;
    }
    ++alive_;
    lock.unlock();
    std::string err;
    auto w = spawn(store_.generation(), &err);
    if (!w) log_("cannot start a scan worker: " + err);
    lock.lock();
    if (!w) {
      --alive_;
      // Not in a loop of forks: a zygote that cannot spawn now is asked
      // again in a second (and acquire() still tries on demand).
      refill_cv_.wait_for(lock, std::chrono::seconds(1), [this] { return stopping_; });
      continue;
    }
    idle_.push_back(std::move(w));
    if (metrics_) metrics_->set_workers_alive(alive_);
    cv_.notify_one();
  }
}

std::string WorkerPool::exit_status(pid_t pid) {
  std::lock_guard lock(control_mu_);
  std::string answer;
  if (control_fd_ < 0 || !send_frames(control_fd_, "W" + std::to_string(pid), -1) ||
      recv_frames(control_fd_, Clock::now() + std::chrono::seconds(5), kMaxControl, answer, nullptr) != Recv::ok)
    return "status unknown";
  return answer;
}

bool WorkerPool::sync_policy(uint64_t generation, std::string* error) {
  // REQUIRES: control_mu_ held.
  std::string answer;
  if (control_fd_ < 0 || !send_frames(control_fd_, "P", -1) ||
      recv_frames(control_fd_, Clock::now() + std::chrono::seconds(60), kMaxControl, answer, nullptr) != Recv::ok) {
    *error = "the worker pool's zygote is not answering";
    return false;
  }
  zygote_generation_ = generation;
  auto current = store_.current();
  if (current && current->compiled().sha256 != answer)
    log_("the scan workers loaded policy " + answer + ", the front has " + current->compiled().sha256 +
         " (the file changed again meanwhile; the next reload aligns them)");
  return true;
}

std::unique_ptr<WorkerPool::Worker> WorkerPool::spawn(uint64_t generation, std::string* error) {
  std::lock_guard lock(control_mu_);
  if (generation > zygote_generation_ && !sync_policy(generation, error)) return nullptr;
  std::string answer;
  int fd = -1;
  if (control_fd_ < 0 || !send_frames(control_fd_, "S", -1) ||
      recv_frames(control_fd_, Clock::now() + std::chrono::seconds(30), kMaxControl, answer, &fd) != Recv::ok) {
    close_fd(fd);
    *error = "the worker pool's zygote is not answering";
    return nullptr;
  }
  if (answer.empty() || answer[0] != 'S' || fd < 0) {
    close_fd(fd);
    *error = answer.empty() ? "no answer" : answer.substr(1);
    return nullptr;
  }
  auto w = std::make_unique<Worker>();
  w->pid = static_cast<pid_t>(std::atoi(answer.c_str() + 1));
  w->fd = fd;
  w->pidfd = pidfd_open(w->pid);
  w->generation = zygote_generation_;
  // Wait until it is confined (and its libraries warm) before using it.
  std::string ready;
  int page_fd = -1;
  Recv r = recv_frames(fd, Clock::now() + std::chrono::seconds(30), kMaxControl, ready, &page_fd);
  if (page_fd >= 0) {
    struct stat st {};
    // Only a page the worker can no longer shrink (sealed), or reading it
    // could fault this process.
    const int seals = ::fcntl(page_fd, F_GET_SEALS);
    if (seals >= 0 && (seals & F_SEAL_SHRINK) && ::fstat(page_fd, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_size >= static_cast<off_t>(ProgressPage::kBytes))
      w->progress = map_progress_page(page_fd, false);
    close_fd(page_fd);
  }
  if (r != Recv::ok || ready != "Y") {
    w->kill();
    std::string answer2;
    // (control_mu_ is held: ask the zygote directly.)
    if (send_frames(control_fd_, "W" + std::to_string(w->pid), -1) &&
        recv_frames(control_fd_, Clock::now() + std::chrono::seconds(5), kMaxControl, answer2, nullptr) == Recv::ok)
      *error = "the worker " + answer2 + " before it was ready";
    else
      *error = "the worker did not get ready";
    return nullptr;
  }
  std::lock_guard slock(mu_);
  ++stats_.spawned;
  return w;
}

std::unique_ptr<WorkerPool::Worker> WorkerPool::acquire(uint64_t generation) {
  std::unique_lock lock(mu_);
  while (true) {
    while (!idle_.empty()) {
      auto w = std::move(idle_.back());
      idle_.pop_back();
      if (w->generation >= generation) return w;
      --alive_;  // made before the policy reload: retired (closing its socket ends it)
      refill_cv_.notify_one();
    }
    if (alive_ < size_) {
      ++alive_;
      lock.unlock();
      std::string err;
      auto w = spawn(generation, &err);
      if (w) {
        if (metrics_) {
          std::lock_guard relock(mu_);
          metrics_->set_workers_alive(alive_);
        }
        return w;
      }
      log_("cannot start a scan worker: " + err);
      lock.lock();
      --alive_;
      cv_.notify_one();
      refill_cv_.notify_one();
      return nullptr;
    }
    cv_.wait(lock);
  }
}

void WorkerPool::release(std::unique_ptr<Worker> w, bool keep) {
  std::lock_guard lock(mu_);
  if (keep) {
    idle_.push_back(std::move(w));
  } else {
    w.reset();
    --alive_;
    refill_cv_.notify_one();
  }
  if (metrics_) metrics_->set_workers_alive(alive_);
  cv_.notify_one();
}

WorkerPool::Outcome WorkerPool::run_job(Worker& w, const Submission& sub, int spool_fd, double deadline_s,
                                        Report& report, std::string& evidence, bool& retire) {
  retire = true;
  if (!send_frames(w.fd, job_to_wire(sub, deadline_s), spool_fd)) return Outcome::lost_before_start;
  std::string answer;
  auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(deadline_s));
  Recv r = recv_frames(w.fd, deadline, kMaxReport, answer, nullptr);
  if (r == Recv::timeout) {
    w.kill();
    evidence = "no answer within " + std::to_string(static_cast<int>(deadline_s)) + " s; the worker was killed" +
               w.where();
    return Outcome::timeout;
  }
  if (r != Recv::ok) {
    w.kill();
    std::string status = exit_status(w.pid);
    evidence = "the scan worker " + status + w.where();
    // RLIMIT_CPU (set a little past the deadline) ends a spinning worker.
    return status.find("SIGXCPU") != std::string::npos ? Outcome::timeout : Outcome::crash;
  }
  if (answer.size() < 2) {
    w.kill();
    evidence = "malformed answer from the scan worker";
    return Outcome::crash;
  }
  retire = answer[1] == '1';
  std::string_view payload(answer);
  payload.remove_prefix(2);
  if (answer[0] == 'M') {
    evidence = std::string(payload) + w.where();
    return Outcome::memory;
  }
  if (answer[0] == 'R') {
    std::string err;
    if (report_from_wire(payload, report, &err)) return Outcome::ok;
    w.kill();
    retire = true;
    evidence = "unreadable report from the scan worker: " + err;
    return Outcome::crash;
  }
  evidence = std::string(payload) + w.where();
  retire = true;
  return Outcome::crash;
}

Report WorkerPool::failure_report(const Submission& sub, const Policy& policy, Outcome outcome,
                                  const std::string& evidence, uint64_t size, std::string sha256) const {
  Report report;
  report.id = random_uuid();
  Object root;
  root.name = sub.name.empty() ? std::filesystem::path(sub.spool_path).filename().string() : sub.name;
  root.path = root.name;
  root.size = size;
  root.sha256 = std::move(sha256);  // so hash lists still apply
  switch (outcome) {
    case Outcome::timeout:
      root.findings.push_back(make_finding("engine.timeout", "the scan passed its time limit and was stopped",
                                           evidence));
      break;
    case Outcome::memory:
      root.findings.push_back(make_finding("engine.memory", "the scan ran out of memory", evidence));
      break;
    default:
      root.findings.push_back(make_finding("engine.crash", "the scan worker died on this submission", evidence));
      break;
  }
  report.objects.push_back(std::move(root));
  // The policy decides as for any engine failure: the profile's on_error.
  report.decision = policy.decide(report.objects, sub.facts);
  return report;
}

void WorkerPool::count(Outcome outcome) {
  const char* kind = nullptr;
  {
    std::lock_guard lock(mu_);
    ++stats_.jobs;
    switch (outcome) {
      case Outcome::crash: ++stats_.crashes; kind = "crash"; break;
      case Outcome::timeout: ++stats_.timeouts; kind = "timeout"; break;
      case Outcome::memory: ++stats_.memory; kind = "memory"; break;
      default: break;
    }
  }
  if (kind && metrics_) metrics_->count_worker_failure(kind);
}

Report WorkerPool::scan(const Submission& sub) {
  const auto t0 = Clock::now();
  std::shared_ptr<const Policy> policy = store_.current();
  const uint64_t generation = store_.generation();
  int fd = ::open(sub.spool_path.c_str(), O_RDONLY | O_CLOEXEC);
  struct stat st {};
  if (!policy || fd < 0 || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    // Nothing to parse: the engine's own report for an unreadable submission.
    if (fd >= 0) ::close(fd);
    return policy ? scan_submission(sub, *policy) : Report{};
  }
  // The worker reads through the passed descriptor (never the path), so a
  // worker running as another user needs no permission on the spool file.
  const double deadline_s = policy->limits_for(sub.facts).max_seconds + options_.grace_seconds;

  Report report;
  std::string evidence;
  Outcome outcome = Outcome::crash;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto w = acquire(generation);
    if (!w) {
      evidence = "no scan worker could be started";
      outcome = Outcome::crash;
      break;
    }
    bool retire = true;
    outcome = run_job(*w, sub, fd, deadline_s, report, evidence, retire);
    const bool keep = outcome == Outcome::ok && !retire && ++w->jobs < options_.jobs_per_worker;
    if (outcome != Outcome::ok && outcome != Outcome::lost_before_start)
      log_("scan worker " + std::to_string(w->pid) + " failed on '" + sub.name + "': " + evidence);
    release(std::move(w), keep);
    if (outcome != Outcome::lost_before_start) break;
    // It had died while idle (the job never started): another worker.
    evidence = "the scan worker was gone before the job started";
    outcome = Outcome::crash;
  }
  count(outcome);
  if (outcome == Outcome::ok) {
    ::close(fd);
    return report;
  }
  Report failed =
      failure_report(sub, *policy, outcome, evidence, static_cast<uint64_t>(st.st_size), sha256_of(fd));
  ::close(fd);
  failed.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return failed;
}

WorkerPoolStats WorkerPool::stats() const {
  std::lock_guard lock(mu_);
  WorkerPoolStats s = stats_;
  s.alive = alive_;
  return s;
}

std::vector<pid_t> WorkerPool::idle_worker_pids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> pids;
  for (const auto& w : idle_) pids.push_back(w->pid);
  return pids;
}

}  // namespace sandgate
