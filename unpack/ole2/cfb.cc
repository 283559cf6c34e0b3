// Compound File Binary reader ([MS-CFB] sections cited inline). See cfb.h for
// the guarantees: everything read from the file is range-checked, chains are
// walked with loop detection and a length bound, nothing grows past the file.
#include "unpack/ole2/cfb.h"

#include <algorithm>
#include <cstring>

#include "unpack/ascii.h"
#include "unpack/cursor.h"
#include "unpack/utf8.h"

namespace sandgate::cfb {
namespace {

// [MS-CFB] 2.1 special sector numbers.
constexpr uint32_t kMaxRegSect = 0xFFFFFFFA;
constexpr uint32_t kEndOfChain = 0xFFFFFFFE;
constexpr uint32_t kFreeSect = 0xFFFFFFFF;
constexpr uint32_t kNoStream = 0xFFFFFFFF;
constexpr size_t kHeaderDifat = 109;
constexpr size_t kMaxProblems = 8;
constexpr uint32_t kMiniSectorSize = 64;

constexpr std::string_view kSignature("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8);

}  // namespace

std::string utf16le_to_utf8(std::string_view raw) {
  std::string out;
  out.reserve(raw.size() / 2);
  for (size_t i = 0; i + 1 < raw.size(); i += 2) {
    uint32_t c = uint8_t(raw[i]) | (uint32_t(uint8_t(raw[i + 1])) << 8);
    if (c >= 0xD800 && c < 0xDC00 && i + 3 < raw.size()) {
      uint32_t d = uint8_t(raw[i + 2]) | (uint32_t(uint8_t(raw[i + 3])) << 8);
      if (d >= 0xDC00 && d < 0xE000) {
        append_utf8(out, 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00));
        i += 2;
        continue;
      }
    }
    if (c >= 0xD800 && c < 0xE000) c = 0xFFFD;
    append_utf8(out, c);
  }
  return out;
}

bool has_cfb_signature(std::string_view head) { return head.starts_with(kSignature); }

std::optional<CompoundFile> CompoundFile::open(ByteSourcePtr src, std::string* error) {
  CompoundFile f;
  f.src_ = std::move(src);
  std::string ignored;
  if (!error) error = &ignored;
  if (!f.src_) {
    *error = "no bytes";
    return std::nullopt;
  }
  if (!f.load(error)) return std::nullopt;
  return f;
}

void CompoundFile::problem(std::string p) {
  if (problems_.size() < kMaxProblems) problems_.push_back(std::move(p));
}

bool CompoundFile::load(std::string* error) {
  file_size_ = src_->size();
  header_ = src_->read_string(0, 512);
  const std::string& header = header_;
  if (header.size() < 512 || !has_cfb_signature(header)) {
    *error = "no compound file header";
    return false;
  }
  ByteCursor h(header);
  h.seek(0x1A);
  uint16_t major = h.u16le();
  uint16_t byte_order = h.u16le();
  uint16_t shift = h.u16le();
  uint16_t mini_shift = h.u16le();
  // 2.2: version 3 uses 512-byte sectors, version 4 uses 4096. Other shifts
  // are refused by Office; accept 9 and 12 whatever the version says.
  if (shift != 9 && shift != 12) {
    *error = "sector shift " + std::to_string(shift) + " is neither 9 nor 12";
    return false;
  }
  if (byte_order != 0xFFFE) problem("byte order mark is not FFFE");
  if (major != 3 && major != 4) problem("unknown major version " + std::to_string(major));
  if (mini_shift != 6) problem("mini sector shift is not 6");
  shift_ = shift;
  sector_size_ = 1u << shift;
  file_sectors_ = file_size_ > sector_size_ ? (file_size_ - sector_size_) / sector_size_ : 0;
  // A truncated last sector still holds readable bytes.
  if (file_size_ > sector_size_ && (file_size_ - sector_size_) % sector_size_ != 0)
    ++file_sectors_;
  h.seek(0x38);
  mini_cutoff_ = h.u32le();
  if (mini_cutoff_ != 4096) {
    problem("mini stream cutoff is " + std::to_string(mini_cutoff_) + ", not 4096");
    mini_cutoff_ = 4096;  // what Office uses whatever the header says
  }
  if (!load_fat(error)) return false;
  load_minifat();
  if (!load_directory(error)) return false;
  build_tree();
  return true;
}

bool CompoundFile::load_fat(std::string* error) {
  ByteCursor h(header_);  // not a temporary: the cursor only views bytes
  h.seek(0x2C);
  uint32_t num_fat = h.u32le();
  h.seek(0x44);
  uint32_t first_difat = h.u32le();
  uint32_t num_difat = h.u32le();
  // 2.5: the FAT sector list is the header's 109 DIFAT slots, then DIFAT
  // sectors of (sector_size/4 - 1) slots plus a next pointer.
  std::vector<uint32_t> fat_sectors;
  uint64_t want = std::min<uint64_t>(num_fat, file_sectors_);
  if (num_fat > file_sectors_) problem("header claims more FAT sectors than the file holds");
  fat_sectors.reserve(static_cast<size_t>(std::min<uint64_t>(want, kHeaderDifat)));
  for (size_t i = 0; i < kHeaderDifat && fat_sectors.size() < want; ++i) {
    uint32_t s = h.u32le();
    if (s > kMaxRegSect) continue;  // FREESECT slots
    fat_sectors.push_back(s);
  }
  uint32_t next = first_difat;
  const uint32_t per = sector_size_ / 4 - 1;
  uint64_t difat_seen = 0;
  std::vector<uint8_t> seen_difat;
  while (next <= kMaxRegSect && fat_sectors.size() < want) {
    if (next >= file_sectors_) {
      problem("DIFAT chain points outside the file");
      break;
    }
    if (++difat_seen > file_sectors_ || difat_seen > uint64_t(num_difat) + 1) {
      problem("DIFAT chain is longer than declared");
      break;
    }
    if (seen_difat.empty()) seen_difat.assign(static_cast<size_t>(file_sectors_), 0);
    if (seen_difat[next]) {
      problem("DIFAT chain loops");
      break;
    }
    seen_difat[next] = 1;
    std::string sec = src_->read_string(sector_offset(next), sector_size_);
    ByteCursor c(sec);
    for (uint32_t i = 0; i < per && fat_sectors.size() < want && c.has(4); ++i) {
      uint32_t s = c.u32le();
      if (s <= kMaxRegSect) fat_sectors.push_back(s);
    }
    c.seek(size_t(per) * 4);
    next = c.has(4) ? c.u32le() : kEndOfChain;
  }
  // Sectors past the end of the file cannot be in any chain we follow, so the
  // FAT is cut at file_sectors_ entries: memory stays bounded by the file.
  const size_t per_fat = sector_size_ / 4;
  fat_.reserve(static_cast<size_t>(std::min<uint64_t>(uint64_t(fat_sectors.size()) * per_fat,
                                                      file_sectors_)));
  std::string buf;
  for (uint32_t s : fat_sectors) {
    if (fat_.size() >= file_sectors_) break;
    if (s >= file_sectors_) {
      problem("a FAT sector lies outside the file");
      // Keep positions aligned: entries of a missing FAT sector are free.
      fat_.insert(fat_.end(), per_fat, kFreeSect);
      continue;
    }
    buf = src_->read_string(sector_offset(s), sector_size_);
    buf.resize(sector_size_, '\xFF');
    ByteCursor c(buf);
    for (size_t i = 0; i < per_fat; ++i) fat_.push_back(c.u32le());
  }
  if (fat_.size() > file_sectors_) fat_.resize(static_cast<size_t>(file_sectors_));
  if (fat_.empty()) {
    *error = "no readable FAT";
    return false;
  }
  return true;
}

std::vector<uint32_t> CompoundFile::chain(const std::vector<uint32_t>& fat, uint32_t start,
                                          uint64_t max_sectors, bool* broken) const {
  std::vector<uint32_t> out;
  *broken = false;
  // Generation stamps detect a loop in O(1) per step without clearing an
  // array for every walk.
  const bool mini = &fat == &minifat_;
  std::vector<uint32_t>& stamp = mini ? mini_stamp_ : stamp_;
  uint32_t& gen = mini ? mini_generation_ : generation_;
  if (stamp.size() != fat.size()) stamp.assign(fat.size(), 0);
  if (++gen == 0) {
    std::fill(stamp.begin(), stamp.end(), 0);
    gen = 1;
  }
  uint32_t s = start;
  while (out.size() < max_sectors) {
    if (s == kEndOfChain) return out;
    if (s >= fat.size()) {
      *broken = true;
      return out;
    }
    if (stamp[s] == gen) {
      *broken = true;
      return out;
    }
    stamp[s] = gen;
    out.push_back(s);
    s = fat[s];
  }
  return out;
}

void CompoundFile::load_minifat() {
  ByteCursor h(header_);  // not a temporary: the cursor only views bytes
  h.seek(0x3C);
  uint32_t first = h.u32le();
  uint32_t count = h.u32le();
  if (first > kMaxRegSect || count == 0) return;
  bool broken = false;
  auto sectors = chain(fat_, first, std::min<uint64_t>(count, file_sectors_), &broken);
  if (broken) problem("miniFAT chain is broken");
  std::string buf;
  for (uint32_t s : sectors) {
    buf = src_->read_string(sector_offset(s), sector_size_);
    buf.resize(sector_size_, '\xFF');
    ByteCursor c(buf);
    for (size_t i = 0; i < sector_size_ / 4; ++i) minifat_.push_back(c.u32le());
  }
}

bool CompoundFile::load_directory(std::string* error) {
  ByteCursor h(header_);  // not a temporary: the cursor only views bytes
  h.seek(0x30);
  uint32_t first = h.u32le();
  if (first > kMaxRegSect) {
    *error = "no directory sector";
    return false;
  }
  bool broken = false;
  auto sectors = chain(fat_, first, file_sectors_, &broken);
  if (broken) problem("directory chain is broken");
  if (sectors.empty()) {
    *error = "directory sector outside the file";
    return false;
  }
  const size_t per = sector_size_ / 128;
  entries_.reserve(sectors.size() * per);
  std::string buf;
  for (uint32_t s : sectors) {
    buf = src_->read_string(sector_offset(s), sector_size_);
    for (size_t i = 0; i + 128 <= buf.size(); i += 128) {
      ByteCursor c(std::string_view(buf).substr(i, 128));
      DirEntry e;
      std::string_view raw_name = c.bytes(64);
      uint16_t name_len = c.u16le();
      // 2.6.1: the length counts bytes including the UTF-16 terminator.
      if (name_len >= 2 && name_len <= 64) e.name = utf16le_to_utf8(raw_name.substr(0, name_len - 2));
      uint8_t type = c.u8();
      c.u8();  // color
      uint32_t left = c.u32le(), right = c.u32le(), child = c.u32le();
      std::string_view clsid = c.bytes(16);
      std::memcpy(e.clsid.data(), clsid.data(), 16);
      c.skip(4 + 8 + 8);  // state bits, creation and modification times
      e.start = c.u32le();
      e.size = c.u64le();
      if (shift_ == 9) e.size &= 0xFFFFFFFFu;  // 2.6.3: high part may be garbage in v3
      switch (type) {
        case 1: e.type = EntryType::storage; break;
        case 2: e.type = EntryType::stream; break;
        case 5: e.type = EntryType::root; break;
        default: e.type = EntryType::unknown; break;
      }
      entries_.push_back(std::move(e));
      // Remember the tree links beside the entry (index-aligned).
      children_.push_back({static_cast<int>(left), static_cast<int>(right),
                           static_cast<int>(child)});
    }
  }
  if (entries_.empty() || entries_[0].type != EntryType::root) {
    if (entries_.empty()) {
      *error = "empty directory";
      return false;
    }
    problem("first directory entry is not the root");
    entries_[0].type = EntryType::root;
  }
  // The mini stream is the root entry's chain (2.6.2).
  const DirEntry& root = entries_[0];
  if (root.start <= kMaxRegSect && root.size > 0) {
    uint64_t need = (std::min<uint64_t>(root.size, file_size_) + sector_size_ - 1) / sector_size_;
    ministream_sectors_ = chain(fat_, root.start, need, &broken);
    if (broken) problem("mini stream chain is broken");
  }
  return true;
}

void CompoundFile::build_tree() {
  // children_ temporarily holds {left, right, child} per entry; turn it into
  // the real child lists by walking each storage's red-black tree (2.6.4)
  // with an explicit stack. Every entry is claimed at most once, so loops and
  // shared subtrees end the walk instead of repeating it.
  std::vector<std::array<uint32_t, 3>> links(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i)
    for (int k = 0; k < 3; ++k) links[i][k] = static_cast<uint32_t>(children_[i][k]);
  children_.assign(entries_.size(), {});
  std::vector<uint8_t> claimed(entries_.size(), 0);
  claimed[0] = 1;
  entries_[0].reachable = true;
  std::vector<int> storages = {0};
  bool reported = false;
  for (size_t si = 0; si < storages.size(); ++si) {
    int storage = storages[si];
    std::vector<uint32_t> stack = {links[storage][2]};
    while (!stack.empty()) {
      uint32_t id = stack.back();
      stack.pop_back();
      if (id == kNoStream) continue;
      if (id >= entries_.size() || claimed[id]) {
        if (!reported) problem("directory tree points outside itself or loops");
        reported = true;
        continue;
      }
      claimed[id] = 1;
      DirEntry& e = entries_[id];
      e.reachable = true;
      e.parent = storage;
      const DirEntry& p = entries_[storage];
      e.path = p.type == EntryType::root ? e.name : p.path + "/" + e.name;
      children_[storage].push_back(static_cast<int>(id));
      stack.push_back(links[id][0]);
      stack.push_back(links[id][1]);
      if (e.type == EntryType::storage) storages.push_back(static_cast<int>(id));
    }
  }
  for (auto& list : children_) std::sort(list.begin(), list.end());
}

std::vector<int> CompoundFile::children(int storage) const {
  if (storage < 0 || static_cast<size_t>(storage) >= children_.size()) return {};
  return children_[storage];
}

int CompoundFile::find_child(int storage, std::string_view name) const {
  for (int i : children(storage))
    if (ascii_iequals(entries_[i].name, name)) return i;
  return -1;
}

bool CompoundFile::read_stream(const DirEntry& e, uint64_t max_bytes,
                               const std::function<bool(std::string_view)>& sink) const {
  if (!e.is_stream() || e.size == 0 || max_bytes == 0) return true;
  bool complete = true;
  uint64_t want = e.size;
  if (want > file_size_) {
    want = file_size_;  // a stream cannot hold more than the file
    complete = false;
  }
  bool cut = want > max_bytes;
  want = std::min(want, max_bytes);
  bool broken = false;
  if (e.size < mini_cutoff_) {
    // 2.6.3: small streams live in the mini stream, 64-byte mini sectors.
    uint64_t need = (want + kMiniSectorSize - 1) / kMiniSectorSize;
    auto minis = chain(minifat_, e.start, need, &broken);
    std::string buf;
    uint64_t left = want;
    for (uint32_t m : minis) {
      uint64_t pos = uint64_t(m) * kMiniSectorSize;
      uint64_t idx = pos >> shift_;
      if (idx >= ministream_sectors_.size()) {
        broken = true;
        break;
      }
      uint64_t off = sector_offset(ministream_sectors_[idx]) + (pos & (sector_size_ - 1));
      size_t n = static_cast<size_t>(std::min<uint64_t>(left, kMiniSectorSize));
      buf = src_->read_string(off, n);
      if (buf.size() < n) broken = true;
      left -= buf.size();
      if (!buf.empty() && !sink(buf)) return true;
      if (broken || left == 0) break;
    }
    if (left > 0) broken = true;
  } else {
    uint64_t need = (want + sector_size_ - 1) / sector_size_;
    auto sectors = chain(fat_, e.start, need, &broken);
    uint64_t left = want;
    std::string buf;
    // Coalesce runs of consecutive sectors into one read (most streams are
    // contiguous), at most 1 MiB at a time.
    size_t i = 0;
    while (i < sectors.size() && left > 0) {
      size_t j = i + 1;
      while (j < sectors.size() && sectors[j] == sectors[j - 1] + 1 &&
             (j - i) * sector_size_ < (1u << 20))
        ++j;
      uint64_t n = std::min<uint64_t>(left, uint64_t(j - i) * sector_size_);
      buf = src_->read_string(sector_offset(sectors[i]), static_cast<size_t>(n));
      if (buf.size() < n) broken = true;
      left -= buf.size();
      if (!buf.empty() && !sink(buf)) return true;
      if (broken) break;
      i = j;
    }
    if (left > 0) broken = true;
  }
  (void)cut;
  return complete && !broken;
}

std::string CompoundFile::read_stream(const DirEntry& e, uint64_t max_bytes,
                                      bool* complete) const {
  std::string out;
  uint64_t cap = std::min<uint64_t>({e.size, max_bytes, file_size_});
  out.reserve(static_cast<size_t>(cap));
  bool ok = read_stream(e, max_bytes, [&out](std::string_view chunk) {
    out.append(chunk);
    return true;
  });
  if (complete) *complete = ok && e.size <= max_bytes;
  return out;
}

}  // namespace sandgate::cfb
