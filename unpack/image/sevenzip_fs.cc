// NTFS, HFS+ and APFS through a confined `7zz` child process (Debian's 7zip):
// no Debian library here reads them all (libfshfs rejects what can be made
// here, see FACTS.md), and 7-Zip reads every one tried.
//
// Confinement: the object's bytes are copied into a private mkdtemp scratch
// directory; 7zz runs there with stdin/stdout/stderr on /dev/null (the
// listing pass on a bounded pipe), no inherited descriptors, no new
// privileges, its own network namespace when the kernel allows, and
// RLIMIT_CPU / AS / FSIZE / NOFILE / NPROC; a wall-clock deadline kills it. It
// first lists the volume (-slt) so the declared total is checked against the
// limits before anything is extracted. The extracted tree is walked with
// lstat semantics (symlinks and special files are never followed or read),
// its names are data, 7-Zip's metadata pseudo-files ([SYSTEM], $MFT...) are
// dropped, and the scratch directory is removed afterwards whatever happens.
// Anything that goes wrong is image.unsupported (high): fail closed.
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "unpack/image/image_common.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.unsupported", Severity::high,
     "a disk image (or a part of one) cannot be read by the engine: not inspected, fail closed"},
    {"image.hidden_file", Severity::medium,
     "a file in a disk image has the hidden or system attribute (a lure next to a hidden payload)"},
    {"image.contains_executable", Severity::high,
     "a disk image holds an executable or script (mounting it bypasses the Mark-of-the-Web)"},
    {"image.autorun", Severity::medium, "a disk image carries autorun.inf at its root"},
});

namespace image {
namespace {

constexpr size_t kMaxListing = 32u << 20;

std::string find_7zz() {
  for (const char* p : {"/usr/bin/7zz", "/usr/local/bin/7zz", "/bin/7zz"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

// A private scratch directory, removed with everything in it.
class Scratch {
 public:
  Scratch() {
    const char* tmp = ::getenv("TMPDIR");
    std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/sandgate-7zz-XXXXXX";
    if (::mkdtemp(tmpl.data())) dir_ = tmpl;
  }
  ~Scratch() {
    if (!dir_.empty()) ::nftw(dir_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  }
  bool ok() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

struct RunResult {
  bool ok = false;
  std::string error;
  std::string out;  // stdout when captured
};

// Runs argv confined; captures stdout (at most kMaxListing) when capture.
RunResult run_confined(const std::vector<std::string>& argv, const std::string& cwd,
                       const Limits& lim, double seconds, bool capture) {
  RunResult res;
  int pipefd[2] = {-1, -1};
  if (capture && ::pipe2(pipefd, O_CLOEXEC) != 0) {
    res.error = "pipe failed";
    return res;
  }
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    res.error = std::string("fork: ") + std::strerror(errno);
    return res;
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    ::unshare(CLONE_NEWNET);  // no network; ignored where not permitted
    int devnull = ::open("/dev/null", O_RDWR);
    ::dup2(devnull, 0);
    ::dup2(capture ? pipefd[1] : devnull, 1);
    ::dup2(devnull, 2);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    if (::chdir(cwd.c_str()) != 0) ::_exit(126);
    auto limit = [](int what, rlim_t v) {
      struct rlimit r{v, v};
      ::setrlimit(what, &r);
    };
    limit(RLIMIT_CPU, static_cast<rlim_t>(seconds) + 1);
    limit(RLIMIT_AS, rlim_t(2) << 30);
    limit(RLIMIT_FSIZE, static_cast<rlim_t>(std::max<uint64_t>(lim.max_object_bytes, 1 << 20)));
    limit(RLIMIT_NOFILE, 64);
    limit(RLIMIT_CORE, 0);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  if (capture) ::close(pipefd[1]);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  int status = 0;
  bool done = false, overflow = false;
  char buf[65536];
  while (!done) {
    if (capture && pipefd[0] >= 0) {
      struct pollfd p{pipefd[0], POLLIN, 0};
      if (::poll(&p, 1, 20) > 0) {
        ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n > 0) {
          if (res.out.size() + size_t(n) > kMaxListing) overflow = true;
          else res.out.append(buf, size_t(n));
        } else if (n == 0) {
          ::close(pipefd[0]);
          pipefd[0] = -1;
        }
      }
    } else {
      ::usleep(5000);
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) done = true;
    if (!done && (overflow || std::chrono::steady_clock::now() > deadline)) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      res.error = overflow ? "listing too large" : "7zz timed out";
      if (pipefd[0] >= 0) ::close(pipefd[0]);
      return res;
    }
  }
  if (capture && pipefd[0] >= 0) {  // drain what is left
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 && res.out.size() + size_t(n) <= kMaxListing)
      res.out.append(buf, size_t(n));
    ::close(pipefd[0]);
  }
  if (WIFSIGNALED(status)) {
    res.error = "7zz killed by signal " + std::to_string(WTERMSIG(status));
  } else if (WEXITSTATUS(status) != 0) {
    res.error = "7zz exit status " + std::to_string(WEXITSTATUS(status));
  } else {
    res.ok = true;
  }
  return res;
}

struct Listed {
  uint64_t size = 0;
  bool dir = false;
  bool hidden = false;
};

// Parses `7zz l -slt`: blocks of "Key = value" after the "----------" line.
std::map<std::string, Listed> parse_listing(const std::string& text) {
  std::map<std::string, Listed> out;
  size_t start = text.find("\n----------\n");
  if (start == std::string::npos) return out;
  std::string path;
  Listed cur;
  auto flush = [&] {
    if (!path.empty()) out[path] = cur;
    path.clear();
    cur = Listed{};
  };
  size_t pos = start + 12;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string::npos) eol = text.size();
    std::string_view line(text.data() + pos, eol - pos);
    pos = eol + 1;
    if (line.starts_with("Path = ")) {
      flush();
      path = std::string(line.substr(7));
    } else if (line.starts_with("Size = ")) {
      cur.size = std::strtoull(std::string(line.substr(7)).c_str(), nullptr, 10);
    } else if (line.starts_with("Folder = +")) {
      cur.dir = true;
    } else if (line.starts_with("Attributes = ")) {
      std::string_view a = line.substr(13);
      a = a.substr(0, a.find(' '));
      if (a.find('D') != std::string_view::npos) cur.dir = true;
      cur.hidden = a.find('H') != std::string_view::npos || a.find('S') != std::string_view::npos;
    }
  }
  flush();
  return out;
}

// 7-Zip's views of file-system metadata, not files a user would see.
bool is_pseudo(const std::string& rel) {
  std::string first = rel.substr(0, rel.find('/'));
  return (first.size() >= 2 && first.front() == '[' && first.back() == ']') ||
         (!first.empty() && first[0] == '$');
}

const char* seven_type(std::string_view label) {
  if (label == "ntfs") return "NTFS";
  if (label == "hfs") return "HFS";
  if (label == "udf") return "Udf";
  return "APFS";
}

class SevenZipFsUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "7zz-filesystem"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    auto fail = [&](std::string why) {
      ctx.add_finding(make_finding("image.unsupported",
                                   "the " + obj.type.label + " volume could not be read: " + why,
                                   "7zz"));
    };
    // HFS+, APFS and UDF reach 7zz untested: no image of them can be made
    // with Debian 12's tools, so nothing shows that what 7zz lists is all
    // there is. The files are still extracted and scanned (analysts see
    // them), and the volume is reported unsupported so it fails closed.
    if (obj.type.label != "ntfs")
      ctx.add_finding(make_finding("image.unsupported",
                                   "the " + obj.type.label +
                                       " reader (7zz) is not verified by tests here: held for review",
                                   "7zz"));
    std::string tool = find_7zz();
    if (tool.empty()) return fail("7zz is not installed");
    Scratch scratch;
    if (!scratch.ok()) return fail("no scratch directory");
    std::string input = scratch.dir() + "/volume.img";
    if (!copy_out(*obj.bytes, input)) return fail("cannot write the scratch copy");
    const Limits& lim = ctx.limits();
    double seconds = std::max(1.0, lim.max_seconds);
    std::string type = std::string("-t") + seven_type(obj.type.label);

    RunResult list = run_confined({tool, "l", "-slt", "-bd", type, "volume.img"}, scratch.dir(), lim,
                                  seconds, true);
    if (!list.ok) return fail(list.error);
    auto listing = parse_listing(list.out);
    uint64_t total = 0, files = 0;
    for (const auto& [path, e] : listing) {
      if (e.dir || is_pseudo(path)) continue;
      total += e.size;
      ++files;
    }
    double budget = std::max(static_cast<double>(lim.ratio_slack_bytes),
                             lim.max_ratio * static_cast<double>(obj.size));
    budget = std::min(budget, static_cast<double>(lim.max_total_bytes));
    if (static_cast<double>(total) > budget || files > lim.max_objects) {
      return fail("declares " + std::to_string(files) + " files, " + std::to_string(total) +
                  " bytes: beyond the limits");
    }
    if (::mkdir((scratch.dir() + "/out").c_str(), 0700) != 0) return fail("mkdir failed");
    RunResult x = run_confined({tool, "x", "-y", "-bd", type, "-oout", "volume.img"}, scratch.dir(),
                               lim, seconds, false);
    if (!x.ok) fail(x.error);  // still emit what was extracted
    std::string executables;
    int exec_count = 0;
    uint64_t seen = 0;
    walk(ctx, scratch.dir() + "/out", "", listing, 0, seen, executables, exec_count);
    if (exec_count > 0)
      ctx.add_finding(make_finding("image.contains_executable",
                                   std::to_string(exec_count) +
                                       " file(s) in the volume start like an executable or script",
                                   executables));
  }

 private:
  static bool copy_out(const ByteSource& src, const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return false;
    std::vector<char> buf(1 << 20);
    uint64_t off = 0;
    bool ok = true;
    for (;;) {
      size_t n = src.read_at(off, buf.data(), buf.size());
      if (n == 0) break;
      size_t done = 0;
      while (done < n) {
        ssize_t w = ::write(fd, buf.data() + done, n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
          ok = false;
          break;
        }
        done += size_t(w);
      }
      if (!ok) break;
      off += n;
    }
    ::close(fd);
    return ok;
  }

  // Depth-first over the extracted tree, never following links.
  void walk(UnpackContext& ctx, const std::string& dir, const std::string& rel,
            const std::map<std::string, Listed>& listing, int depth, uint64_t& seen,
            std::string& executables, int& exec_count) {
    if (depth > 64 || ctx.should_stop()) return;
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dfd < 0) return;
    DIR* d = ::fdopendir(dfd);
    if (!d) {
      ::close(dfd);
      return;
    }
    std::vector<std::string> names;
    while (struct dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
      if (names.size() > 100000) break;
    }
    std::sort(names.begin(), names.end());
    for (const auto& n : names) {
      if (ctx.should_stop() || ++seen > ctx.limits().max_objects * 4) break;
      std::string child_rel = rel.empty() ? n : rel + "/" + n;
      if (depth == 0 && is_pseudo(child_rel)) continue;
      struct stat st;
      if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      if (S_ISDIR(st.st_mode)) {
        walk(ctx, dir + "/" + n, child_rel, listing, depth + 1, seen, executables, exec_count);
        continue;
      }
      if (!S_ISREG(st.st_mode)) continue;  // links, devices, fifos: never read
      int fd = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) continue;
      emit(ctx, fd, child_rel, listing, executables, exec_count);
      ::close(fd);
    }
    ::closedir(d);
  }

  void emit(UnpackContext& ctx, int fd, const std::string& rel,
            const std::map<std::string, Listed>& listing, std::string& executables, int& exec_count) {
    ChildInfo info;
    info.name = rel;
    auto it = listing.find(rel);
    bool hidden = it != listing.end() && it->second.hidden;
    if (it != listing.end()) info.declared_size = static_cast<int64_t>(it->second.size);
    if (rel.find('/') == std::string::npos && rel.size() == 11 &&
        std::equal(rel.begin(), rel.end(), "autorun.inf",
                   [](char a, char b) { return std::tolower((unsigned char)a) == b; }))
      ctx.add_finding(make_finding("image.autorun", "autorun.inf at the root of the volume"));
    auto child = ctx.begin_child(std::move(info));
    if (!child) return;
    if (hidden)
      child->add_finding(make_finding("image.hidden_file", "hidden or system attribute on a file in a " +
                                                              std::string("volume"), rel));
    char buf[65536];
    bool first = true;
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      if (first) {
        first = false;
        if (looks_executable(*memory_source(std::string(buf, size_t(std::min<ssize_t>(n, 4))))) &&
            ++exec_count <= 8)
          executables += (executables.empty() ? "" : ", ") + rel;
      }
      if (!child->write(buf, size_t(n))) break;
    }
    child->finish();
  }
};

SANDGATE_REGISTER_UNPACKER(SevenZipFsUnpacker, {"ntfs", "hfs", "apfs", "udf"});

}  // namespace
}  // namespace image
}  // namespace sandgate
