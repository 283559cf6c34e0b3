// Compound File Binary ([MS-CFB]) reader of our own: header, DIFAT, FAT,
// miniFAT and the directory tree, with streams read through their sector
// chains. Used by the OLE2 unpacker (streams with content become children) and
// by the Office analyzer (VBA projects, BIFF8 workbooks, encryption markers).
//
// Guarantees: every sector number, size and count read from the file is
// checked against the file before use; chains that loop, leave the file or
// end early stop the read (reported in `problems()`); memory is bounded by the
// file size (the FAT, the directory) and by the caller's max_bytes (streams).
// Never throws for bad input.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate::cfb {

// [MS-CFB] 2.6.1 object types.
enum class EntryType : uint8_t { unknown = 0, storage = 1, stream = 2, root = 5 };

struct DirEntry {
  std::string name;     // UTF-16LE name as UTF-8 (control chars such as \x01 kept)
  std::string path;     // storage chain below the root, '/'-joined ("Macros/VBA/dir")
  EntryType type = EntryType::unknown;
  uint32_t start = 0;   // first sector (mini sector when in the mini stream)
  uint64_t size = 0;    // declared stream size (clamped to the file for reading)
  int parent = -1;      // index of the storage holding it; -1 for the root and orphans
  std::array<uint8_t, 16> clsid{};
  bool reachable = false;  // reached from the root through the red-black trees
  bool is_stream() const { return type == EntryType::stream; }
  bool is_storage() const { return type == EntryType::storage || type == EntryType::root; }
};

class CompoundFile {
 public:
  // Parses the structure. Returns nullopt when the header is not a compound
  // file or the directory cannot be read at all; *error then says why.
  static std::optional<CompoundFile> open(ByteSourcePtr src, std::string* error);

  // Index 0 is the root entry. Entries unreachable from the root keep
  // reachable = false and parent = -1.
  const std::vector<DirEntry>& entries() const { return entries_; }
  // Indexes of the entries directly inside storage `storage`.
  std::vector<int> children(int storage) const;
  // The child of `storage` named `name` (case-insensitive ASCII), or -1.
  int find_child(int storage, std::string_view name) const;

  // Reads a stream's bytes in chunks (runs of contiguous sectors) into sink,
  // at most max_bytes of them; sink returns false to stop. Returns false when
  // the chain was broken (loop, out of range, too short): what was read so
  // far has been delivered.
  bool read_stream(const DirEntry& e, uint64_t max_bytes,
                   const std::function<bool(std::string_view)>& sink) const;
  // Convenience: the first max_bytes bytes of a stream. *complete (optional)
  // is false when the chain was broken or the stream was cut at max_bytes.
  std::string read_stream(const DirEntry& e, uint64_t max_bytes, bool* complete = nullptr) const;

  // Structural problems seen while opening (broken chains, bad header
  // fields, loops in the directory tree), one sentence each, at most a few.
  const std::vector<std::string>& problems() const { return problems_; }
  uint32_t sector_size() const { return sector_size_; }

 private:
  CompoundFile() = default;
  bool load(std::string* error);
  bool load_fat(std::string* error);
  void load_minifat();
  bool load_directory(std::string* error);
  void build_tree();
  // Follows a FAT chain from start, at most max_sectors sectors; stops at
  // ENDOFCHAIN, at a loop or at an invalid sector (then *broken = true).
  std::vector<uint32_t> chain(const std::vector<uint32_t>& fat, uint32_t start,
                              uint64_t max_sectors, bool* broken) const;
  void problem(std::string p);
  uint64_t sector_offset(uint32_t s) const { return (uint64_t(s) + 1) << shift_; }

  ByteSourcePtr src_;
  std::string header_;  // the 512-byte header, read once
  uint64_t file_size_ = 0;
  uint32_t shift_ = 9;
  uint32_t sector_size_ = 512;
  uint32_t mini_cutoff_ = 4096;
  uint64_t file_sectors_ = 0;  // sectors that exist in the file after the header
  std::vector<uint32_t> fat_;
  std::vector<uint32_t> minifat_;
  std::vector<uint32_t> ministream_sectors_;  // the root entry's chain
  std::vector<DirEntry> entries_;
  std::vector<std::vector<int>> children_;
  std::vector<std::string> problems_;
  // Loop detection: sector -> generation of the walk that last visited it.
  // Makes reads not thread-safe; one CompoundFile serves one thread.
  mutable std::vector<uint32_t> stamp_, mini_stamp_;
  mutable uint32_t generation_ = 0, mini_generation_ = 0;
};

// UTF-16LE to UTF-8; surrogate pairs joined, lone surrogates become U+FFFD,
// an odd trailing byte is dropped.
std::string utf16le_to_utf8(std::string_view raw);

// True when the bytes start with the compound file signature D0 CF 11 E0 A1 B1 1A E1.
bool has_cfb_signature(std::string_view head);

}  // namespace sandgate::cfb
