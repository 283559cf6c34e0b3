// The confined `7zz` child process (Debian's 7zip), for what no Debian
// library reads: NTFS/HFS+/APFS/UDF volumes (unpack/image/sevenzip_fs.cc)
// and encrypted 7z and RAR archives (unpack/archive/archive_unpacker.cc).
//
// Confinement of every run: the object's bytes are copied into a private
// mkdtemp scratch directory; 7zz runs there with stdin/stdout/stderr on
// /dev/null (a listing on a bounded pipe), no inherited descriptors, no new
// privileges, its own network namespace when the kernel allows, RLIMIT_CPU /
// AS / FSIZE / NOFILE / CORE, and a wall-clock deadline after which its
// process group is killed. Callers list first (-slt) and check the declared
// totals against the limits before anything is extracted; the extracted tree
// is walked with lstat semantics (symlinks and special files are never
// followed or read) and its names are data.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/limits.h"
#include "unpack/unpacker.h"

namespace sandgate::sevenzip {

// The 7zz binary, or "" when it is not installed.
std::string find_tool();

// Whether `tool` has a RAR codec, from its `7zz i` format list (asked once
// per process). Debian's 7zip has none (RAR decompression is non-free; the
// non-free package 7zip-rar adds it), so there no password can open a RAR.
bool tool_reads_rar(const std::string& tool, const Limits& lim);

// A private scratch directory, removed with everything in it.
class Scratch {
 public:
  Scratch();
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  bool ok() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

struct RunResult {
  bool ok = false;         // exited with status 0
  bool timed_out = false;  // killed at the deadline (or for too large a listing)
  std::string error;       // why not, in words
  std::string out;         // stdout when captured (at most 32 MiB)
};

// How long one 7zz run may take: what is left of the scan (ctx.seconds_left()),
// at most the whole limit and at least one second when the limit is shorter;
// 0 when the scan's time is up (do not start it).
double run_budget(const UnpackContext& ctx);

// Runs argv[0] (an absolute path) confined in cwd for at most `seconds`.
RunResult run(const std::vector<std::string>& argv, const std::string& cwd, const Limits& lim,
              double seconds, bool capture);

struct Listed {
  uint64_t size = 0;
  bool dir = false;
  bool hidden = false;
  bool encrypted = false;
};

// `7zz l -slt` output: its entries by path (after the "----------" line).
std::map<std::string, Listed> parse_listing(const std::string& text);

// Declared file count and bytes of a listing, leaving out what skip() names.
struct Declared {
  uint64_t files = 0;
  uint64_t bytes = 0;
};
Declared declared_totals(const std::map<std::string, Listed>& listing,
                         const std::function<bool(const std::string&)>& skip = {});

// True when the declared totals fit the scan's limits for an object of
// `object_size` bytes (ratio with its slack, total bytes, object count).
bool within_limits(const Declared& d, uint64_t object_size, const Limits& lim);

// Writes the source's bytes to a new file (O_EXCL).
bool copy_out(const ByteSource& src, const std::string& path);

// Depth-first over a directory tree in name order, never following links:
// visit(fd, relative path) for each regular file; skip_top(name) drops
// top-level entries. Bounded in depth (64), names per directory and files
// visited; stops when the scan must stop.
void walk_files(UnpackContext& ctx, const std::string& dir,
                const std::function<bool(const std::string&)>& skip_top,
                const std::function<void(int fd, const std::string& rel)>& visit);

// Streams a file descriptor into a child; first(head) sees its first bytes.
void stream_into(int fd, ChildWriter& child,
                 const std::function<void(std::string_view head)>& first = {});

// Emits every regular file under `dir` (walk_files) as a child named by its
// relative path, with the size the listing declared for it. Returns how many
// children were started.
uint64_t emit_extracted(UnpackContext& ctx, const std::string& dir,
                        const std::map<std::string, Listed>& listing);

}  // namespace sandgate::sevenzip
