// Test helper: a minimal Compound File Binary writer (version 3, 512-byte
// sectors, streams under 4096 bytes in the mini stream as [MS-CFB] requires),
// an MS-OVBA "compressor" that emits literal-only and raw chunks (valid
// containers any reader must accept), and builders for the Office structures
// the tests need: a VBA project, an Ole10Native package, an OLE1 object.
// Header-only so the unit suites and the fuzz seed generator share it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sandgate::testing {

inline void put16(std::string& s, uint16_t v) {
  s.push_back(static_cast<char>(v & 0xFF));
  s.push_back(static_cast<char>(v >> 8));
}
inline void put32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
inline void set32(std::string& s, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) s[at + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

// A compound file under construction: paths like "Macros/VBA/dir" create the
// storages on the way.
class CfbWriter {
 public:
  void add_stream(const std::string& path, std::string bytes) { streams_[path] = std::move(bytes); }
  void add_storage(const std::string& path) { storages_[path] = true; }

  std::string build() const {
    // Directory entries: root, then every storage and stream (sorted paths).
    struct Entry {
      std::string name;
      uint8_t type;
      int parent;
      std::string data;
      uint32_t start = 0xFFFFFFFE;
      std::vector<int> kids;
    };
    std::vector<Entry> entries;
    entries.push_back({"Root Entry", 5, -1, {}, 0xFFFFFFFE, {}});
    std::map<std::string, int> index{{"", 0}};
    auto storage_for = [&](const std::string& dir, auto& self) -> int {
      auto it = index.find(dir);
      if (it != index.end()) return it->second;
      size_t slash = dir.rfind('/');
      int parent = self(slash == std::string::npos ? "" : dir.substr(0, slash), self);
      entries.push_back({slash == std::string::npos ? dir : dir.substr(slash + 1), 1, parent, {},
                         0xFFFFFFFE, {}});
      int id = static_cast<int>(entries.size() - 1);
      entries[parent].kids.push_back(id);
      index[dir] = id;
      return id;
    };
    for (const auto& [p, _] : storages_) storage_for(p, storage_for);
    for (const auto& [p, data] : streams_) {
      size_t slash = p.rfind('/');
      int parent = storage_for(slash == std::string::npos ? "" : p.substr(0, slash), storage_for);
      entries.push_back({slash == std::string::npos ? p : p.substr(slash + 1), 2, parent, data,
                         0xFFFFFFFE, {}});
      entries[parent].kids.push_back(static_cast<int>(entries.size() - 1));
    }
    // Mini stream: small streams, 64-byte aligned.
    std::string mini;
    std::vector<uint32_t> minifat;
    for (auto& e : entries) {
      if (e.type != 2 || e.data.empty() || e.data.size() >= 4096) continue;
      uint32_t first = static_cast<uint32_t>(mini.size() / 64);
      size_t n = (e.data.size() + 63) / 64;
      for (size_t k = 0; k < n; ++k)
        minifat.push_back(k + 1 < n ? static_cast<uint32_t>(first + k + 1) : 0xFFFFFFFE);
      e.start = first;
      mini += e.data;
      mini.resize(mini.size() + (64 - mini.size() % 64) % 64, '\0');
    }
    // Regular sectors: big streams, the mini stream, the miniFAT, the directory.
    std::vector<std::string> sectors;
    std::vector<uint32_t> fat;
    auto place = [&](const std::string& data) -> uint32_t {
      if (data.empty()) return 0xFFFFFFFE;
      uint32_t first = static_cast<uint32_t>(sectors.size());
      size_t n = (data.size() + 511) / 512;
      for (size_t k = 0; k < n; ++k) {
        std::string s = data.substr(k * 512, 512);
        s.resize(512, '\0');
        sectors.push_back(s);
        fat.push_back(k + 1 < n ? static_cast<uint32_t>(first + k + 1) : 0xFFFFFFFE);
      }
      return first;
    };
    for (auto& e : entries)
      if (e.type == 2 && e.data.size() >= 4096) e.start = place(e.data);
    entries[0].start = place(mini);
    std::string minifat_bytes;
    for (uint32_t v : minifat) put32(minifat_bytes, v);
    uint32_t minifat_start = place(minifat_bytes);
    uint32_t minifat_count = static_cast<uint32_t>((minifat_bytes.size() + 511) / 512);
    std::string dir;
    for (size_t i = 0; i < entries.size(); ++i) {
      const Entry& e = entries[i];
      std::string d(128, '\0');
      for (size_t k = 0; k < e.name.size() && k < 31; ++k) d[2 * k] = e.name[k];
      size_t nlen = (std::min<size_t>(e.name.size(), 31) + 1) * 2;
      d[0x40] = static_cast<char>(nlen);
      d[0x42] = static_cast<char>(e.type);
      d[0x43] = 1;  // black
      // Siblings chained through the right pointer; the first kid is the child.
      uint32_t left = 0xFFFFFFFF, right = 0xFFFFFFFF, child = 0xFFFFFFFF;
      if (!e.kids.empty()) child = static_cast<uint32_t>(e.kids[0]);
      if (e.parent >= 0) {
        const auto& sib = entries[e.parent].kids;
        for (size_t k = 0; k + 1 < sib.size(); ++k)
          if (sib[k] == static_cast<int>(i)) right = static_cast<uint32_t>(sib[k + 1]);
      }
      set32(d, 0x44, left);
      set32(d, 0x48, right);
      set32(d, 0x4C, child);
      uint32_t size = e.type == 5 ? static_cast<uint32_t>(mini.size())
                                  : static_cast<uint32_t>(e.data.size());
      set32(d, 0x74, e.type == 1 ? 0 : e.start);
      set32(d, 0x78, e.type == 1 ? 0 : size);
      dir += d;
    }
    uint32_t dir_start = place(dir);
    // FAT sectors last: they describe themselves as FATSECT.
    size_t fat_sectors = 1;
    while ((sectors.size() + fat_sectors) > fat_sectors * 128) ++fat_sectors;
    uint32_t fat_start = static_cast<uint32_t>(sectors.size());
    for (size_t k = 0; k < fat_sectors; ++k) fat.push_back(0xFFFFFFFD);
    fat.resize(fat_sectors * 128, 0xFFFFFFFF);
    std::string fat_bytes;
    for (uint32_t v : fat) put32(fat_bytes, v);
    for (size_t k = 0; k < fat_sectors; ++k) sectors.push_back(fat_bytes.substr(k * 512, 512));

    std::string h(512, '\0');
    const char sig[] = "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1";
    for (int k = 0; k < 8; ++k) h[k] = sig[k];
    h[0x18] = 0x3E;
    h[0x1A] = 3;
    h[0x1C] = '\xFE';
    h[0x1D] = '\xFF';
    h[0x1E] = 9;
    h[0x20] = 6;
    set32(h, 0x2C, static_cast<uint32_t>(fat_sectors));
    set32(h, 0x30, dir_start);
    set32(h, 0x38, 4096);
    set32(h, 0x3C, minifat_count ? minifat_start : 0xFFFFFFFE);
    set32(h, 0x40, minifat_count);
    set32(h, 0x44, 0xFFFFFFFE);
    set32(h, 0x48, 0);
    for (size_t k = 0; k < 109; ++k)
      set32(h, 0x4C + 4 * k, k < fat_sectors ? static_cast<uint32_t>(fat_start + k) : 0xFFFFFFFF);
    std::string out = h;
    for (const auto& s : sectors) out += s;
    return out;
  }

 private:
  std::map<std::string, std::string> streams_;
  std::map<std::string, bool> storages_;
};

// MS-OVBA CompressedContainer without copy tokens: full 4096-byte chunks raw,
// the last one as literal tokens.
inline std::string ovba_compress(const std::string& text) {
  std::string out = "\x01";
  size_t pos = 0;
  while (text.size() - pos >= 4096) {
    put16(out, 0x3000 | 0x0FFF);  // raw chunk: 4098 bytes - 3
    out += text.substr(pos, 4096);
    pos += 4096;
  }
  if (pos < text.size()) {
    std::string chunk;
    for (size_t k = pos; k < text.size(); k += 8) {
      chunk.push_back('\0');
      chunk += text.substr(k, 8);
    }
    put16(out, static_cast<uint16_t>(0xB000 | (chunk.size() + 2 - 3)));
    out += chunk;
  }
  return out;
}

// A VBA project as Word stores it under `prefix` ("Macros" in a .doc, "" in a
// vbaProject.bin): PROJECT, VBA/_VBA_PROJECT, VBA/dir and one stream per module.
inline void add_vba_project(CfbWriter& w, const std::string& prefix,
                            const std::vector<std::pair<std::string, std::string>>& modules) {
  std::string p = prefix.empty() ? "" : prefix + "/";
  std::string dir;
  auto rec = [&dir](uint16_t id, const std::string& data) {
    put16(dir, id);
    put32(dir, static_cast<uint32_t>(data.size()));
    dir += data;
  };
  std::string u32one;
  put32(u32one, 1);
  rec(0x0001, u32one);                       // PROJECTSYSKIND win32
  rec(0x0003, std::string("\xE4\x04", 2));   // PROJECTCODEPAGE 1252
  rec(0x0004, "VBAProject");                 // PROJECTNAME
  put16(dir, 0x0009);                        // PROJECTVERSION: "size" 4, 6 bytes follow
  put32(dir, 4);
  put32(dir, 0x65BE0257);
  put16(dir, 0x0011);
  std::string count;
  put16(count, static_cast<uint16_t>(modules.size()));
  rec(0x000F, count);  // PROJECTMODULES
  rec(0x0013, std::string("\xFF\xFF", 2));
  const std::string kCache = "performance-cache-bytes!";  // p-code stand-in before the source
  for (const auto& [name, source] : modules) {
    rec(0x0019, name);
    std::string uname;
    for (char c : name) {
      uname.push_back(c);
      uname.push_back('\0');
    }
    rec(0x0047, uname);
    rec(0x001A, name);
    rec(0x0032, uname);
    std::string off;
    put32(off, static_cast<uint32_t>(kCache.size()));
    rec(0x0031, off);
    rec(0x0021, "");
    rec(0x002B, "");
    w.add_stream(p + "VBA/" + name, kCache + ovba_compress(source));
  }
  rec(0x0010, "");
  w.add_stream(p + "VBA/dir", ovba_compress(dir));
  w.add_stream(p + "VBA/_VBA_PROJECT", std::string("\xCC\x61\xFF\xFF\x00\x00\x00", 7));
  w.add_stream(p + "PROJECT", "ID=\"{00000000-0000-0000-0000-000000000000}\"\r\nDocument=ThisDocument/&H00000000\r\n");
}

// Ole10Native stream bytes (with the 32-bit size prefix when with_size).
inline std::string ole10native(const std::string& label, const std::string& data, bool with_size) {
  std::string body;
  put16(body, 2);
  body += label + '\0';
  body += "C:\\Users\\x\\" + label + '\0';
  put16(body, 0);
  put16(body, 3);
  std::string temp = "C:\\Temp\\" + label;
  put32(body, static_cast<uint32_t>(temp.size() + 1));
  body += temp + '\0';
  put32(body, static_cast<uint32_t>(data.size()));
  body += data;
  put16(body, 0);  // trailing unicode path lengths, zero
  if (!with_size) return body;
  std::string out;
  put32(out, static_cast<uint32_t>(body.size()));
  return out + body;
}

// An OLE1 EmbeddedObject ([MS-OLEDS] 2.2.5) of class cls around native data.
inline std::string ole1_object(const std::string& cls, const std::string& native) {
  std::string o;
  put32(o, 0x00000501);
  put32(o, 2);
  put32(o, static_cast<uint32_t>(cls.size() + 1));
  o += cls + '\0';
  put32(o, 0);
  put32(o, 0);
  put32(o, static_cast<uint32_t>(native.size()));
  o += native;
  return o;
}

// A tiny PE-looking blob: enough for detect_type to say "pe".
inline std::string tiny_pe() {
  std::string pe(512, '\0');
  pe[0] = 'M';
  pe[1] = 'Z';
  set32(pe, 0x3C, 0x80);
  pe[0x80] = 'P';
  pe[0x81] = 'E';
  pe[0x84] = '\x4C';
  pe[0x85] = '\x01';
  return pe;
}

}  // namespace sandgate::testing
