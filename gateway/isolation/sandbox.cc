// Worker confinement (see sandbox.h and docs/isolation.md for the allow list
// and why each entry is there).
#include "gateway/isolation/sandbox.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace sandgate {

namespace {

bool set_limit(int resource, rlim_t value, const char* name, std::string* error) {
  struct rlimit r {value, value};
  if (::setrlimit(resource, &r) == 0) return true;
  // Lowering both limits always works unprivileged; a hard limit already below
  // the wanted value is kept (it is stricter).
  struct rlimit cur {};
  if (::getrlimit(resource, &cur) == 0 && cur.rlim_max != RLIM_INFINITY && cur.rlim_max < value) {
    cur.rlim_cur = cur.rlim_max;
    if (::setrlimit(resource, &cur) == 0) return true;
  }
  if (error) *error = std::string("setrlimit(") + name + "): " + std::strerror(errno);
  return false;
}

// System calls a scan needs. Read from the descriptors it was given and from
// files it opens (its scratch directory, /proc/self/fd/N re-opens, libmagic's
// database, the CA bundle for Authenticode), write scratch files, map memory,
// and run the confined `7zz` child for disk images (fork/execve/wait4 and what
// a dynamically linked, multi-threaded 7zz needs at start).
constexpr const char* kAllowed[] = {
    // I/O on descriptors it holds or opens.
    "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2",
    "pwritev2", "lseek", "close", "close_range", "fstat", "newfstatat", "statx", "stat", "lstat",
    "fstatfs", "statfs", "openat", "open", "access", "faccessat", "faccessat2", "readlink",
    "readlinkat", "getcwd", "chdir", "fchdir", "getdents64", "getdents", "fcntl", "dup", "dup2",
    "dup3", "pipe", "pipe2", "poll", "ppoll", "select", "pselect6", "ftruncate", "fallocate",
    "fsync", "fdatasync", "fadvise64", "copy_file_range", "sendfile", "splice",
    // Scratch files and 7zz's output tree (inside the scratch directory).
    "mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2",
    "chmod", "fchmod", "fchmodat", "utimensat", "utime", "utimes", "futimesat", "umask",
    "symlink", "symlinkat", "link", "linkat",
    // The already-connected job socket (no socket can be created).
    "sendmsg", "recvmsg", "sendto", "recvfrom", "shutdown",
    // Memory.
    "mmap", "munmap", "mremap", "mprotect", "brk", "madvise", "mincore", "membarrier",
    // Threads, time, identity.
    "futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "set_tid_address",
    "arch_prctl", "clock_gettime", "clock_getres", "clock_nanosleep", "nanosleep", "gettimeofday",
    "time", "getrandom", "getpid", "gettid", "getppid", "getuid", "geteuid", "getgid", "getegid",
    "getgroups", "getresuid", "getresgid", "getpgid", "getpgrp", "getsid", "sched_yield",
    "sched_getaffinity", "sched_getparam", "sched_getscheduler", "getpriority", "uname",
    "sysinfo", "prlimit64", "getrlimit", "setrlimit", "getrusage", "times", "capget",
    // Signals (kill/tkill targets are not restricted: see docs/isolation.md).
    "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "rt_sigpending",
    "sigaltstack", "tgkill", "tkill", "kill", "restart_syscall", "pause",
    // The 7zz child (unpack/image/sevenzip_fs.cc): fork, its own process
    // group, death signal, limits, exec, wait. clone also starts the thread
    // that verifies Authenticode signatures (analyzers/pe/authenticode.h).
    "clone", "clone3", "fork", "vfork", "execve", "wait4", "waitid", "setpgid", "prctl",
    "exit", "exit_group",
};

// Refused with an error instead of a kill: harmless calls libraries or 7zz
// make and cope with failing (sevenzip_fs.cc unshares its network namespace
// "where permitted"; 7zz restores owners of extracted files).
constexpr const char* kRefused[] = {"unshare", "chown", "fchown", "lchown", "fchownat",
                                    "sched_setaffinity", "setpriority", "ioctl",
                                    "personality", "mlock", "munlock"};

void trace_sigsys(int, siginfo_t* info, void*) {
  char msg[64];
  int n = 0;
  const char head[] = "sandgate worker: seccomp refused syscall ";
  (void)!::write(2, head, sizeof head - 1);
  unsigned v = static_cast<unsigned>(info->si_syscall);
  char digits[16];
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v && n < 15);
  for (int i = 0; i < n; ++i) msg[i] = digits[n - 1 - i];
  msg[n++] = '\n';
  (void)!::write(2, msg, static_cast<size_t>(n));
  ::_exit(128 + SIGSYS);
}

}  // namespace

bool address_space_limited() {
  // AddressSanitizer reserves terabytes of shadow address space up front:
  // under RLIMIT_AS nothing could be mapped any more. Sanitizer builds (the
  // CI's second test run) therefore confine workers without it.
#if defined(__SANITIZE_ADDRESS__)
  return false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return false;
#else
  return true;
#endif
#else
  return true;
#endif
}

bool apply_resource_limits(const SandboxLimits& l, std::string* error) {
  return set_limit(RLIMIT_CORE, 0, "RLIMIT_CORE", error) &&
         (!address_space_limited() ||
          set_limit(RLIMIT_AS, static_cast<rlim_t>(l.address_space_bytes), "RLIMIT_AS", error)) &&
         set_limit(RLIMIT_FSIZE, static_cast<rlim_t>(l.file_size_bytes), "RLIMIT_FSIZE", error) &&
         set_limit(RLIMIT_NOFILE, static_cast<rlim_t>(l.open_files), "RLIMIT_NOFILE", error);
}

void limit_cpu_for_next_job(double seconds) {
  struct rusage ru {};
  if (::getrusage(RUSAGE_SELF, &ru) != 0) return;
  rlim_t used = static_cast<rlim_t>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + 1;
  struct rlimit r {};
  if (::getrlimit(RLIMIT_CPU, &r) != 0) return;
  rlim_t want = used + static_cast<rlim_t>(seconds < 1 ? 1 : seconds);
  if (r.rlim_max != RLIM_INFINITY && want > r.rlim_max) want = r.rlim_max;
  r.rlim_cur = want;
  ::setrlimit(RLIMIT_CPU, &r);
}

std::optional<UnprivilegedUser> lookup_unprivileged_user(const std::string& name, std::string* error) {
  if (::geteuid() != 0 || name.empty()) return std::nullopt;
  struct passwd pw {};
  struct passwd* found = nullptr;
  std::vector<char> buf(16384);
  if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) {
    if (error) *error = "no such user '" + name + "' to run scan workers as";
    return std::nullopt;
  }
  if (found->pw_uid == 0) {
    if (error) *error = "the scan worker user '" + name + "' is root";
    return std::nullopt;
  }
  return UnprivilegedUser{found->pw_uid, found->pw_gid};
}

bool drop_privileges(const UnprivilegedUser& user, std::string* error) {
  auto fail = [&](const char* what) {
    if (error) *error = std::string(what) + ": " + std::strerror(errno);
    return false;
  };
  if (::setgroups(0, nullptr) != 0) return fail("setgroups");
  if (::setresgid(user.gid, user.gid, user.gid) != 0) return fail("setresgid");
  if (::setresuid(user.uid, user.uid, user.uid) != 0) return fail("setresuid");
  if (::setuid(0) == 0) {
    errno = EPERM;
    return fail("privileges could be regained");
  }
  return true;
}

bool install_seccomp_filter(std::string* error) {
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    if (error) *error = std::string("PR_SET_NO_NEW_PRIVS: ") + std::strerror(errno);
    return false;
  }
  const char* trace = std::getenv("SANDGATE_SECCOMP_TRACE");
  const bool tracing = trace && std::strcmp(trace, "1") == 0;
  if (tracing) {
    struct sigaction sa {};
    sa.sa_sigaction = trace_sigsys;
    sa.sa_flags = SA_SIGINFO;
    ::sigaction(SIGSYS, &sa, nullptr);
  }
  scmp_filter_ctx ctx = seccomp_init(tracing ? SCMP_ACT_TRAP : SCMP_ACT_KILL_PROCESS);
  if (!ctx) {
    if (error) *error = "seccomp_init failed";
    return false;
  }
  int rc = 0;
  for (const char* name : kAllowed) {
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;  // not on this architecture
    if ((rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0)) != 0) break;
  }
  for (const char* name : kRefused) {
    if (rc != 0) break;
    int nr = seccomp_syscall_resolve_name(name);
    if (nr == __NR_SCMP_ERROR) continue;
    // ioctl: only the terminal query isatty() makes; the rest fail too.
    rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(std::strcmp(name, "ioctl") == 0 ? ENOTTY : EPERM), nr, 0);
  }
  if (rc == 0) rc = seccomp_load(ctx);
  seccomp_release(ctx);
  if (rc != 0) {
    if (error) *error = std::string("seccomp filter: ") + std::strerror(-rc);
    return false;
  }
  return true;
}

}  // namespace sandgate
