// image_walk_bench: walks a disk image the way the unpackers do (virtual
// disk -> partition table -> FAT) and reads every file's bytes, without the
// engine's hashing and analyzers. Prints image bytes per second, the figure
// of issue 9 item 5. Run by bench/image_walk.sh.
#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <string>
#include <vector>

#include "unpack/image/fat_reader.h"
#include "unpack/image/partition_table.h"
#include "unpack/image/virtual_disk.h"
#include "unpack/type_detect.h"

using namespace sandgate;
using namespace sandgate::image;

namespace {

struct Totals {
  uint64_t files = 0;
  uint64_t bytes = 0;
};

void walk(const ByteSourcePtr& src, Totals& t, int depth) {
  if (depth > 4) return;
  std::string label = detect_type(*src).label;
  if (label == "vhd" || label == "vhdx") {
    auto vd = label == "vhd" ? open_vhd(src) : open_vhdx(src);
    if (vd.disk) walk(vd.disk, t, depth + 1);
  } else if (label == "gpt" || label == "mbr") {
    auto scan = label == "gpt" ? read_gpt(*src) : read_mbr(*src);
    for (const auto& p : scan.partitions) walk(slice_source(src, p.offset, p.length), t, depth + 1);
  } else if (label == "fat") {
    std::vector<char> buf(1 << 20);
    walk_fat(src, [&](FatFile& f) {
      ++t.files;
      for (uint64_t off = 0; off < f.size; off += buf.size())
        t.bytes += f.bytes->read_at(off, buf.data(), buf.size());
      return true;
    });
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s IMAGE [RUNS]\n", argv[0]);
    return 2;
  }
  int runs = argc > 2 ? std::atoi(argv[2]) : 3;
  std::string err;
  auto src = open_file_source(argv[1], &err);
  if (!src) {
    std::fprintf(stderr, "%s: %s\n", argv[1], err.c_str());
    return 2;
  }
  std::vector<double> rates;
  for (int i = 0; i < runs; ++i) {
    Totals t;
    auto start = std::chrono::steady_clock::now();
    walk(src, t, 0);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    double rate = double(src->size()) / s / 1e6;
    rates.push_back(rate);
    std::printf("run %d: %llu files, %llu file bytes, %.3f s, %.0f MB/s of image\n", i + 1,
                (unsigned long long)t.files, (unsigned long long)t.bytes, s, rate);
  }
  std::sort(rates.begin(), rates.end());
  std::printf("median: %.0f MB/s of image bytes walked\n", rates[rates.size() / 2]);
  return 0;
}
