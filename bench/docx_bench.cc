// docx_bench: what analysing an Office document costs, in the sense of the
// PDF figure (bench/pdf_bench.cc): the document's own path, every part
// inflated by the zip unpacker, typed, and passed through the analyzers
// (Office parts and VBA, names, types, scripts...), recursively (a
// vbaProject.bin is unpacked by the OLE2 reader in turn). Left out, because
// they are not the document's analysis and are measured by the whole-scan
// figure of bench/office_bench.sh: the report's digests of every object, the
// policy and its YARA rules.
//
// Usage: docx_bench FILE [runs]    (bench/office_bench.sh makes a 2 MB DOCX)
// Prints the median wall and CPU (this thread) time per document.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "analyzers/analyzer.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace {

using namespace sandgate;

struct Walk {
  std::vector<std::unique_ptr<Analyzer>> analyzers;
  Limits limits;
  size_t objects = 0;
  size_t findings = 0;
  void process(Object& obj, int depth);
};

class MemoryChild;

class WalkContext final : public UnpackContext {
 public:
  WalkContext(Walk& walk, int depth) : walk_(walk), depth_(depth) {}
  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override;
  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override {
    Object child;
    child.name = info.name;
    child.size = bytes->size();
    child.bytes = std::move(bytes);
    walk_.process(child, depth_ + 1);
    return true;
  }
  void add_finding(Finding) override { ++walk_.findings; }
  bool should_stop() const override { return false; }
  const Limits& limits() const override { return walk_.limits; }
  bool account_output(uint64_t) override { return true; }

 private:
  Walk& walk_;
  int depth_;
};

class MemoryChild final : public ChildWriter {
 public:
  MemoryChild(Walk& walk, ChildInfo info, int depth) : walk_(walk), info_(std::move(info)), depth_(depth) {
    if (info_.declared_size > 0 && info_.declared_size < (64 << 20))
      data_.reserve(static_cast<size_t>(info_.declared_size));
  }
  bool write(const void* data, size_t n) override {
    data_.append(static_cast<const char*>(data), n);
    return true;
  }
  void add_finding(Finding) override { ++walk_.findings; }
  void finish() override {
    Object child;
    child.name = info_.name;
    child.size = data_.size();
    child.bytes = memory_source(std::move(data_));
    walk_.process(child, depth_);
  }

 private:
  Walk& walk_;
  ChildInfo info_;
  int depth_;
  std::string data_;
};

std::unique_ptr<ChildWriter> WalkContext::begin_child(ChildInfo info) {
  return std::make_unique<MemoryChild>(walk_, std::move(info), depth_ + 1);
}

void Walk::process(Object& obj, int depth) {
  ++objects;
  obj.depth = depth;
  obj.type = detect_type(*obj.bytes);
  for (auto& a : analyzers) a->analyze(obj);
  findings += obj.findings.size();
  if (depth >= 8) return;
  if (auto u = UnpackerRegistry::instance().create(obj.type.label)) {
    WalkContext ctx(*this, depth);
    u->unpack(obj, ctx);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: docx_bench FILE [runs]\n");
    return 2;
  }
  int runs = argc > 2 ? std::max(3, std::atoi(argv[2])) : 31;
  std::string err;
  ByteSourcePtr src = open_file_source(argv[1], &err);
  if (!src) {
    std::fprintf(stderr, "docx_bench: %s\n", err.c_str());
    return 2;
  }
  Walk walk;
  for (auto& a : AnalyzerRegistry::instance().create_all())
    if (a->name() != "yara") walk.analyzers.push_back(std::move(a));
  auto cpu_ms = [] {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  std::vector<double> ms, cpu;
  for (int i = 0; i < runs; ++i) {
    walk.objects = walk.findings = 0;
    Object root;
    root.name = argv[1];
    root.size = src->size();
    root.bytes = src;
    double c0 = cpu_ms();
    auto t0 = std::chrono::steady_clock::now();
    walk.process(root, 0);
    auto t1 = std::chrono::steady_clock::now();
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    cpu.push_back(cpu_ms() - c0);
  }
  std::sort(ms.begin(), ms.end());
  std::sort(cpu.begin(), cpu.end());
  std::printf("docx_bench: %.2f MB, %zu objects, %zu findings, %d runs (unpack + type + analyzers, no "
              "digests/policy/YARA): wall median %.3f ms (min %.3f); CPU median %.3f ms (min %.3f)\n",
              src->size() / 1e6, walk.objects, walk.findings, runs, ms[ms.size() / 2], ms.front(),
              cpu[cpu.size() / 2], cpu.front());
  return 0;
}
