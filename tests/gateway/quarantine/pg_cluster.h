// A throwaway PostgreSQL cluster for tests: initdb into a fresh directory under
// /tmp, a server listening only on a Unix socket in that directory (no TCP),
// trust authentication for the role "sandgate", removed again by the
// destructor. PostgreSQL refuses to run as root, so when the tests run as root
// the server runs as the "postgres" user (the directory is chowned to it).
//
// Reusable: `PgCluster c; if (!c.start(&why)) skip(why);` then
// `c.conninfo("dbname")`, `c.create_database("name")`, `c.stop_immediate()`
// (a crash, for database-down tests) and `c.restart()`. Binaries are looked up
// in $SANDGATE_PG_BIN, then /usr/lib/postgresql/<newest>/bin; when none are
// there, start() fails with a message saying so (callers skip, not fail).
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace sandgate::testing {

class PgCluster {
 public:
  PgCluster() = default;
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;
  ~PgCluster() { destroy(); }

  // Directory holding initdb and pg_ctl, or "" when PostgreSQL is not installed.
  static std::string find_bin_dir() {
    if (const char* env = std::getenv("SANDGATE_PG_BIN"); env && *env) {
      return usable(env) ? env : "";
    }
    std::vector<std::string> candidates;
    if (DIR* d = ::opendir("/usr/lib/postgresql")) {
      while (dirent* e = ::readdir(d)) {
        std::string n = e->d_name;
        if (!n.empty() && n.find_first_not_of("0123456789") == std::string::npos)
          candidates.push_back(n);
      }
      ::closedir(d);
    }
    // Newest major version first ("15" > "9" numerically).
    std::sort(candidates.begin(), candidates.end(), [](const std::string& a, const std::string& b) {
      return std::stoi(a) > std::stoi(b);
    });
    for (const auto& v : candidates) {
      std::string dir = "/usr/lib/postgresql/" + v + "/bin";
      if (usable(dir)) return dir;
    }
    return "";
  }

  // initdb + start. False with *why when PostgreSQL is absent or fails.
  bool start(std::string* why) {
    bin_ = find_bin_dir();
    if (bin_.empty()) {
      *why =
          "PostgreSQL server binaries not found (install Debian's postgresql package or set "
          "SANDGATE_PG_BIN to the directory holding initdb, pg_ctl and psql)";
      return false;
    }
    as_postgres_ = ::geteuid() == 0;
    uid_t uid = ::geteuid();
    gid_t gid = ::getegid();
    if (as_postgres_) {
      passwd* pw = ::getpwnam("postgres");
      if (!pw) {
        *why = "running as root and there is no 'postgres' user to run the server as";
        return false;
      }
      uid = pw->pw_uid;
      gid = pw->pw_gid;
    }
    std::string templ = "/tmp/sandgate-pg-XXXXXX";
    if (!::mkdtemp(templ.data())) {
      *why = "cannot create a directory under /tmp";
      return false;
    }
    dir_ = templ;
    // The server (another user when we are root) must reach its directory.
    if (::chmod(dir_.c_str(), 0755) != 0 ||
        (as_postgres_ && ::chown(dir_.c_str(), uid, gid) != 0)) {
      *why = "cannot hand " + dir_ + " to the server user";
      return false;
    }
    if (run({bin_ + "/initdb", "-D", data_dir(), "-U", "sandgate", "--auth=trust", "-E", "UTF8",
             "--no-sync"}) != 0) {
      *why = "initdb failed; see " + dir_ + "/cmd.log";
      return false;
    }
    if (!restart()) {
      *why = "pg_ctl start failed; see " + dir_ + "/cmd.log and " + dir_ + "/server.log";
      return false;
    }
    return true;
  }

  // Starts (again) the server of an initialised cluster; waits until it accepts.
  bool restart() {
    return run({bin_ + "/pg_ctl", "-D", data_dir(), "-l", dir_ + "/server.log", "-w", "-t", "60",
                "-o", "-k " + dir_ + " -c listen_addresses='' -c fsync=off", "start"}) == 0;
  }

  // Kills the server as a crash would (no clean shutdown), for database-down tests.
  bool stop_immediate() {
    return run({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "stop"}) == 0;
  }

  // libpq connection string for a database of this cluster (Unix socket only).
  // "sandgate" is the superuser initdb made; other roles are the test's own.
  std::string conninfo(const std::string& dbname = "postgres",
                       const std::string& user = "sandgate") const {
    return "host=" + dir_ + " user=" + user + " dbname=" + dbname;
  }

  // CREATE DATABASE through psql (no client library needed by the caller).
  bool create_database(const std::string& name) {
    return psql("postgres", "CREATE DATABASE " + name) == 0;
  }

  // Runs one SQL command with psql; returns its exit status (0: it succeeded).
  int psql(const std::string& dbname, const std::string& sql,
           const std::string& user = "sandgate") {
    return run({bin_ + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo(dbname, user),
                "-c", sql},
               /*as_server_user=*/false);
  }

  const std::string& dir() const { return dir_; }

 private:
  static bool usable(const std::string& dir) {
    return ::access((dir + "/initdb").c_str(), X_OK) == 0 &&
           ::access((dir + "/pg_ctl").c_str(), X_OK) == 0 &&
           ::access((dir + "/psql").c_str(), X_OK) == 0;
  }

  std::string data_dir() const { return dir_ + "/data"; }

  // fork/exec without a shell; output appended to DIR/cmd.log.
  int run(std::vector<std::string> argv, bool as_server_user = true) {
    if (as_server_user && as_postgres_) {
      argv.insert(argv.begin(), {"/usr/sbin/runuser", "-u", "postgres", "--"});
      if (::access(argv[0].c_str(), X_OK) != 0) argv[0] = "runuser";
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    std::string log = dir_ + "/cmd.log";
    pid_t pid = ::fork();
    if (pid < 0) return -1;
    if (pid == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      int devnull = ::open("/dev/null", O_RDONLY);
      if (devnull >= 0) ::dup2(devnull, 0);
      // The server user must be able to start in a directory it can read.
      if (::chdir(dir_.c_str()) != 0) ::_exit(126);
      ::execvp(args[0], args.data());
      ::_exit(127);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
      if (errno != EINTR) return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  }

  void destroy() {
    if (dir_.empty()) return;
    if (!bin_.empty()) run({bin_ + "/pg_ctl", "-D", data_dir(), "-m", "immediate", "-w", "stop"});
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }

  std::string bin_;
  std::string dir_;
  bool as_postgres_ = false;
};

}  // namespace sandgate::testing
