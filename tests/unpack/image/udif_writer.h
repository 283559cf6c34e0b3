// A small UDIF (DMG) writer for the tests: the disk is cut into 64 KiB
// chunks stored as zero-fill, zlib, raw, bzip2 or ADC (literal runs), with
// one blkx table in an XML plist and a koly trailer, like hdiutil's output.
#pragma once

#include <bzlib.h>
#include <zlib.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "tests/unpack/image/image_test_util.h"

namespace sandgate::test {

constexpr uint32_t kUdifZero = 0, kUdifRaw = 1, kUdifAdc = 0x80000004, kUdifZlib = 0x80000005,
                   kUdifBzip2 = 0x80000006, kUdifLzfse = 0x80000007;

inline std::string zlib_bytes(const std::string& in) {
  uLongf n = compressBound(in.size());
  std::string out(n, '\0');
  compress2(reinterpret_cast<Bytef*>(out.data()), &n, reinterpret_cast<const Bytef*>(in.data()),
            in.size(), 6);
  out.resize(n);
  return out;
}

inline std::string bzip2_bytes(const std::string& in) {
  unsigned n = static_cast<unsigned>(in.size() + in.size() / 100 + 1024);
  std::string out(n, '\0');
  BZ2_bzBuffToBuffCompress(out.data(), &n, const_cast<char*>(in.data()),
                           static_cast<unsigned>(in.size()), 9, 0, 0);
  out.resize(n);
  return out;
}

inline std::string adc_literals(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i += 128) {
    size_t n = std::min<size_t>(128, in.size() - i);
    out.push_back(char(0x80 | (n - 1)));
    out.append(in, i, n);
  }
  return out;
}

inline std::string base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8 | uint8_t(in[i + 2]);
    out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += t[v & 63];
    if (out.size() % 77 == 76) out += '\n';
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += t[v >> 18], out += t[(v >> 12) & 63], out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16 | uint8_t(in[i + 1]) << 8;
    out += t[v >> 18], out += t[(v >> 12) & 63], out += t[(v >> 6) & 63], out += '=';
  }
  return out;
}

// type_for(index, chunk bytes) picks each chunk's type.
inline std::string make_udif(const std::string& disk,
                             const std::function<uint32_t(size_t, const std::string&)>& type_for) {
  const size_t kChunk = 64 * 1024;
  std::string data;
  struct Row {
    uint32_t type;
    uint64_t sector, sectors, offset, length;
  };
  std::vector<Row> rows;
  for (size_t i = 0, off = 0; off < disk.size(); ++i, off += kChunk) {
    std::string piece = disk.substr(off, kChunk);
    piece.resize((piece.size() + 511) / 512 * 512, '\0');
    uint32_t type = type_for(i, piece);
    std::string stored;
    if (type == kUdifZlib) stored = zlib_bytes(piece);
    else if (type == kUdifBzip2) stored = bzip2_bytes(piece);
    else if (type == kUdifAdc) stored = adc_literals(piece);
    else if (type == kUdifRaw || type == kUdifLzfse) stored = piece;
    rows.push_back({type, off / 512, piece.size() / 512, data.size(), stored.size()});
    data += stored;
  }
  uint64_t total = (disk.size() + 511) / 512;
  std::string mish(204 + 40 * (rows.size() + 1), '\0');
  mish.replace(0, 4, "mish");
  put_be(mish, 4, 1, 4);
  put_be(mish, 16, total, 8);
  put_be(mish, 200, rows.size() + 1, 4);
  size_t at = 204;
  for (const auto& r : rows) {
    put_be(mish, at, r.type, 4);
    put_be(mish, at + 8, r.sector, 8);
    put_be(mish, at + 16, r.sectors, 8);
    put_be(mish, at + 24, r.offset, 8);
    put_be(mish, at + 32, r.length, 8);
    at += 40;
  }
  put_be(mish, at, 0xFFFFFFFF, 4);
  std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
      "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
      "<plist version=\"1.0\">\n<dict>\n\t<key>resource-fork</key>\n\t<dict>\n"
      "\t\t<key>blkx</key>\n\t\t<array>\n\t\t\t<dict>\n"
      "\t\t\t\t<key>Attributes</key>\n\t\t\t\t<string>0x0050</string>\n"
      "\t\t\t\t<key>CFName</key>\n\t\t\t\t<string>whole disk (FAT : 0)</string>\n"
      "\t\t\t\t<key>Data</key>\n\t\t\t\t<data>\n" + base64(mish) + "\n\t\t\t\t</data>\n"
      "\t\t\t\t<key>ID</key>\n\t\t\t\t<string>0</string>\n"
      "\t\t\t</dict>\n\t\t</array>\n\t</dict>\n</dict>\n</plist>\n";
  std::string koly(512, '\0');
  koly.replace(0, 4, "koly");
  put_be(koly, 4, 4, 4);
  put_be(koly, 8, 512, 4);
  put_be(koly, 12, 1, 4);
  put_be(koly, 32, data.size(), 8);
  put_be(koly, 56, 1, 4);
  put_be(koly, 60, 1, 4);
  put_be(koly, 216, data.size(), 8);
  put_be(koly, 224, xml.size(), 8);
  put_be(koly, 488, 1, 4);
  put_be(koly, 492, total, 8);
  return data + xml + koly;
}

}  // namespace sandgate::test
