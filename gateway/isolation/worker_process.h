// Internal to gateway/isolation: the zygote and worker processes of the
// WorkerPool and the framing of their sockets (see worker_process.cc for the
// wire format). Not for use outside this folder.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/engine.h"
#include "gateway/isolation/sandbox.h"
#include "gateway/isolation/worker_pool.h"
#include "policies/language/policy_store.h"

namespace sandgate::isolation {

constexpr size_t kFrame = 32 * 1024;        // one SOCK_SEQPACKET message, flag byte excluded
constexpr size_t kMaxJob = 4u << 20;        // name + facts; recipients are bounded by SMTP
constexpr size_t kMaxReport = 256u << 20;   // a report of max_objects objects fits well below
constexpr size_t kMaxControl = 64u << 10;   // zygote requests and answers

enum class Recv { ok, eof, timeout, error };

void close_fd(int& fd);
// One JSON line on stderr; no locks, usable in any process of the pool.
void log_raw(const std::string& event, const std::string& message);

// Sends data as frames; pass_fd (if >= 0) rides on the first. False when the
// peer is gone.
bool send_frames(int fd, std::string_view data, int pass_fd);
// Reads frames up to the last one into out (at most max_bytes). With a
// deadline, never waits past it. *got_fd (if given) receives the first
// descriptor passed; any other is closed.
Recv recv_frames(int fd, std::optional<std::chrono::steady_clock::time_point> deadline, size_t max_bytes,
                 std::string& out, int* got_fd);

// Where a worker keeps the object and stage it is at (ScanProgress), in a
// page it shares with the front: a memfd the worker makes before it is
// confined and passes with its "ready" frame. The front reads it after a
// crash or a kill to name the object in engine.crash / engine.timeout. The
// worker is not trusted: the front clips the length and keeps printable
// ASCII only.
struct ProgressPage {
  static constexpr size_t kBytes = 4096;
  static constexpr size_t kText = kBytes - sizeof(uint32_t);
  volatile uint32_t length;  // of text; 0 while being rewritten or unknown
  char text[kText];
};
static_assert(sizeof(ProgressPage) == ProgressPage::kBytes);
// Maps a progress memfd (read-write for the worker, read-only for the front);
// nullptr on failure. Unmap with ::munmap(page, ProgressPage::kBytes).
ProgressPage* map_progress_page(int fd, bool writable);
// The front's reading: "" when nothing is recorded.
std::string read_progress(const ProgressPage* page);

// "killed by signal 11 (SIGSEGV)" / "exited with status 0".
std::string describe_status(int status);

// The zygote's loop on the control socket `ctl`; never returns.
// REQUIRES: called in a fresh child of the single-threaded front `front`.
[[noreturn]] void zygote_main(int ctl, const WorkerPoolOptions& options, policy_lang::PolicyStore& store,
                              std::optional<UnprivilegedUser> user, pid_t front);

}  // namespace sandgate::isolation
