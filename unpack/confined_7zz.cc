// See confined_7zz.h for what the confinement is and why.
#include "unpack/confined_7zz.h"

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
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <sstream>

namespace sandgate::sevenzip {

namespace {

constexpr size_t kMaxListing = 32u << 20;
constexpr size_t kMaxNamesPerDir = 100000;
constexpr int kMaxDepth = 64;

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  ::remove(path);
  return 0;
}

}  // namespace

std::string find_tool() {
  for (const char* p : {"/usr/bin/7zz", "/usr/local/bin/7zz", "/bin/7zz"})
    if (::access(p, X_OK) == 0) return p;
  return {};
}

double run_budget(const UnpackContext& ctx) {
  const double left = ctx.seconds_left();
  if (left <= 0.0) return 0.0;
  return std::min(left, std::max(1.0, ctx.limits().max_seconds));
}

bool tool_reads_rar(const std::string& tool, const Limits& lim) {
  static std::mutex mu;
  static std::map<std::string, bool> known;  // per tool path
  std::lock_guard lock(mu);
  if (auto it = known.find(tool); it != known.end()) return it->second;
  // A probe that could not run (no scratch directory, 7zz failed) is not
  // remembered: it may be transient.
  Scratch scratch;
  if (!scratch.ok()) return false;
  RunResult r = run({tool, "i"}, scratch.dir(), lim, 10.0, true);
  if (!r.ok) return false;
  // Format lines: "  C...F....  Rar5     rar r00  R a r ! 1A 07 01 00": flags, then the name.
  bool reads = false;
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string flags, name;
    if (words >> flags >> name && (name == "Rar" || name == "Rar5")) reads = true;
  }
  known[tool] = reads;
  return reads;
}

Scratch::Scratch() {
  const char* tmp = ::getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/sandgate-7zz-XXXXXX";
  if (::mkdtemp(tmpl.data())) dir_ = tmpl;
}

Scratch::~Scratch() {
  if (!dir_.empty()) ::nftw(dir_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

RunResult run(const std::vector<std::string>& argv, const std::string& cwd, const Limits& lim,
              double seconds, bool capture) {
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
    if (capture) {
      ::close(pipefd[0]);
      ::close(pipefd[1]);
    }
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
      struct rlimit r {
        v, v
      };
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
      struct pollfd p {
        pipefd[0], POLLIN, 0
      };
      if (::poll(&p, 1, 20) > 0) {
        ssize_t n = ::read(pipefd[0], buf, sizeof buf);
        if (n > 0) {
          if (res.out.size() + size_t(n) > kMaxListing)
            overflow = true;
          else
            res.out.append(buf, size_t(n));
        } else if (n == 0) {
          ::close(pipefd[0]);
          pipefd[0] = -1;
        }
      }
    } else {
      ::usleep(2000);
    }
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) done = true;
    if (!done && (overflow || std::chrono::steady_clock::now() > deadline)) {
      ::kill(-pid, SIGKILL);
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      res.error = overflow ? "listing too large" : "7zz timed out";
      res.timed_out = true;
      if (pipefd[0] >= 0) ::close(pipefd[0]);
      return res;
    }
  }
  if (capture && pipefd[0] >= 0) {  // drain what is left
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 &&
           res.out.size() + size_t(n) <= kMaxListing)
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
    } else if (line.starts_with("Encrypted = +")) {
      cur.encrypted = true;
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

Declared declared_totals(const std::map<std::string, Listed>& listing,
                         const std::function<bool(const std::string&)>& skip) {
  Declared d;
  for (const auto& [path, e] : listing) {
    if (e.dir || (skip && skip(path))) continue;
    d.bytes += std::min<uint64_t>(e.size, uint64_t{1} << 48);
    ++d.files;
  }
  return d;
}

bool within_limits(const Declared& d, uint64_t object_size, const Limits& lim) {
  double budget = std::max(static_cast<double>(lim.ratio_slack_bytes),
                           lim.max_ratio * static_cast<double>(object_size));
  budget = std::min(budget, static_cast<double>(lim.max_total_bytes));
  return static_cast<double>(d.bytes) <= budget && d.files <= lim.max_objects;
}

bool copy_out(const ByteSource& src, const std::string& path) {
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

namespace {

void walk_dir(UnpackContext& ctx, int dfd_in, const std::string& rel, int depth, uint64_t& seen,
              const std::function<bool(const std::string&)>& skip_top,
              const std::function<void(int, const std::string&)>& visit) {
  if (depth > kMaxDepth || ctx.should_stop()) {
    ::close(dfd_in);
    return;
  }
  DIR* d = ::fdopendir(dfd_in);
  if (!d) {
    ::close(dfd_in);
    return;
  }
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
    if (names.size() > kMaxNamesPerDir) break;
  }
  std::sort(names.begin(), names.end());
  for (const auto& n : names) {
    if (ctx.should_stop() || ++seen > ctx.limits().max_objects * 4) break;
    if (depth == 0 && skip_top && skip_top(n)) continue;
    std::string child_rel = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      int sub = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (sub >= 0) walk_dir(ctx, sub, child_rel, depth + 1, seen, skip_top, visit);
      continue;
    }
    if (!S_ISREG(st.st_mode)) continue;  // links, devices, fifos: never read
    int fd = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    visit(fd, child_rel);
    ::close(fd);
  }
  ::closedir(d);
}

}  // namespace

void walk_files(UnpackContext& ctx, const std::string& dir,
                const std::function<bool(const std::string&)>& skip_top,
                const std::function<void(int fd, const std::string& rel)>& visit) {
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (dfd < 0) return;
  uint64_t seen = 0;
  walk_dir(ctx, dfd, "", 0, seen, skip_top, visit);
}

void stream_into(int fd, ChildWriter& child, const std::function<void(std::string_view)>& first) {
  char buf[65536];
  bool at_start = true;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (at_start) {
      at_start = false;
      if (first) first(std::string_view(buf, size_t(n)));
    }
    if (!child.write(buf, size_t(n))) break;
  }
}

uint64_t emit_extracted(UnpackContext& ctx, const std::string& dir,
                        const std::map<std::string, Listed>& listing) {
  uint64_t emitted = 0;
  walk_files(ctx, dir, {}, [&](int fd, const std::string& rel) {
    ChildInfo info;
    info.name = rel;
    auto it = listing.find(rel);
    if (it != listing.end()) info.declared_size = static_cast<int64_t>(it->second.size);
    auto child = ctx.begin_child(std::move(info));
    if (!child) return;
    ++emitted;
    stream_into(fd, *child);
    child->finish();
  });
  return emitted;
}

}  // namespace sandgate::sevenzip
