// MS-OVBA decompression and VBA project reading; see vba_project.h.
#include "unpack/ole2/vba_project.h"

#include <algorithm>

#include "unpack/ascii.h"
#include "unpack/cursor.h"

namespace sandgate::ovba {
namespace {

constexpr size_t kChunkMax = 4096;  // 2.4.1.1.4: a DecompressedChunk holds at most 4096 bytes

// 2.4.1.3.19.1 CopyToken Help: bit count of the offset field given how far
// into the chunk the decompressor is.
unsigned copy_token_bit_count(size_t difference) {
  unsigned n = 4;
  while (n < 12 && (size_t(1) << n) < difference) ++n;
  return n;
}

// Decompresses one chunk's tokens into out (2.4.1.3.2). Returns false on a
// malformed token; *cap_hit when max_out stopped it.
bool decompress_chunk(std::string_view chunk, size_t max_out, std::string* out, bool* cap_hit) {
  const size_t chunk_start = out->size();
  size_t pos = 0;
  while (pos < chunk.size()) {
    uint8_t flags = static_cast<uint8_t>(chunk[pos++]);
    for (int bit = 0; bit < 8 && pos < chunk.size(); ++bit) {
      if (out->size() >= max_out) {
        *cap_hit = true;
        return true;
      }
      if (!(flags & (1 << bit))) {
        if (out->size() - chunk_start >= kChunkMax) return false;
        out->push_back(chunk[pos++]);
        continue;
      }
      if (pos + 2 > chunk.size()) return false;
      uint16_t token = static_cast<uint16_t>(uint8_t(chunk[pos]) | (uint8_t(chunk[pos + 1]) << 8));
      pos += 2;
      size_t difference = out->size() - chunk_start;
      if (difference == 0) return false;  // nothing to copy from yet
      unsigned bits = copy_token_bit_count(difference);
      uint16_t length_mask = static_cast<uint16_t>(0xFFFF >> bits);
      size_t length = (token & length_mask) + 3u;
      size_t offset = (static_cast<size_t>(token & ~length_mask) >> (16 - bits)) + 1;
      if (offset > difference) return false;
      if (difference + length > kChunkMax) return false;
      // Byte by byte: source and destination may overlap (run-length copies).
      size_t from = out->size() - offset;
      for (size_t i = 0; i < length; ++i) {
        if (out->size() >= max_out) {
          *cap_hit = true;
          return true;
        }
        out->push_back((*out)[from + i]);
      }
    }
  }
  return true;
}

// MBCS names: ASCII kept, other bytes mapped as Latin-1 so the result is UTF-8.
std::string latin1_to_utf8(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto c = static_cast<uint8_t>(ch);
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back(static_cast<char>(0xC0 | (c >> 6)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

// Where a module's compressed source starts when the dir stream does not say:
// a CompressedContainer (0x01), a chunk header, then a flag byte 0x00 and the
// literal "Attribut" that every exported module source begins with.
size_t find_source_start(std::string_view stream) {
  constexpr std::string_view kMarker("\x00" "Attribut", 9);
  size_t at = stream.find(kMarker);
  while (at != std::string_view::npos) {
    if (at >= 3 && stream[at - 3] == '\x01') return at - 3;
    at = stream.find(kMarker, at + 1);
  }
  return std::string_view::npos;
}

}  // namespace

bool decompress(std::string_view in, size_t max_out, std::string* out, bool* truncated) {
  if (truncated) *truncated = false;
  // 2.4.1.1.1 CompressedContainer: SignatureByte 0x01, then chunks.
  if (in.empty() || in[0] != '\x01') return false;
  size_t pos = 1;
  while (pos + 2 <= in.size()) {
    if (out->size() >= max_out) {
      if (truncated) *truncated = true;
      return true;
    }
    uint16_t header = static_cast<uint16_t>(uint8_t(in[pos]) | (uint8_t(in[pos + 1]) << 8));
    pos += 2;
    // 2.4.1.1.5 CompressedChunkHeader: size - 3 in 12 bits, signature 0b011,
    // flag 1 = compressed. A wrong signature is tolerated (Office does).
    size_t size = (header & 0x0FFF) + 3u;
    bool compressed = header & 0x8000;
    size_t data_len = std::min(size - 2, in.size() - pos);
    if (!compressed) {
      // 2.4.1.3.3: a raw chunk is 4096 literal bytes.
      size_t n = std::min({kChunkMax, in.size() - pos, max_out - out->size()});
      out->append(in.substr(pos, n));
      pos += std::min(kChunkMax, in.size() - pos);
      continue;
    }
    bool cap_hit = false;
    if (!decompress_chunk(in.substr(pos, data_len), max_out, out, &cap_hit)) return false;
    if (cap_hit) {
      if (truncated) *truncated = true;
      return true;
    }
    pos += data_len;
  }
  return true;
}

DirInfo parse_dir(std::string_view dir) {
  DirInfo info;
  ByteCursor c(dir);
  ModuleRecord* current = nullptr;
  // Records are Id (2) + Size (4) + Size bytes, except PROJECTVERSION whose
  // "Reserved" field says 4 while 6 bytes follow (2.3.4.2.1.11).
  while (c.has(6)) {
    uint16_t id = c.u16le();
    uint32_t size = c.u32le();
    if (id == 0x0009) {
      if (!c.skip(6)) info.malformed = true;
      continue;
    }
    if (!c.has(size)) {
      info.malformed = true;
      break;
    }
    std::string_view data = c.bytes(size);
    switch (id) {
      case 0x0003:  // PROJECTCODEPAGE
        if (size == 2) info.codepage = static_cast<uint16_t>(uint8_t(data[0]) | (uint8_t(data[1]) << 8));
        break;
      case 0x0019:  // MODULENAME starts a module
        info.modules.emplace_back();
        current = &info.modules.back();
        current->name = latin1_to_utf8(data);
        break;
      case 0x0047:  // MODULENAMEUNICODE
        if (current && !data.empty()) {
          current->name = cfb::utf16le_to_utf8(data);
        }
        break;
      case 0x001A:  // MODULESTREAMNAME
        if (current) current->stream_name = latin1_to_utf8(data);
        break;
      case 0x0032:  // MODULESTREAMNAME's Unicode part
        if (current && !data.empty()) current->stream_name = cfb::utf16le_to_utf8(data);
        break;
      case 0x0031:  // MODULEOFFSET
        if (current && size == 4) {
          ByteCursor o(data);
          current->text_offset = o.u32le();
          current->has_offset = true;
        }
        break;
      case 0x002B:  // MODULE terminator
        current = nullptr;
        break;
      case 0x0010:  // dir stream terminator
        return info;
      default:
        break;
    }
  }
  return info;
}

std::vector<Project> read_projects(const cfb::CompoundFile& file, const Budget& budget) {
  std::vector<Project> projects;
  size_t total = 0;
  const auto& entries = file.entries();
  for (size_t i = 0; i < entries.size(); ++i) {
    const cfb::DirEntry& storage = entries[i];
    if (!storage.reachable || !storage.is_storage() || !ascii_iequals(storage.name, "VBA")) continue;
    int dir_idx = file.find_child(static_cast<int>(i), "dir");
    if (dir_idx < 0 || !entries[dir_idx].is_stream()) continue;
    Project project;
    project.storage_path = storage.path;
    bool complete = true;
    std::string raw = file.read_stream(entries[dir_idx], 16u << 20, &complete);
    std::string dir_text;
    bool dir_ok = decompress(raw, 16u << 20, &dir_text);
    DirInfo dir = parse_dir(dir_text);
    if (!dir_ok || dir.malformed) project.problems.push_back("dir stream is malformed");

    auto read_module = [&](const std::string& name, const cfb::DirEntry& stream, bool has_offset,
                           uint32_t offset) {
      if (project.modules.size() >= budget.max_modules || total >= budget.max_total_bytes) return;
      std::string bytes = file.read_stream(stream, 64u << 20);
      size_t start = has_offset ? offset : std::string::npos;
      if (start == std::string::npos || start >= bytes.size() || bytes[start] != '\x01')
        start = find_source_start(bytes);  // dir lied or was unreadable
      if (start == std::string::npos) {
        project.problems.push_back("no source found in module stream " + stream.name);
        return;
      }
      ModuleSource m;
      m.name = name;
      size_t cap = std::min(budget.max_module_bytes, budget.max_total_bytes - total);
      if (!decompress(std::string_view(bytes).substr(start), cap, &m.source, &m.truncated))
        project.problems.push_back("module " + name + " is malformed");
      total += m.source.size();
      project.modules.push_back(std::move(m));
    };

    std::vector<int> done;
    for (const ModuleRecord& rec : dir.modules) {
      int s = file.find_child(static_cast<int>(i), rec.stream_name.empty() ? rec.name : rec.stream_name);
      if (s < 0 || !entries[s].is_stream()) {
        project.problems.push_back("module stream missing: " + rec.stream_name);
        continue;
      }
      done.push_back(s);
      read_module(rec.name.empty() ? entries[s].name : rec.name, entries[s], rec.has_offset,
                  rec.text_offset);
    }
    // Streams the dir did not name (or all of them when it was unreadable).
    for (int s : file.children(static_cast<int>(i))) {
      const cfb::DirEntry& e = entries[s];
      if (!e.is_stream() || std::find(done.begin(), done.end(), s) != done.end()) continue;
      if (ascii_iequals(e.name, "dir") || ascii_iequals(e.name, "_VBA_PROJECT") ||
          e.name.starts_with("__SRP_") || ascii_iequals(e.name, "PROJECT") ||
          ascii_iequals(e.name, "PROJECTwm"))
        continue;
      std::string head = file.read_stream(e, 1u << 20);
      if (find_source_start(head) == std::string::npos) continue;
      read_module(e.name, e, false, 0);
    }
    projects.push_back(std::move(project));
  }
  return projects;
}

}  // namespace sandgate::ovba
