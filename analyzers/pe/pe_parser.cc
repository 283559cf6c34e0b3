// PE parser implementation. Offsets follow Microsoft's "PE Format" document:
// COFF file header (3.3), optional header standard/Windows fields and data
// directories (3.4), section table (4), import directory table (6.4).
#include "analyzers/pe/pe_parser.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "unpack/cursor.h"

namespace sandgate {
namespace {

constexpr uint16_t kMagicPe32 = 0x10b;
constexpr uint16_t kMagicPe32Plus = 0x20b;
constexpr size_t kCoffHeaderSize = 20;
constexpr size_t kSectionHeaderSize = 40;
// The loader refuses more than 96 sections on older Windows and 65535 is the
// field's range; we accept the field's range since the table is only read.
constexpr uint32_t kMaxSections = 0xFFFF;
constexpr uint32_t kMaxDirectories = 16;  // PE Format 3.4.3: at most 16 are defined

std::string read_exact(const ByteSource& src, uint64_t off, size_t n) {
  std::string s(n, '\0');
  size_t got = src.read_at(off, s.data(), n);
  s.resize(got);
  return s;
}

std::string hex32(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// Reads a NUL-terminated printable name of at most max bytes at off.
std::string read_c_name(const ByteSource& src, uint64_t off, size_t max) {
  std::string s = read_exact(src, off, max);
  auto nul = s.find('\0');
  if (nul != std::string::npos) s.resize(nul);
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return s;
}

// Histogram of one block into h (four tables break the store-to-load
// dependency on runs of one byte value).
void histogram_block(const unsigned char* p, size_t n, uint32_t (&h)[4][256]) {
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    ++h[0][p[i]];
    ++h[1][p[i + 1]];
    ++h[2][p[i + 2]];
    ++h[3][p[i + 3]];
  }
  for (; i < n; ++i) ++h[0][p[i]];
}

struct Interval {
  uint64_t from, to;  // [from, to)
};

// The Windows loader accepts at most 96 sections; past that (hostile or odd
// files) each section's entropy is read on its own, so the per-section
// histograms of the single pass stay bounded.
constexpr size_t kMaxMergedSections = 96;
// L1-sized: the bytes a read copies in are hashed and counted while still in
// L1 (measured ~5% faster than 128 KiB blocks on a signed 1 MiB PE; the
// extra pread calls cost less than the cache misses they save).
constexpr size_t kPassBlock = 32 * 1024;
constexpr uint64_t kEntropyWindows = 64;

void parse_imports(const ByteSource& src, PeInfo& pe, const PeParseOptions& opt) {
  const PeDataDirectory* dir = pe.directory(kPeDirImport);
  if (!dir || dir->rva == 0 || dir->size == 0) return;
  uint64_t off = 0;
  if (!pe_rva_to_offset(pe, dir->rva, &off)) {
    pe.anomalies.push_back("import directory RVA " + hex32(dir->rva) + " maps to no file data");
    return;
  }
  const size_t thunk_size = pe.pe32plus ? 8 : 4;
  for (size_t i = 0;; ++i) {
    if (pe.import_dlls.size() >= opt.max_import_dlls) {
      pe.imports_truncated = true;
      return;
    }
    std::string d = read_exact(src, off + i * 20, 20);
    if (d.size() < 20) {
      pe.anomalies.push_back("import directory runs past the end of the file");
      return;
    }
    ByteCursor c(d);
    uint32_t lookup = c.u32le();
    c.skip(8);
    uint32_t name_rva = c.u32le();
    uint32_t first_thunk = c.u32le();
    if (lookup == 0 && name_rva == 0 && first_thunk == 0) return;  // terminator
    uint64_t name_off = 0;
    pe.import_dlls.push_back(pe_rva_to_offset(pe, name_rva, &name_off)
                                 ? read_c_name(src, name_off, 256)
                                 : std::string("?"));
    uint64_t thunk_off = 0;
    if (!pe_rva_to_offset(pe, lookup ? lookup : first_thunk, &thunk_off)) continue;
    // Count entries of the lookup table until its zero terminator, in blocks.
    std::string block;
    for (uint64_t pos = thunk_off;; pos += block.size()) {
      block = read_exact(src, pos, 4096);
      block.resize(block.size() - block.size() % thunk_size);
      if (block.empty()) return;
      bool end = false;
      for (size_t k = 0; k < block.size(); k += thunk_size) {
        ByteCursor t(block.data() + k, thunk_size);
        uint64_t v = thunk_size == 8 ? t.u64le() : t.u32le();
        if (v == 0) {
          end = true;
          break;
        }
        if (++pe.import_functions >= opt.max_import_functions) {
          pe.imports_truncated = true;
          return;
        }
      }
      if (end) break;
    }
  }
}

}  // namespace

double entropy_of(const uint64_t (&histogram)[256], uint64_t n) {
  if (n == 0) return 0;
  double e = 0;
  for (uint64_t c : histogram) {
    if (c == 0) continue;
    double p = double(c) / double(n);
    e -= p * std::log2(p);
  }
  return e;
}

bool pe_rva_to_offset(const PeInfo& pe, uint32_t rva, uint64_t* offset) {
  if (rva < pe.size_of_headers && rva < pe.file_size) {
    *offset = rva;
    return true;
  }
  for (const auto& s : pe.sections) {
    uint64_t span = std::max(s.virtual_size, s.raw_size);
    if (rva >= s.virtual_address && uint64_t(rva) < uint64_t(s.virtual_address) + span) {
      uint64_t delta = rva - s.virtual_address;
      if (delta >= s.raw_size) return false;  // in the zero-filled tail
      uint64_t off = uint64_t(s.raw_offset) + delta;
      if (off >= pe.file_size) return false;
      *offset = off;
      return true;
    }
  }
  return false;
}

const char* pe_machine_name(uint16_t machine) {
  switch (machine) {
    case 0x14c: return "i386";
    case 0x8664: return "amd64";
    case 0x1c0: return "arm";
    case 0x1c4: return "armnt";
    case 0xaa64: return "arm64";
    case 0x200: return "ia64";
    case 0x0: return "unknown";
    default: return "other";
  }
}

PeInfo parse_pe(const ByteSource& src, const PeParseOptions& opt) {
  PeInfo pe;
  pe.file_size = src.size();
  std::string dos = read_exact(src, 0, 64);
  if (dos.size() < 64) {
    pe.errors.push_back("file ends inside the DOS header (" + std::to_string(dos.size()) + " bytes)");
    return pe;
  }
  ByteCursor dc(dos);
  if (!dc.starts_with("MZ")) {
    pe.errors.push_back("no MZ signature");
    return pe;
  }
  dc.seek(0x3c);
  pe.pe_offset = dc.u32le();
  uint64_t nt = pe.pe_offset;
  if (nt + 4 + kCoffHeaderSize > pe.file_size) {
    pe.errors.push_back("PE header offset " + hex32(nt) + " is past the end of the file");
    return pe;
  }
  std::string coff = read_exact(src, nt, 4 + kCoffHeaderSize);
  ByteCursor cc(coff);
  if (!cc.starts_with(std::string_view("PE\0\0", 4))) {
    pe.errors.push_back("no PE signature at " + hex32(nt));
    return pe;
  }
  cc.skip(4);
  pe.machine = cc.u16le();
  uint32_t nsections = cc.u16le();
  cc.skip(12);  // time stamp, symbol table pointer, symbol count
  uint32_t opt_size = cc.u16le();
  pe.characteristics = cc.u16le();
  uint64_t opt_off = nt + 4 + kCoffHeaderSize;
  if (opt_size < 2 || opt_off + opt_size > pe.file_size) {
    pe.errors.push_back("optional header (" + std::to_string(opt_size) +
                        " bytes) does not fit in the file");
    return pe;
  }
  std::string oh = read_exact(src, opt_off, opt_size);
  ByteCursor oc(oh);
  uint16_t magic = oc.u16le();
  if (magic != kMagicPe32 && magic != kMagicPe32Plus) {
    pe.errors.push_back("unknown optional header magic " + hex32(magic));
    return pe;
  }
  pe.pe32plus = magic == kMagicPe32Plus;
  const size_t dirs_at = pe.pe32plus ? 112 : 96;
  if (opt_size < dirs_at) {
    pe.errors.push_back("optional header too small for its magic (" + std::to_string(opt_size) +
                        " bytes)");
    return pe;
  }
  oc.seek(16);
  pe.entry_rva = oc.u32le();
  if (pe.pe32plus) {
    oc.seek(24);
    pe.image_base = oc.u64le();
  } else {
    oc.seek(28);
    pe.image_base = oc.u32le();
  }
  oc.seek(60);
  pe.size_of_headers = oc.u32le();
  pe.checksum_offset = opt_off + 64;
  pe.checksum = oc.u32le();
  pe.subsystem = oc.u16le();
  oc.seek(dirs_at - 4);
  uint32_t ndirs = oc.u32le();
  if (ndirs > kMaxDirectories) {
    pe.anomalies.push_back("NumberOfRvaAndSizes is " + std::to_string(ndirs));
    ndirs = kMaxDirectories;
  }
  if (dirs_at + size_t(ndirs) * 8 > opt_size) {
    pe.anomalies.push_back("data directories run past the optional header");
    ndirs = static_cast<uint32_t>((opt_size - dirs_at) / 8);
  }
  oc.seek(dirs_at);
  for (uint32_t i = 0; i < ndirs; ++i) {
    PeDataDirectory d;
    d.rva = oc.u32le();
    d.size = oc.u32le();
    pe.directories.push_back(d);
  }
  if (ndirs > kPeDirSecurity) pe.security_dir_offset = opt_off + dirs_at + kPeDirSecurity * 8;

  // Section table (PE Format 4).
  uint64_t sec_off = opt_off + opt_size;
  if (nsections == 0) pe.anomalies.push_back("no sections");
  if (nsections > kMaxSections) nsections = kMaxSections;
  uint64_t table = uint64_t(nsections) * kSectionHeaderSize;
  if (sec_off + table > pe.file_size) {
    pe.errors.push_back("section table (" + std::to_string(nsections) +
                        " entries) runs past the end of the file");
    return pe;
  }
  std::string st = read_exact(src, sec_off, static_cast<size_t>(table));
  ByteCursor sc(st);
  pe.end_of_image_data = std::min<uint64_t>(pe.size_of_headers, pe.file_size);
  if (pe.size_of_headers > pe.file_size)
    pe.anomalies.push_back("SizeOfHeaders " + hex32(pe.size_of_headers) + " exceeds the file");
  for (uint32_t i = 0; i < nsections; ++i) {
    PeSection s;
    std::string_view nm = sc.bytes(8);
    s.name.assign(nm.data(), nm.size());
    if (auto z = s.name.find('\0'); z != std::string::npos) s.name.resize(z);
    for (char& ch : s.name)
      if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) > 0x7e) ch = '?';
    s.virtual_size = sc.u32le();
    s.virtual_address = sc.u32le();
    s.raw_size = sc.u32le();
    s.raw_offset = sc.u32le();
    sc.skip(12);
    s.characteristics = sc.u32le();
    uint64_t raw_end = uint64_t(s.raw_offset) + s.raw_size;
    if (s.raw_size && raw_end > pe.file_size)
      pe.anomalies.push_back("section " + s.name + " raw data ends at " + hex32(raw_end) +
                             ", past the end of the file (" + hex32(pe.file_size) + ")");
    if (s.raw_size) pe.end_of_image_data = std::max(pe.end_of_image_data, std::min(raw_end, pe.file_size));
    pe.sections.push_back(std::move(s));
  }
  pe.is_pe = true;

  // Entry point (PE Format 3.4.1: 0 is allowed for DLLs without one).
  for (const auto& s : pe.sections) {
    uint64_t span = std::max(s.virtual_size, s.raw_size);
    if (pe.entry_rva >= s.virtual_address && uint64_t(pe.entry_rva) < uint64_t(s.virtual_address) + span)
      pe.entry_in_section = true;
  }

  const PeDataDirectory* res = pe.directory(kPeDirResource);
  pe.has_resources = res && res->rva && res->size;

  // Overlay: bytes past the image data that are not the certificate table.
  if (pe.file_size > pe.end_of_image_data) {
    uint64_t extra = pe.file_size - pe.end_of_image_data;
    const PeDataDirectory* sec = pe.directory(kPeDirSecurity);
    if (sec && sec->rva && sec->size && sec->rva >= pe.end_of_image_data) {
      uint64_t cert_end = std::min<uint64_t>(uint64_t(sec->rva) + sec->size, pe.file_size);
      uint64_t inside = cert_end > sec->rva ? cert_end - sec->rva : 0;
      extra -= std::min(extra, inside);
    }
    if (extra) {
      pe.overlay_offset = pe.end_of_image_data;
      pe.overlay_size = extra;
    }
  }

  parse_imports(src, pe, opt);
  if (opt.entropy) pe_read_pass(src, pe, opt, nullptr);
  return pe;
}

bool pe_read_pass(const ByteSource& src, PeInfo& pe, const PeParseOptions& opt,
                  const PeDigestInput* digest) {
  const uint64_t file_size = src.size();
  // What each consumer needs, as byte intervals of the file.
  std::vector<Interval> digest_parts;
  if (digest) {
    const uint64_t end = std::min(digest->end, file_size);
    uint64_t pos = 0;
    auto skip = [&](uint64_t off, uint64_t len) {
      if (off == 0 || off < pos) return;
      digest_parts.push_back({pos, std::min(off, end)});
      pos = std::min(off + len, end);
    };
    skip(digest->checksum_offset, 4);
    skip(digest->security_dir_offset, 8);
    digest_parts.push_back({pos, end});
  }
  // Entropy windows: a whole section, or evenly spaced samples of a big one.
  struct Window {
    size_t section;
    Interval iv;
  };
  std::vector<Window> windows;
  const uint64_t sample = std::max<uint64_t>(opt.entropy_sample_bytes, kEntropyWindows);
  if (opt.entropy) {
    const uint64_t width = sample / kEntropyWindows;
    for (size_t i = 0; i < pe.sections.size(); ++i) {
      const PeSection& s = pe.sections[i];
      if (s.raw_offset >= file_size || s.raw_size == 0) continue;
      const uint64_t n = std::min<uint64_t>(s.raw_size, file_size - s.raw_offset);
      if (n <= sample) {
        windows.push_back({i, {s.raw_offset, s.raw_offset + n}});
        continue;
      }
      for (uint64_t j = 0; j < kEntropyWindows; ++j) {
        uint64_t at = s.raw_offset + (n - width) * j / (kEntropyWindows - 1);
        windows.push_back({i, {at, at + width}});
      }
    }
  }
  const bool merged = pe.sections.size() <= kMaxMergedSections;

  // Bytes come straight from the source's memory when it has a view (no copy
  // of a 1 MiB file through a buffer), else through read_at.
  const unsigned char* view = src.view();
  const uint64_t size = src.size();
  std::unique_ptr<unsigned char[]> buf(view ? nullptr : new unsigned char[kPassBlock]);
  uint32_t h[4][256];
  // Streams [from, to) of the file through fn(offset, bytes, n) in blocks;
  // false on a short read.
  auto stream = [&](Interval iv, auto&& fn) {
    if (view) {
      const uint64_t end = std::min(iv.to, size);
      for (uint64_t at = iv.from; at < end;) {
        size_t n = static_cast<size_t>(std::min<uint64_t>(kPassBlock, end - at));
        fn(at, view + at, n);
        at += n;
      }
      return iv.from >= iv.to || iv.to <= size;  // as read_at: short past the end
    }
    for (uint64_t at = iv.from; at < iv.to;) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(kPassBlock, iv.to - at));
      size_t got = src.read_at(at, buf.get(), want);
      if (got == 0) return false;
      fn(at, buf.get(), got);
      at += got;
    }
    return true;
  };
  auto finish_section = [&](PeSection& s, const uint64_t(&total)[256], uint64_t n) {
    s.entropy = entropy_of(total, n);
    s.entropy_bytes = n;
  };

  if (!merged) {
    // One read per window for the entropy (windows come grouped by
    // section), then the digest on its own.
    for (size_t k = 0; k < windows.size();) {
      const size_t section = windows[k].section;
      std::memset(h, 0, sizeof h);
      uint64_t done = 0;
      for (; k < windows.size() && windows[k].section == section; ++k)
        stream(windows[k].iv, [&](uint64_t, const unsigned char* p, size_t n) {
          histogram_block(p, n, h);
          done += n;
        });
      uint64_t total[256];
      for (int b = 0; b < 256; ++b) total[b] = uint64_t(h[0][b]) + h[1][b] + h[2][b] + h[3][b];
      finish_section(pe.sections[section], total, done);
    }
    bool ok = true;
    for (const auto& part : digest_parts)
      ok = ok &&
           stream(part, [&](uint64_t, const unsigned char* p, size_t n) { digest->sink(p, n); });
    return ok;
  }

  std::sort(windows.begin(), windows.end(),
            [](const Window& a, const Window& b) { return a.iv.from < b.iv.from; });
  // The union of all intervals, read once in file order.
  std::vector<Interval> all = digest_parts;
  for (const auto& w : windows) all.push_back(w.iv);
  std::sort(all.begin(), all.end(),
            [](const Interval& a, const Interval& b) { return a.from < b.from; });
  std::vector<Interval> runs;
  for (const auto& iv : all) {
    if (iv.to <= iv.from) continue;
    if (!runs.empty() && iv.from <= runs.back().to)
      runs.back().to = std::max(runs.back().to, iv.to);
    else
      runs.push_back(iv);
  }
  std::vector<std::array<uint64_t, 256>> totals(pe.sections.size());
  std::vector<uint64_t> counted(pe.sections.size(), 0);
  for (auto& t : totals) t.fill(0);
  bool ok = true;
  for (const auto& run : runs) {
    bool complete = stream(run, [&](uint64_t at, const unsigned char* p, size_t n) {
      const uint64_t end = at + n;
      for (const auto& part : digest_parts) {
        uint64_t a = std::max(at, part.from), b = std::min(end, part.to);
        if (a < b) digest->sink(p + (a - at), static_cast<size_t>(b - a));
      }
      // Windows are sorted by start and at most `sample` long: only those
      // starting in [at - sample, end) can overlap this block.
      auto first = std::lower_bound(windows.begin(), windows.end(), at > sample ? at - sample : 0,
                                    [](const Window& w, uint64_t v) { return w.iv.from < v; });
      for (auto it = first; it != windows.end() && it->iv.from < end; ++it) {
        const Window& w = *it;
        uint64_t a = std::max(at, w.iv.from), b = std::min(end, w.iv.to);
        if (a >= b) continue;
        std::memset(h, 0, sizeof h);
        histogram_block(p + (a - at), static_cast<size_t>(b - a), h);
        auto& t = totals[w.section];
        for (int v = 0; v < 256; ++v)
          t[size_t(v)] += uint64_t(h[0][v]) + h[1][v] + h[2][v] + h[3][v];
        counted[w.section] += b - a;
      }
    });
    if (!complete)
      for (const auto& part : digest_parts)
        if (part.from < run.to && part.to > run.from) ok = false;
  }
  for (size_t i = 0; i < pe.sections.size(); ++i) {
    if (counted[i] == 0) continue;
    uint64_t total[256];
    std::copy(totals[i].begin(), totals[i].end(), total);
    finish_section(pe.sections[i], total, counted[i]);
  }
  return ok;
}

}  // namespace sandgate
