// pool_bench: the cost of a scan worker round trip. Scans one small file N
// times one after another through a WorkerPool of one worker, then N times
// in-process (scan_submission + report_to_json, as the HTTP handler does),
// and prints the median wall time per scan and the front's CPU per scan.
//
//   pool_bench POLICY.yaml FILE [N]
// (bench/isolation_overhead.sh measures the same over HTTP under load.)
#include <sys/resource.h>
#include <sys/stat.h>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>
#include <unistd.h>

#include "gateway/isolation/worker_pool.h"
#include "gateway/report_json.h"
#include "policies/language/policy_store.h"
using namespace sandgate;
int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: pool_bench POLICY.yaml FILE [N]\n");
    return 2;
  }
  const char* policy = argv[1];
  const char* file = argv[2];
  int n = argc > 3 ? atoi(argv[3]) : 2000;
  policy_lang::PolicyStore store(policy);
  if (!store.ok()) return 2;
  WorkerPoolOptions o;
  o.workers = 1;
  o.jobs_per_worker = 1 << 30;  // one worker throughout: its CPU is read from /proc
  o.scratch_root = std::filesystem::temp_directory_path() / "sandgate-pool-bench";
  std::filesystem::create_directories(o.scratch_root);
  WorkerPool pool(o, store);
  std::string err;
  if (!pool.start(&err)) { fprintf(stderr, "%s\n", err.c_str()); return 2; }
  Submission s; s.spool_path = file; s.name = "cv"; s.facts.channel = "upload"; s.facts.profile = "upload";
  auto cpu = [] { rusage a{}; getrusage(RUSAGE_SELF, &a); return a.ru_utime.tv_sec*1e3 + a.ru_utime.tv_usec/1e3 + a.ru_stime.tv_sec*1e3 + a.ru_stime.tv_usec/1e3; };
  // CPU time (ms) of the pool's idle workers, from /proc.
  auto workers_cpu = [&pool] {
    double ms = 0;
    for (pid_t pid : pool.idle_worker_pids()) {
      std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
      std::string text((std::istreambuf_iterator<char>(f)), {});
      auto close = text.rfind(')');
      if (close == std::string::npos) continue;
      std::istringstream in(text.substr(close + 2));
      std::string field;
      unsigned long long ut = 0, st = 0;
      for (int i = 3; i <= 15 && in >> field; ++i) {
        if (i == 14) ut = std::stoull(field);
        if (i == 15) st = std::stoull(field);
      }
      ms += double(ut + st) * 1000.0 / double(::sysconf(_SC_CLK_TCK));
    }
    return ms;
  };
  for (int mode = 0; mode < 2; ++mode) {
    for (int i = 0; i < 50; ++i) mode ? (void)scan_submission(s, *store.current()) : (void)pool.scan(s);
    std::vector<double> t; double c0 = cpu(), w0 = workers_cpu();
    for (int i = 0; i < n; ++i) {
      auto a = std::chrono::steady_clock::now();
      Report r = mode ? scan_submission(s, *store.current()) : pool.scan(s);
      if (mode) {
        // As the HTTP handler does (the pool's front gets JSON from the worker).
        std::string json = report_to_json(r);
        if (json.empty()) std::abort();
      }
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    double c = cpu() - c0, w = workers_cpu() - w0;
    std::sort(t.begin(), t.end());
    if (mode)
      printf("in-process: median %.3f ms wall, CPU %.3f ms per scan\n", t[t.size() / 2], c / n);
    else
      printf("pool: median %.3f ms wall, CPU %.3f ms per scan (front %.3f + worker %.3f)\n", t[t.size() / 2],
             (c + w) / n, c / n, w / n);
  }
}
