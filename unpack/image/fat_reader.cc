// FAT12/16/32 reader; see fat_reader.h for what it guarantees.
#include "unpack/image/fat_reader.h"

#include <algorithm>
#include <array>

#include "unpack/cursor.h"
#include "unpack/image/extent_source.h"
#include "unpack/image/image_common.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"image.malformed", Severity::high,
     "a disk image's structure is inconsistent (out-of-range or looping references, truncation): "
     "parts of it may be hidden from the scan"},
});

namespace image {
namespace {

constexpr size_t kPage = 64 * 1024;
constexpr size_t kPages = 16;
constexpr uint32_t kMaxDirEntries = 65536;  // FAT spec 6: a directory is at most 2 MiB

struct Geometry {
  uint32_t bytes_per_sector = 0;
  uint32_t cluster_bytes = 0;
  uint64_t fat_offset = 0;     // first FAT, bytes
  uint64_t fat_bytes = 0;      // one FAT
  uint64_t root_offset = 0;    // FAT12/16 fixed root directory
  uint32_t root_entries = 0;
  uint64_t data_offset = 0;    // cluster 2
  uint32_t clusters = 0;       // data clusters per the boot sector
  uint32_t root_cluster = 0;   // FAT32
  int bits = 0;
};

// FAT entries through a direct-mapped cache of kPages pages.
class FatTable {
 public:
  FatTable(const ByteSource& vol, const Geometry& g) : vol_(vol), g_(g) {}

  uint32_t get(uint32_t n) {
    uint64_t off;
    switch (g_.bits) {
      case 12: {
        off = uint64_t(n) + n / 2;
        uint32_t v = byte(off) | uint32_t(byte(off + 1)) << 8;
        return n & 1 ? v >> 4 : v & 0xFFF;
      }
      case 16:
        off = uint64_t(n) * 2;
        return byte(off) | uint32_t(byte(off + 1)) << 8;
      default:
        off = uint64_t(n) * 4;
        return (byte(off) | uint32_t(byte(off + 1)) << 8 | uint32_t(byte(off + 2)) << 16 |
                uint32_t(byte(off + 3)) << 24) & 0x0FFFFFFF;
    }
  }

 private:
  uint8_t byte(uint64_t off) {
    if (off >= g_.fat_bytes) return 0;
    uint64_t page = off / kPage;
    Slot& s = slots_[page % kPages];
    if (!s.loaded || s.page != page) {
      s.page = page;
      s.loaded = true;
      uint64_t len = std::min<uint64_t>(kPage, g_.fat_bytes - page * kPage);
      s.data.assign(len, '\0');
      size_t got = vol_.read_at(g_.fat_offset + page * kPage, s.data.data(), len);
      s.data.resize(got);
    }
    size_t in = off % kPage;
    return in < s.data.size() ? static_cast<uint8_t>(s.data[in]) : 0;
  }

  struct Slot {
    uint64_t page = 0;
    bool loaded = false;
    std::string data;
  };
  const ByteSource& vol_;
  const Geometry& g_;
  std::array<Slot, kPages> slots_;
};

bool parse_boot(const ByteSource& vol, Geometry& g, std::vector<Finding>& findings) {
  std::string b = vol.read_string(0, 512);
  if (b.size() < 512) return false;
  ByteCursor c(b);
  c.seek(11);
  uint32_t bps = c.u16le();
  uint32_t spc = c.u8();
  uint32_t reserved = c.u16le();
  uint32_t nfats = c.u8();
  uint32_t root_entries = c.u16le();
  uint32_t tot16 = c.u16le();
  c.skip(1);  // media
  uint32_t fatsz16 = c.u16le();
  c.seek(32);
  uint32_t tot32 = c.u32le();
  uint32_t fatsz32 = c.u32le();
  c.seek(44);
  uint32_t root_cluster = c.u32le();
  bool bps_ok = bps == 512 || bps == 1024 || bps == 2048 || bps == 4096;
  bool spc_ok = spc != 0 && (spc & (spc - 1)) == 0 && spc <= 128;
  if (!bps_ok || !spc_ok || reserved == 0 || nfats == 0 || nfats > 4) return false;
  uint64_t total = tot16 ? tot16 : tot32;
  uint64_t fat_sectors = fatsz16 ? fatsz16 : fatsz32;
  if (total == 0 || fat_sectors == 0) return false;
  uint64_t root_sectors = (uint64_t(root_entries) * 32 + bps - 1) / bps;
  uint64_t first_data = reserved + nfats * fat_sectors + root_sectors;
  if (first_data >= total) return false;
  uint64_t clusters = (total - first_data) / spc;
  g.bytes_per_sector = bps;
  g.cluster_bytes = bps * spc;
  g.fat_offset = uint64_t(reserved) * bps;
  g.fat_bytes = fat_sectors * bps;
  g.root_offset = (reserved + nfats * fat_sectors) * bps;
  g.root_entries = root_entries;
  g.data_offset = first_data * bps;
  g.bits = clusters < 4085 ? 12 : clusters < 65525 ? 16 : 32;
  g.root_cluster = root_cluster;
  if (g.bits == 32 && root_entries != 0) return false;  // FAT spec 3.1: BPB_RootEntCnt is 0
  if (g.bits != 32 && root_entries == 0) return false;
  // Never trust more clusters than the FAT has entries for.
  uint64_t fat_entries = g.fat_bytes * 8 / uint64_t(g.bits);
  uint64_t limit = std::min<uint64_t>(clusters, fat_entries > 2 ? fat_entries - 2 : 0);
  limit = std::min<uint64_t>(limit, 0x0FFFFFF5);
  if (limit < clusters) {
    findings.push_back(make_finding("image.malformed", "FAT is smaller than the data area",
                                    std::to_string(clusters) + " clusters declared"));
  }
  g.clusters = static_cast<uint32_t>(limit);
  uint64_t declared_bytes = total * bps;
  if (declared_bytes > vol.size()) {
    findings.push_back(make_finding("image.malformed", "FAT volume is truncated",
                                    std::to_string(declared_bytes) + " bytes declared, " +
                                        std::to_string(vol.size()) + " present"));
  }
  return true;
}

uint8_t lfn_checksum(std::string_view short_name) {
  uint8_t sum = 0;
  for (char ch : short_name) sum = uint8_t(((sum & 1) << 7) + (sum >> 1) + uint8_t(ch));
  return sum;
}

std::string short_name(std::string_view e) {
  auto trim = [](std::string_view s) {
    size_t n = s.find_last_not_of(' ');
    return n == std::string_view::npos ? std::string_view() : s.substr(0, n + 1);
  };
  uint8_t flags = static_cast<uint8_t>(e[12]);
  std::string base(trim(e.substr(0, 8))), ext(trim(e.substr(8, 3)));
  if (!base.empty() && uint8_t(base[0]) == 0x05) base[0] = char(0xE5);
  auto fix = [](std::string& s, bool lower) {
    for (char& ch : s) {
      if (uint8_t(ch) >= 0x80) ch = '?';  // OEM code page: not decoded
      else if (lower && ch >= 'A' && ch <= 'Z') ch = char(ch - 'A' + 'a');
    }
  };
  fix(base, flags & 0x08);
  fix(ext, flags & 0x10);
  return ext.empty() ? base : base + "." + ext;
}

class Walker {
 public:
  Walker(ByteSourcePtr vol, const Geometry& g, const std::function<bool(FatFile&)>& visit,
         FatWalkLimits limits, FatWalk& out)
      : vol_(std::move(vol)), g_(g), fat_(*vol_, g_), visit_(visit), limits_(limits), out_(out) {
    // Clusters the image really holds; anything above is "outside the image".
    uint64_t avail = vol_->size() > g_.data_offset ? vol_->size() - g_.data_offset : 0;
    present_ = static_cast<uint32_t>(std::min<uint64_t>(g_.clusters, avail / g_.cluster_bytes));
    used_.assign((uint64_t(present_) + 2 + 7) / 8, 0);
  }

  void run() {
    struct Dir {
      std::string path;
      uint32_t cluster;  // 0: the FAT12/16 fixed root
      int depth;
      bool hidden;
    };
    std::vector<Dir> stack;
    stack.push_back({"", g_.bits == 32 ? g_.root_cluster : 0, 0, false});
    if (g_.bits == 32 && g_.root_cluster < 2) {
      malformed("FAT32 root directory cluster out of range", std::to_string(g_.root_cluster));
      return;
    }
    while (!stack.empty() && !stopped_) {
      Dir d = stack.back();
      stack.pop_back();
      ++out_.directories;
      std::vector<Dir> subdirs;
      read_directory(d.path, d.cluster, d.hidden, [&](const std::string& name, uint32_t cl, bool hid) {
        if (d.depth + 1 > limits_.max_depth) {
          malformed("directories nested too deep", name);
          return;
        }
        subdirs.push_back({name, cl, d.depth + 1, hid});
      });
      // Depth first, in directory order.
      for (auto it = subdirs.rbegin(); it != subdirs.rend(); ++it) stack.push_back(*it);
    }
  }

 private:
  void malformed(std::string msg, std::string evidence = {}) {
    if (out_.findings.size() < 64)
      out_.findings.push_back(make_finding("image.malformed", std::move(msg), std::move(evidence)));
  }

  uint64_t cluster_offset(uint32_t c) const {
    return g_.data_offset + uint64_t(c - 2) * g_.cluster_bytes;
  }

  // Claims cluster c for one chain; false (reported) if it cannot be used.
  bool claim(uint32_t c, const std::string& who) {
    if (c < 2 || c > g_.clusters + 1) {
      malformed("cluster chain points outside the FAT", who + ": cluster " + std::to_string(c));
      return false;
    }
    if (c > present_ + 1) {
      malformed("cluster chain points outside the image", who + ": cluster " + std::to_string(c));
      return false;
    }
    uint8_t& byte = used_[c / 8];
    uint8_t bit = uint8_t(1u << (c % 8));
    if (byte & bit) {
      malformed("cluster chain loops or is cross-linked", who + ": cluster " + std::to_string(c));
      return false;
    }
    byte |= bit;
    return true;
  }

  // The next cluster, or 0 at the end of the chain (reported if abnormal).
  uint32_t next(uint32_t c, const std::string& who, bool expect_more) {
    uint32_t v = fat_.get(c);
    uint32_t eoc = g_.bits == 12 ? 0xFF8 : g_.bits == 16 ? 0xFFF8 : 0x0FFFFFF8;
    if (v >= eoc) {
      if (expect_more) malformed("cluster chain ends before the file does", who);
      return 0;
    }
    if (v == 0 || v == eoc - 1) {
      malformed(v == 0 ? "cluster chain runs into a free cluster" : "cluster chain hits a bad cluster",
                who);
      return 0;
    }
    return v;
  }

  template <typename OnDir>
  void read_directory(const std::string& path, uint32_t cluster, bool hidden, OnDir on_dir) {
    State st;
    if (cluster == 0) {  // FAT12/16 fixed root region
      std::string data = vol_->read_string(g_.root_offset, size_t(g_.root_entries) * 32);
      if (data.size() < size_t(g_.root_entries) * 32) malformed("root directory truncated");
      parse_entries(data, path, hidden, st, on_dir);
      return;
    }
    const std::string who = path.empty() ? "/" : path;
    uint32_t c = cluster;
    uint64_t bytes = 0;
    while (c != 0 && !st.done && !stopped_) {
      if (!claim(c, who)) return;
      if (bytes >= uint64_t(kMaxDirEntries) * 32) {
        malformed("directory too large", who);
        return;
      }
      std::string data = vol_->read_string(cluster_offset(c), g_.cluster_bytes);
      bytes += data.size();
      parse_entries(data, path, hidden, st, on_dir);
      if (st.done) return;
      c = next(c, who, false);
    }
  }

  struct State {
    bool done = false;
    std::vector<std::string> lfn;  // parts, index = ordinal - 1
    int lfn_expect = 0;            // next ordinal expected, 0 when none pending
    uint8_t lfn_sum = 0;
    bool lfn_ok = false;
  };

  template <typename OnDir>
  void parse_entries(std::string_view data, const std::string& path, bool hidden, State& st,
                     OnDir& on_dir) {
    for (size_t off = 0; off + 32 <= data.size() && !stopped_; off += 32) {
      if (++entries_ > limits_.max_entries) {
        malformed("too many directory entries");
        stopped_ = true;
        return;
      }
      std::string_view e = data.substr(off, 32);
      uint8_t first = uint8_t(e[0]);
      if (first == 0x00) {
        st.done = true;  // FAT spec 6.1: no used entries follow
        return;
      }
      uint8_t attr = uint8_t(e[11]);
      if (first == 0xE5) {
        st.lfn_expect = 0;
        continue;
      }
      if ((attr & 0x3F) == 0x0F) {
        take_lfn(e, st);
        continue;
      }
      std::string name = short_name(e);
      if (st.lfn_expect == 1 && st.lfn_ok && lfn_checksum(e.substr(0, 11)) == st.lfn_sum) {
        std::string longname;
        for (auto it = st.lfn.begin(); it != st.lfn.end(); ++it) longname += *it;
        if (!longname.empty()) name = longname;
      }
      st.lfn_expect = 0;
      if (attr & 0x08) continue;  // volume label
      if (name == "." || name == "..") continue;
      std::string full = path.empty() ? clean_component(name) : path + "/" + clean_component(name);
      bool hid = hidden || (attr & 0x06);
      ByteCursor c(e);
      c.seek(20);
      uint32_t hi = c.u16le();
      c.seek(26);
      uint32_t lo = c.u16le();
      uint32_t size = c.u32le();
      uint32_t start = (g_.bits == 32 ? hi << 16 : 0) | lo;
      if (attr & 0x10) {
        if (start == 0) {
          malformed("directory without clusters", full);
          continue;
        }
        on_dir(full, start, hid);
        continue;
      }
      emit_file(full, start, size, hid);
    }
  }

  void take_lfn(std::string_view e, State& st) {
    uint8_t ord = uint8_t(e[0]);
    int n = ord & 0x1F;
    if (ord & 0x40) {
      st.lfn.assign(static_cast<size_t>(n), std::string());
      st.lfn_expect = n + 1;
      st.lfn_sum = uint8_t(e[13]);
      st.lfn_ok = n >= 1;
    }
    if (st.lfn_expect == 0 || n != st.lfn_expect - 1 || n < 1 || uint8_t(e[13]) != st.lfn_sum) {
      st.lfn_expect = 0;
      st.lfn_ok = false;
      return;
    }
    std::string units;
    units.append(e.substr(1, 10)).append(e.substr(14, 12)).append(e.substr(28, 4));
    // Cut at the terminating NUL; 0xFFFF pads the rest (VFAT).
    for (size_t i = 0; i + 1 < units.size(); i += 2) {
      if ((units[i] == 0 && units[i + 1] == 0)) {
        units.resize(i);
        break;
      }
    }
    std::string part;
    append_utf16le(part, units, true);
    st.lfn[static_cast<size_t>(n - 1)] = std::move(part);
    st.lfn_expect = n;
  }

  void emit_file(const std::string& full, uint32_t start, uint32_t size, bool hidden) {
    FatFile f;
    f.path = full;
    f.declared_size = size;
    f.hidden = hidden;
    ExtentList list;
    if (size > 0) {
      uint64_t need = (uint64_t(size) + g_.cluster_bytes - 1) / g_.cluster_bytes;
      if (start == 0) {
        malformed("non-empty file without clusters", full);
      } else if (need > uint64_t(g_.clusters)) {
        malformed("file larger than the volume", full);
      } else {
        uint32_t c = start;
        for (uint64_t i = 0; i < need && c != 0; ++i) {
          if (!claim(c, full)) break;
          list.add(cluster_offset(c), g_.cluster_bytes);
          c = i + 1 < need ? next(c, full, true) : 0;
        }
        list.truncate(size);
      }
    }
    f.size = list.size();
    f.bytes = extent_source(vol_, std::move(list));
    ++out_.files;
    if (!visit_(f)) stopped_ = true;
  }

  ByteSourcePtr vol_;
  const Geometry& g_;
  FatTable fat_;
  const std::function<bool(FatFile&)>& visit_;
  FatWalkLimits limits_;
  FatWalk& out_;
  uint32_t present_ = 0;
  std::vector<uint8_t> used_;
  uint64_t entries_ = 0;
  bool stopped_ = false;
};

}  // namespace

FatWalk walk_fat(ByteSourcePtr volume, const std::function<bool(FatFile&)>& visit,
                 FatWalkLimits limits) {
  FatWalk out;
  Geometry g;
  if (!parse_boot(*volume, g, out.findings)) {
    out.findings.push_back(make_finding("image.malformed", "FAT boot sector is not usable"));
    return out;
  }
  out.valid = true;
  out.fat_bits = g.bits;
  Walker w(std::move(volume), g, visit, limits, out);
  w.run();
  return out;
}

}  // namespace image
}  // namespace sandgate
