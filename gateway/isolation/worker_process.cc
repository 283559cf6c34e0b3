// The processes of the worker pool (see worker_pool.h): the zygote, which
// forks and reaps the workers, and the worker's confined job loop; and the
// framing both sides of every socket use.
//
// Wire format, on SOCK_SEQPACKET sockets (message boundaries kept): a payload
// travels as frames of at most kFrame bytes, each a flag byte ('M' more
// follows, 'L' last) and a slice; a descriptor rides on the first frame.
//   front -> worker  job:    job_to_wire (wire.h) + spool fd
//   worker -> front  ready:  "Y" once confined, before the first job
//                    answer: kind ('R' report, 'M' out of memory, 'E' error),
//                            retire ('1' the worker exits after this answer),
//                            then the report (report_to_wire) or the evidence
//   front -> zygote  "S" spawn (answer "PID" + the worker's socket),
//                    "P" reload the policy (answer its SHA-256),
//                    "W PID" exit status of a dead worker (answer text)
// Zygote and workers leave only through _exit: they are copies of the front
// and must not run its destructors (threads to join, files to flush).
#include "gateway/isolation/worker_process.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <vector>

#include "gateway/isolation/wire.h"
#include "gateway/report_json.h"

namespace sandgate::isolation {

using Clock = std::chrono::steady_clock;

void close_fd(int& fd) {
  if (fd >= 0) ::close(fd);
  fd = -1;
}

// One line on stderr, usable in the zygote and the workers (no locks).
void log_raw(const std::string& event, const std::string& message) {
  std::string l = "{\"event\":";
  append_json_string(l, event);
  l += ",\"pid\":" + std::to_string(::getpid()) + ",\"message\":";
  append_json_string(l, message);
  l += "}\n";
  (void)!::write(2, l.data(), l.size());
}

bool send_frames(int fd, std::string_view data, int pass_fd) {
  size_t off = 0;
  bool first = true;
  do {
    size_t n = std::min(kFrame, data.size() - off);
    char flag = off + n == data.size() ? 'L' : 'M';
    struct iovec iov[2] = {{&flag, 1}, {const_cast<char*>(data.data() + off), n}};
    struct msghdr m {};
    m.msg_iov = iov;
    m.msg_iovlen = 2;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int))] = {};
    if (first && pass_fd >= 0) {
      m.msg_control = cbuf;
      m.msg_controllen = sizeof cbuf;
      struct cmsghdr* c = CMSG_FIRSTHDR(&m);
      c->cmsg_level = SOL_SOCKET;
      c->cmsg_type = SCM_RIGHTS;
      c->cmsg_len = CMSG_LEN(sizeof(int));
      std::memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    ssize_t r;
    do r = ::sendmsg(fd, &m, MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0) return false;
    off += n;
    first = false;
  } while (off < data.size());
  return true;
}

// Reads frames up to the last one. With a deadline, never waits past it.
// *got_fd (if given) receives the first descriptor passed; others are closed.
Recv recv_frames(int fd, std::optional<Clock::time_point> deadline, size_t max_bytes, std::string& out,
                 int* got_fd) {
  out.clear();
  std::vector<char> buf(kFrame + 1);
  while (true) {
    if (deadline) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*deadline - Clock::now()).count();
      if (left <= 0) return Recv::timeout;
      struct pollfd p {fd, POLLIN, 0};
      int pr = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
      if (pr < 0 && errno != EINTR) return Recv::error;
      if (pr <= 0) continue;
    }
    struct iovec iov {buf.data(), buf.size()};
    struct msghdr m {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    alignas(struct cmsghdr) char cbuf[CMSG_SPACE(sizeof(int) * 4)];
    m.msg_control = cbuf;
    m.msg_controllen = sizeof cbuf;
    ssize_t n = ::recvmsg(fd, &m, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno == ECONNRESET ? Recv::eof : Recv::error;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
      size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int passed;
        std::memcpy(&passed, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
        if (got_fd && *got_fd < 0) *got_fd = passed;
        else ::close(passed);
      }
    }
    if (n == 0) return Recv::eof;
    if (m.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return Recv::error;
    if (out.size() + static_cast<size_t>(n) - 1 > max_bytes) return Recv::error;
    out.append(buf.data() + 1, static_cast<size_t>(n) - 1);
    if (buf[0] == 'L') return Recv::ok;
    if (buf[0] != 'M') return Recv::error;
  }
}

ProgressPage* map_progress_page(int fd, bool writable) {
  void* p = ::mmap(nullptr, ProgressPage::kBytes, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED,
                   fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<ProgressPage*>(p);
}

std::string read_progress(const ProgressPage* page) {
  if (!page) return {};
  size_t n = std::min<size_t>(page->length, ProgressPage::kText);
  std::string out;
  out.reserve(std::min<size_t>(n, 300));
  for (size_t i = 0; i < n && out.size() < 300; ++i) {
    char c = page->text[i];
    out += (c >= 0x20 && c < 0x7f) ? c : '?';
  }
  return out;
}

static void plant_fault(std::string_view hay);

namespace {
// The worker's side: "PATH (STAGE)" into the shared page.
class PageProgress final : public ScanProgress {
 public:
  explicit PageProgress(ProgressPage* page, bool faults) : page_(page), faults_(faults) {}
  void at(std::string_view object_path, std::string_view stage, std::string_view name) override {
    record(object_path, stage, name);
    // Tests: a fault planted in an object inside the submission (a zip
    // entry named with the marker), with the page naming it.
    if (faults_ && stage == "type detection") {
      size_t slash = object_path.rfind('/');
      if (slash != std::string_view::npos) plant_fault(object_path.substr(slash + 1));
    }
  }
  void record(std::string_view object_path, std::string_view stage, std::string_view name) {
    if (!page_) return;
    page_->length = 0;
    __atomic_thread_fence(__ATOMIC_RELEASE);
    size_t n = 0;
    auto put = [&](std::string_view s) {
      size_t k = std::min(s.size(), ProgressPage::kText - n);
      std::memcpy(page_->text + n, s.data(), k);
      n += k;
    };
    put(object_path);
    put(" (");
    put(stage);
    if (!name.empty()) {
      put(" ");
      put(name);
    }
    put(")");
    __atomic_thread_fence(__ATOMIC_RELEASE);
    page_->length = static_cast<uint32_t>(n);
  }
  void clear() {
    if (page_) page_->length = 0;
  }

 private:
  ProgressPage* page_;
  bool faults_;
};
}  // namespace

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    const char* abbrev = sigabbrev_np(sig);
    std::string s = "killed by signal " + std::to_string(sig);
    if (abbrev) s += std::string(" (SIG") + abbrev + ")";
    if (sig == SIGSYS) s += ": a system call refused by the seccomp filter";
    return s;
  }
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  return "ended";
}

// Planted faults for the containment tests: armed only when the environment
// variable SANDGATE_TEST_FAULT is set (by a test), triggered by the marker
// "sandgate-test-fault-KIND" in the submission's name or its first 64 KiB.
// Plants the fault a marker "sandgate-test-fault-KIND" in hay asks for.
static void plant_fault(std::string_view hay) {
  auto has = [&](const char* kind) { return hay.find(std::string("sandgate-test-fault-") + kind) != std::string::npos; };
  if (has("crash")) ::raise(SIGSEGV);
  if (has("abort")) std::abort();
  if (has("syscall")) {
    int s = ::socket(AF_INET, SOCK_STREAM, 0);  // the filter kills the process here
    if (s >= 0) ::close(s);
  }
  if (has("hang")) {
    volatile uint64_t spin = 0;
    while (true) spin = spin + 1;
  }
  if (has("alloc")) {
    // Address space only (default-initialised, never touched): RLIMIT_AS
    // stops it without costing the machine real memory.
    std::vector<std::unique_ptr<char[]>> hoard;
    while (true) hoard.emplace_back(new char[16u << 20]);
  }
}

static bool faults_armed() {
  const char* armed = std::getenv("SANDGATE_TEST_FAULT");
  return armed && *armed;
}

// Before the scan: a marker in the submission's name or first 64 KiB.
static void maybe_fault(const Submission& sub, int fd) {
  if (!faults_armed()) return;
  std::string hay = sub.name;
  std::vector<char> head(64 * 1024);
  ssize_t n = ::pread(fd, head.data(), head.size(), 0);
  if (n > 0) hay.append(head.data(), static_cast<size_t>(n));
  plant_fault(hay);
}

static void warm_up(const std::string& scratch, const Policy& policy) {
  // Loads what the engine opens lazily (libmagic's database, per-thread
  // state) while files may still be opened freely.
  std::string path = scratch + "/warm-up";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  static const char kBytes[] = "\x7f\x01 warm-up bytes, not any known type\n";
  (void)!::write(fd, kBytes, sizeof kBytes - 1);
  ::close(fd);
  Submission sub;
  sub.spool_path = path;
  sub.name = "warm-up";
  ScanOptions opts;
  opts.scratch_dir = scratch;
  try {
    (void)scan_submission(sub, policy, opts);
  } catch (...) {
  }
  ::unlink(path.c_str());
}

[[noreturn]] static void worker_main(int sock, const std::string& scratch, const WorkerPoolOptions& o,
                              std::shared_ptr<const Policy> policy, std::optional<UnprivilegedUser> user) {
  std::string err;
  auto die = [&](const std::string& what) {
    log_raw("worker", "cannot confine the scan worker: " + what);
    ::_exit(70);
  };
  if (!apply_resource_limits(o.limits, &err)) die(err);
  if (::chdir(scratch.c_str()) != 0) die("chdir " + scratch + ": " + std::strerror(errno));
  ::setenv("TMPDIR", scratch.c_str(), 1);  // where the 7zz reader makes its directory
  if (user && !drop_privileges(*user, &err)) die(err);
  warm_up(scratch, *policy);
  // The progress page (made before seccomp, which has no memfd_create).
  // Sealed at its size: the front maps it too, and a page that could shrink
  // would fault the front when it reads it.
  int page_fd = static_cast<int>(
      ::syscall(SYS_memfd_create, "sandgate-progress", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  ProgressPage* page = nullptr;
  if (page_fd >= 0 && ::ftruncate(page_fd, ProgressPage::kBytes) == 0 &&
      ::fcntl(page_fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0)
    page = map_progress_page(page_fd, true);
  if (!page) close_fd(page_fd);  // the front then has no names, only the outcome
  PageProgress progress(page, faults_armed());
  if (o.seccomp && !install_seccomp_filter(&err)) die(err);
  if (!send_frames(sock, "Y", page_fd)) ::_exit(0);
  close_fd(page_fd);  // the mapping stays

  while (true) {
    std::string job;
    int fd = -1;
    if (recv_frames(sock, std::nullopt, kMaxJob, job, &fd) != Recv::ok) ::_exit(0);
    Submission sub;
    double seconds = 30;
    char kind = 'R';
    std::string payload;
    if (fd < 0 || !job_from_wire(job, sub, seconds)) {
      kind = 'E';
      payload = "malformed job";
    } else {
      sub.spool_path = "/proc/self/fd/" + std::to_string(fd);
      sub.spool_fd = fd;  // read through a duplicate: no path lookup in /proc
      limit_cpu_for_next_job(seconds + 1);
      ScanOptions opts;
      opts.scratch_dir = scratch;
      opts.progress = &progress;
      progress.clear();
      try {
        maybe_fault(sub, fd);
        Report report = scan_submission(sub, *policy, opts);
        payload = report_to_wire(report);
      } catch (const std::bad_alloc&) {
        kind = 'M';
        payload = "std::bad_alloc under RLIMIT_AS=" + std::to_string(o.limits.address_space_bytes);
      } catch (const std::exception& e) {
        kind = 'E';
        payload = e.what();
      } catch (...) {
        kind = 'E';
        payload = "unknown exception";
      }
    }
    close_fd(fd);
    struct rusage ru {};
    ::getrusage(RUSAGE_SELF, &ru);
    bool retire = kind != 'R' || static_cast<uint64_t>(ru.ru_maxrss) * 1024 > o.rss_mark_bytes;
    std::string answer;
    answer.reserve(payload.size() + 2);
    answer += kind;
    answer += retire ? '1' : '0';
    answer += payload;
    if (!send_frames(sock, answer, -1) || retire) ::_exit(0);
  }
}

namespace {
struct ZygoteState {
  std::map<pid_t, std::string> scratch_of;  // live workers
  std::map<pid_t, int> statuses;            // reaped, not yet asked for
};
}  // namespace

static void forget(ZygoteState& z, pid_t pid, int status) {
  auto it = z.scratch_of.find(pid);
  if (it != z.scratch_of.end()) {
    std::error_code ec;
    std::filesystem::remove_all(it->second, ec);
    z.scratch_of.erase(it);
  }
  if (z.statuses.size() > 1024) z.statuses.erase(z.statuses.begin());
  z.statuses[pid] = status;
}

[[noreturn]] void zygote_main(int ctl, const WorkerPoolOptions& o, policy_lang::PolicyStore& store,
                              std::optional<UnprivilegedUser> user, pid_t front) {
  ::setpgid(0, 0);  // out of the terminal's process group: ^C goes to the front only
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != front) ::_exit(0);
  // The front stops the pool; service managers' SIGTERM to the whole group
  // must not kill scans the front is still finishing.
  // Handlers the front installed (a test framework's crash reporter, say) do
  // not belong in workers: a crash must end the worker plainly.
  for (int sig = 1; sig < NSIG; ++sig)
    if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
  for (int sig : {SIGTERM, SIGINT, SIGHUP}) ::signal(sig, SIG_IGN);
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGCHLD, SIG_DFL);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // Keep only stdio and the control socket: nothing the front had open.
  if (ctl > 3) ::syscall(SYS_close_range, 3u, static_cast<unsigned>(ctl - 1), 0u);
  ::syscall(SYS_close_range, static_cast<unsigned>(ctl + 1), ~0u, 0u);

  std::shared_ptr<const Policy> policy = store.current();
  ZygoteState z;
  auto reply = [&](const std::string& text, int fd = -1) {
    if (!send_frames(ctl, text, fd)) ::_exit(0);
  };
  while (true) {
    int status = 0;
    pid_t dead;
    while ((dead = ::waitpid(-1, &status, WNOHANG)) > 0) forget(z, dead, status);
    struct pollfd p {ctl, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    std::string req;
    if (recv_frames(ctl, std::nullopt, kMaxControl, req, nullptr) != Recv::ok || req.empty()) {
      for (const auto& [pid, dir] : z.scratch_of) ::kill(pid, SIGKILL);
      while (::waitpid(-1, &status, 0) > 0) {
      }
      for (const auto& [pid, dir] : z.scratch_of) {
        std::error_code ec;
        std::filesystem::remove_all(dir, ec);
      }
      ::_exit(0);
    }
    if (req[0] == 'P') {
      auto r = store.reload_now();
      policy = store.current();
      reply(r.sha256);
    } else if (req[0] == 'W') {
      pid_t pid = static_cast<pid_t>(std::atoi(req.c_str() + 1));
      if (!z.statuses.count(pid) && z.scratch_of.count(pid) && ::waitpid(pid, &status, 0) == pid)
        forget(z, pid, status);
      auto it = z.statuses.find(pid);
      reply(it == z.statuses.end() ? "status unknown" : describe_status(it->second));
      if (it != z.statuses.end()) z.statuses.erase(it);
    } else if (req[0] == 'S') {
      int sv[2];
      if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        reply(std::string("Esocketpair: ") + std::strerror(errno));
        continue;
      }
      std::string dir = o.scratch_root + "/worker-XXXXXX";
      if (!::mkdtemp(dir.data())) {
        reply("Emkdtemp " + dir + ": " + std::strerror(errno));
        ::close(sv[0]);
        ::close(sv[1]);
        continue;
      }
      if (user && ::chown(dir.c_str(), user->uid, user->gid) != 0) {
        reply("Echown " + dir + ": " + std::strerror(errno));
        ::rmdir(dir.c_str());
        ::close(sv[0]);
        ::close(sv[1]);
        continue;
      }
      pid_t pid = ::fork();
      if (pid == 0) {
        ::close(ctl);
        ::close(sv[0]);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        worker_main(sv[1], dir, o, policy, user);
      }
      ::close(sv[1]);
      if (pid < 0) {
        reply(std::string("Efork: ") + std::strerror(errno));
        ::rmdir(dir.c_str());
      } else {
        z.scratch_of[pid] = dir;
        reply("S" + std::to_string(pid), sv[0]);
      }
      ::close(sv[0]);
    } else {
      reply("Eunknown request");
    }
  }
}

}  // namespace sandgate::isolation
