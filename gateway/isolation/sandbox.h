// Confinement of one scan worker process (see docs/isolation.md): resource
// limits, a private scratch directory, an unprivileged user when started as
// root, PR_SET_NO_NEW_PRIVS and a seccomp filter that kills the process on any
// system call scanning does not need (no socket, connect, ptrace, mount...).
//
// Guarantees: each step reports failure with a message instead of going on
// half-confined; after install_seccomp_filter() returns true the process can no
// longer create sockets, trace or signal other processes' threads, or lift the
// filter (seccomp filters are inherited by children and cannot be removed).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace sandgate {

struct SandboxLimits {
  uint64_t address_space_bytes = 1ull << 30;  // RLIMIT_AS
  uint64_t file_size_bytes = 4ull << 30;      // RLIMIT_FSIZE (scratch files, 7zz output)
  int open_files = 64;                        // RLIMIT_NOFILE
};

// Sets RLIMIT_AS, RLIMIT_FSIZE, RLIMIT_NOFILE and RLIMIT_CORE (0). False with
// *error when the kernel refuses one.
bool apply_resource_limits(const SandboxLimits& limits, std::string* error);
// False in AddressSanitizer builds, whose shadow memory cannot live under
// RLIMIT_AS: workers then run without the address-space limit (and a runaway
// allocation ends as a crash report, not engine.memory).
bool address_space_limited();

// Lets the current process use `seconds` more CPU seconds (RLIMIT_CPU soft
// limit = CPU used so far + seconds; SIGXCPU past it). Called before each job
// because the limit counts the process's whole life, and a worker serves many.
void limit_cpu_for_next_job(double seconds);

struct UnprivilegedUser {
  uid_t uid = 0;
  gid_t gid = 0;
};

// The user to drop to: nullopt when this process is not root (nothing to drop)
// or when `name` is empty. *error is set when `name` does not exist.
std::optional<UnprivilegedUser> lookup_unprivileged_user(const std::string& name, std::string* error);

// setgroups({}), setgid, setuid; then checks that setuid(0) fails.
bool drop_privileges(const UnprivilegedUser& user, std::string* error);

// PR_SET_NO_NEW_PRIVS, then the filter (default action: kill the process).
// With the environment variable SANDGATE_SECCOMP_TRACE=1 the default action
// is a trap whose handler prints the refused system call's number to stderr
// before exiting (for finding what a new code path needs; never in service).
bool install_seccomp_filter(std::string* error);

}  // namespace sandgate
