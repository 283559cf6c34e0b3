// pe_bench: time the analyzers add per PE (parse, section entropy, imports,
// Authenticode digest and verification), reported per MB of input.
//
// usage: pe_bench [FILE.exe [RUNS] [CA.pem [seen|known|new|all [parallel|serial [OTHER.exe]]]]]
// Without FILE, a synthetic unsigned 1 MiB PE32 is analyzed. With CA.pem the
// file's signer chain is verified against that anchor (and the system bundle).
// A signed file is timed three times: as a signature seen before (the parsed
// and verified PKCS#7 comes from the signature cache; the file is still hashed
// and compared); as a first sight of the signature from a signer seen before
// (the signature cache emptied before every run, the certificates decoded
// and the chains checked once: a new file from a known signer); and as a
// first sight of both (all caches emptied: a signer never seen). A fourth argument times only that
// case (for a profiler: `perf record pe_bench FILE 3000 ca.pem known`).
// A first sight verifies the signature on a second thread while the file is
// hashed (authenticode.h); `serial` as the fifth argument keeps it on one
// thread for comparison. The CPU figure is the process's (both threads).
// With OTHER.exe (another signer's file, timestamped by the same authority)
// a fourth case is timed: a signer never seen whose timestamp authority was
// (every cache emptied, OTHER.exe analyzed untimed, then FILE timed), the
// usual first sight of a new publisher once a gateway has seen a few files
// from the handful of public timestamp authorities.
//
// A signed 1 MiB test file: see tests/analyzers/pe/make_fixtures.sh for the
// test CA, then e.g. a C file with a 1 MB initialised array, built with
// x86_64-w64-mingw32-gcc and signed with
//   osslsigncode sign -certs signer.pem -key signer.key -in big.exe -out big_signed.exe
// and timestamped (make_fixtures.sh's tsa_chain.pem and tsa.key), by the
// expired signer and by a second leaf of the test CA (`leaf` in the script):
//   osslsigncode sign -certs old.pem -key old.key -in big.exe -out big_ts.exe
//     -TSA-certs tsa_chain.pem -TSA-key tsa.key -TSA-time 1593561600   (one line)
// and the same with -certs signer2.pem -key signer2.key -out big_ts_other.exe.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "analyzers/pe/authenticode.h"
#include "analyzers/pe/code_signing.h"
#include "analyzers/pe/signed_data.h"

using namespace sandgate;

namespace {

std::string synthetic_pe(size_t body) {
  std::string b(0x200, '\0');
  auto put = [&](size_t o, uint64_t v, int n) {
    for (int i = 0; i < n; ++i) b[o + i] = char(v >> (8 * i));
  };
  b[0] = 'M';
  b[1] = 'Z';
  put(0x3c, 0x40, 4);
  b.replace(0x40, 4, std::string("PE\0\0", 4));
  put(0x44, 0x14c, 2);
  put(0x46, 1, 2);
  put(0x54, 224, 2);
  put(0x58, 0x10b, 2);
  put(0x58 + 16, 0x1000, 4);
  put(0x58 + 60, 0x200, 4);
  put(0x58 + 92, 16, 4);
  size_t s = 0x58 + 224;
  b.replace(s, 5, ".text");
  put(s + 8, body, 4);
  put(s + 12, 0x1000, 4);
  put(s + 16, body, 4);
  put(s + 20, 0x200, 4);
  std::string data(body, '\0');
  uint32_t x = 1;
  for (auto& c : data) {
    x = x * 1664525u + 1013904223u;
    c = char((x >> 24) & 0x3f);  // code-like, not maximal entropy
  }
  return b + data;
}

}  // namespace

int main(int argc, char** argv) {
  ByteSourcePtr src;
  if (argc > 1) {
    std::string err;
    src = open_file_source(argv[1], &err);
    if (!src) {
      std::fprintf(stderr, "pe_bench: %s\n", err.c_str());
      return 2;
    }
  } else {
    src = memory_source(synthetic_pe(1 << 20));
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 200;
  if (argc > 3) {
    CodeSignTrust t;
    t.anchor_files = {argv[3]};
    set_codesign_trust(t);
  }
  auto analyzers = AnalyzerRegistry::instance().create_all();
  const double mb = double(src->size()) / (1 << 20);
  // Times `runs` analyses. Cache::certificates: the signature cache is emptied
  // before each (a new file from a signer seen before: its certificates come
  // from the certificate cache, its chains from the chain cache when the
  // signing time is inside their validity); Cache::none: every cache is
  // emptied (a signer never seen).
  // Cache::other_first: every cache emptied, then OTHER.exe analyzed.
  enum class Cache { all, certificates, none, other_first };
  ByteSourcePtr other;
  if (argc > 6) {
    std::string err;
    other = open_file_source(argv[6], &err);
    if (!other) {
      std::fprintf(stderr, "pe_bench: %s\n", err.c_str());
      return 2;
    }
  }
  auto analyze = [&](const ByteSourcePtr& bytes, Object* o) {
    o->name = "bench.exe";
    o->type.label = "pe";
    o->bytes = bytes;
    for (auto& a : analyzers)
      if (a->name() == "pe") a->analyze(*o);
  };
  // Wall time and the process's CPU time, every thread's (on a shared,
  // loaded machine the CPU time is the steadier figure: it leaves out
  // waiting for a core).
  struct Times {
    std::vector<double> wall, cpu;
  };
  auto process_cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) * 1e3 + double(ts.tv_nsec) / 1e6;
  };
  auto time_runs = [&](Cache warm, std::string* verdict) {
    Times t;
    for (int r = 0; r < std::max(1, runs); ++r) {
      if (warm != Cache::all) authenticode_cache_clear();
      if (warm == Cache::none || warm == Cache::other_first) {
        certificate_cache_clear();
        chain_cache_clear();
      }
      if (warm == Cache::other_first) {
        Object first;
        analyze(other, &first);
      }
      Object o;
      auto t0 = std::chrono::steady_clock::now();
      double c0 = process_cpu_ms();
      analyze(src, &o);
      t.cpu.push_back(process_cpu_ms() - c0);
      t.wall.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      if (r == 0)
        for (auto& f : o.findings)
          if (f.id.starts_with("pe.authenticode.") || f.id == "pe.unsigned") *verdict = f.id;
    }
    std::sort(t.wall.begin(), t.wall.end());
    std::sort(t.cpu.begin(), t.cpu.end());
    return t;
  };
  auto report = [&](const char* what, const std::string& verdict, const Times& t) {
    double med = t.wall[t.wall.size() / 2], cpu = t.cpu[t.cpu.size() / 2];
    std::printf(
        "pe_bench: %.2f MiB, %s, %s: median %.3f ms wall (%.3f ms per MiB), %.3f ms CPU "
        "(%.3f ms per MiB), min %.3f ms wall, %zu runs\n",
        mb, verdict.c_str(), what, med, med / mb, cpu, cpu / mb, t.wall.front(), t.wall.size());
  };
  std::string only = argc > 4 ? argv[4] : "";
  if (only == "all") only.clear();
  if (argc > 5 && std::string(argv[5]) == "serial") set_authenticode_parallel_from(UINT64_MAX);
  std::string verdict;
  if (only.empty() || only == "seen") {
    auto warm = time_runs(Cache::all, &verdict);
    report(verdict == "pe.unsigned" ? "unsigned" : "signature seen before", verdict, warm);
  }
  if (verdict != "pe.unsigned" && (only.empty() || only == "known")) {
    auto known_signer = time_runs(Cache::certificates, &verdict);
    report("first sight of the signature, signer's certificates seen before", verdict, known_signer);
  }
  if (verdict != "pe.unsigned" && (only.empty() || only == "new")) {
    auto cold = time_runs(Cache::none, &verdict);
    report("first sight of the signature and of its certificates", verdict, cold);
  }
  if (verdict != "pe.unsigned" && other && (only.empty() || only == "new")) {
    auto publisher = time_runs(Cache::other_first, &verdict);
    report("first sight of the signer, its timestamp authority seen before", verdict, publisher);
  }
  return 0;
}
