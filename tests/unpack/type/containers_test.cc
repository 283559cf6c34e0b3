// Type detection of archives, compressed streams, images, disk images, PDF,
// shortcuts and OneNote, from constructed bytes; plus look-alikes that must
// not match.
#include <doctest/doctest.h>

#include <cstdio>

#include "tests/unpack/type/type_test_util.h"

namespace sandgate::test {

std::string bin(std::string_view s, size_t pad = 64) {
  std::string out(s);
  out.resize(out.size() + pad, '\0');
  return out;
}

TEST_CASE("PDF: header at 0 or within the first 1024 bytes") {
  TypeInfo t = detect("%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n<<>>\nendobj\n");
  CHECK(t.label == "pdf");
  CHECK(t.mime == "application/pdf");
  CHECK(detect(std::string(500, '\x01') + "%PDF-1.4\n").label == "pdf");
  CHECK(detect(std::string(2000, ' ') + "%PDF-1.4\n").label != "pdf");
}

TEST_CASE("archives and compressed streams by magic and header checks") {
  struct Case {
    std::string bytes;
    std::string_view label, mime;
  };
  std::string tar(1024, '\0');
  put(tar, 0, "hello.txt");
  put(tar, 100, "0000644");
  put(tar, 124, "00000000005");
  put(tar, 257,
      std::string_view("ustar\0"
                       "00",
                       8));
  std::string v7(1024, '\0');
  put(v7, 0, "old.txt");
  put(v7, 100, "000644 ");
  put(v7, 124, "00000000005 ");
  put(v7, 148, "        ");
  unsigned sum = 0;
  for (int i = 0; i < 512; ++i) sum += static_cast<uint8_t>(v7[i]);
  char chk[8];
  std::snprintf(chk, sizeof chk, "%06o", sum);
  put(v7, 148, std::string_view(chk, 6));
  v7[154] = '\0';

  std::string cpio_bin(64, '\0');
  put16le(cpio_bin, 0, 0x71C7);
  put16le(cpio_bin, 20, 6);  // namesize including NUL
  put(cpio_bin, 26, std::string_view("a.txt\0", 6));

  std::string cab(64, '\0');
  put(cab, 0, "MSCF");
  put32le(cab, 8, 64);
  cab[24] = 3;
  cab[25] = 1;

  std::string lha(64, '\0');
  put(lha, 0, std::string_view("\x20\x00-lh5-", 7));
  lha[20] = 1;

  std::string arj(64, '\0');
  arj[0] = '\x60';
  arj[1] = '\xEA';
  put16le(arj, 2, 40);
  arj[4] = 34;
  arj[10] = 2;

  std::string xar(64, '\0');
  put(xar, 0, "xar!");
  put16be(xar, 4, 28);
  put16be(xar, 6, 1);

  const Case cases[] = {
      {bin("7z\xBC\xAF\x27\x1C\x00\x04"), "7z", "application/x-7z-compressed"},
      {bin(std::string_view("Rar!\x1A\x07\x00", 7)), "rar", "application/vnd.rar"},
      {bin(std::string_view("Rar!\x1A\x07\x01\x00", 8)), "rar", "application/vnd.rar"},
      {tar, "tar", "application/x-tar"},
      {v7, "tar", "application/x-tar"},
      {bin("\x1F\x8B\x08\x00"), "gzip", "application/gzip"},
      {bin("BZh91AY&SY"), "bzip2", "application/x-bzip2"},
      {bin(std::string_view("\xFD"
                            "7zXZ\0\0\x04",
                            8)),
       "xz", "application/x-xz"},
      {bin("\x28\xB5\x2F\xFD\x20"), "zstd", "application/zstd"},
      {bin("\x04\x22\x4D\x18\x64\x40"), "lz4", "application/x-lz4"},
      {bin(std::string_view("LZIP\x01\x0C", 6)), "lzip", "application/x-lzip"},
      {bin("\x1F\x9D\x90"), "compress", "application/x-compress"},
      {bin(std::string_view("\x5D\x00\x00\x80\x00\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x00", 14)),
       "lzma", "application/x-lzma"},
      {cab, "cab", "application/vnd.ms-cab-compressed"},
      {"070701" + std::string(104, '0'), "cpio", "application/x-cpio"},
      {"070707" + std::string(70, '0'), "cpio", "application/x-cpio"},
      {cpio_bin, "cpio", "application/x-cpio"},
      {lha, "lha", "application/x-lzh-compressed"},
      {arj, "arj", "application/x-arj"},
      {xar, "xar", "application/x-xar"},
      {"!<arch>\nfoo.o/          0           0     0     644     4         `\nabcd", "ar",
       "application/x-archive"},
      {"!<arch>\ndebian-binary   1342943816  0     0     100644  4         `\n2.0\n", "ar",
       "application/vnd.debian.binary-package"},
      {bin("ITSF\x03"), "chm", "application/vnd.ms-htmlhelp"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.label);
    TypeInfo t = detect(c.bytes);
    CHECK(t.label == c.label);
    CHECK(t.mime == c.mime);
  }
  // Look-alikes: gzip with reserved flag bits, cab with a bad version, a tar
  // header whose checksum is wrong, cpio binary magic with a silly name size.
  CHECK(detect(bin("\x1F\x8B\x08\xE0")).label != "gzip");
  // LZMA's 13-byte header with a dictionary size no encoder writes.
  CHECK(
      detect(bin(std::string_view("\x5D\x01\x02\x03\x04\xFF\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x00", 14)))
          .label != "lzma");
  std::string bad_cab = cab;
  bad_cab[25] = 9;
  CHECK(detect(bad_cab).label != "cab");
  std::string bad_v7 = v7;
  bad_v7[0] = 'X';
  CHECK(detect(bad_v7).label != "tar");
  std::string bad_cpio = cpio_bin;
  put16le(bad_cpio, 20, 60000);
  CHECK(detect(bad_cpio).label != "cpio");
}

TEST_CASE("images") {
  std::string bmp(200, '\0');
  put(bmp, 0, "BM");
  put32le(bmp, 2, 200);
  put32le(bmp, 10, 54);
  put32le(bmp, 14, 40);
  std::string ico(64, '\0');
  put(ico, 0, std::string_view("\0\0\1\0\1\0", 6));
  ico[6] = 16;
  ico[7] = 16;
  put16le(ico, 10, 1);
  put16le(ico, 12, 32);
  put32le(ico, 14, 10);
  put32le(ico, 18, 22);
  struct Case {
    std::string bytes;
    std::string_view label, mime;
  } cases[] = {
      {bin("\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), "png", "image/png"},
      {bin("\xFF\xD8\xFF\xE0\0\x10JFIF"), "jpeg", "image/jpeg"},
      {bin("GIF89a\x01\0\x01\0"), "gif", "image/gif"},
      {bmp, "bmp", "image/bmp"},
      {bin(std::string_view("II*\0\x08\0\0\0", 8)), "tiff", "image/tiff"},
      {bin(std::string_view("MM\0*\0\0\0\x08", 8)), "tiff", "image/tiff"},
      {bin(std::string_view("RIFF\x24\0\0\0WEBPVP8 ", 16)), "webp", "image/webp"},
      {ico, "ico", "image/vnd.microsoft.icon"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.label);
    TypeInfo t = detect(c.bytes);
    CHECK(t.label == c.label);
    CHECK(t.mime == c.mime);
  }
  CHECK(detect("BMW is a car maker with a long history in Bavaria.\n").label == "text");
  std::string bad_ico = ico;
  put32le(bad_ico, 18, 5000);  // image data outside the file
  CHECK(detect(bad_ico).label != "ico");
}

TEST_CASE("shortcuts and OneNote") {
  std::string lnk(0x4C + 16, '\0');
  put32le(lnk, 0, 0x4C);
  put(lnk, 4,
      std::string_view("\x01\x14\x02\x00\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46", 16));
  TypeInfo t = detect(lnk);
  CHECK(t.label == "lnk");
  CHECK(t.mime == "application/x-ms-shortcut");
  std::string wrong_clsid = lnk;
  wrong_clsid[4] = 2;
  CHECK(detect(wrong_clsid).label != "lnk");
  TypeInfo one = detect(bin("\xE4\x52\x5C\x7B\x8C\xD8\xA7\x4D\xAE\xB1\x53\x78\xD0\x29\x96\xD3"));
  CHECK(one.label == "onenote");
  CHECK(one.mime == "application/onenote");
}

// Volume descriptors at 32768 + 2048 * i.
std::string make_vrs(const std::vector<std::pair<uint8_t, std::string>>& descriptors,
                     size_t size = 65536) {
  std::string s(size, '\0');
  for (size_t i = 0; i < descriptors.size(); ++i) {
    size_t off = 32768 + 2048 * i;
    s[off] = static_cast<char>(descriptors[i].first);
    put(s, off + 1, descriptors[i].second);
    s[off + 6] = 1;
  }
  return s;
}

TEST_CASE("ISO9660, UDF and bridge images") {
  TypeInfo iso = detect(make_vrs({{1, "CD001"}, {255, "CD001"}}));
  CHECK(iso.label == "iso9660");
  CHECK(iso.mime == "application/x-iso9660-image");
  TypeInfo udf = detect(make_vrs({{0, "BEA01"}, {0, "NSR02"}, {0, "TEA01"}}));
  CHECK(udf.label == "udf");
  CHECK(udf.mime == "application/x-udf-image");
  CHECK(detect(make_vrs({{0, "BEA01"}, {0, "NSR03"}, {0, "TEA01"}}, 40000)).label == "udf");
  // Bridge: an ISO primary volume descriptor wins (documented in disk_images.cc).
  CHECK(detect(make_vrs({{1, "CD001"}, {255, "CD001"}, {0, "BEA01"}, {0, "NSR02"}, {0, "TEA01"}}))
            .label == "iso9660");
  // NSR without BEA01 is not UDF; a file cut before the descriptors is nothing.
  CHECK(detect(make_vrs({{0, "NSR02"}})).label != "udf");
  CHECK(detect(make_vrs({{1, "CD001"}}).substr(0, 32768)).label != "iso9660");
}

TEST_CASE("DMG, VHD, VHDX by their trailers and headers") {
  std::string dmg(8192, '\x11');
  std::string koly(512, '\0');
  put(koly, 0, "koly");
  put32be(koly, 4, 4);
  put32be(koly, 8, 512);
  put(dmg, dmg.size() - 512, koly);
  TypeInfo t = detect(dmg);
  CHECK(t.label == "dmg");
  CHECK(t.mime == "application/x-apple-diskimage");
  std::string bad = dmg;
  put32be(bad, bad.size() - 512 + 8, 77);
  CHECK(detect(bad).label != "dmg");

  // Fixed VHD: raw disk data then the footer.
  std::string vhd(4096, '\0');
  vhd[510] = '\x55';
  vhd[511] = '\xAA';
  std::string footer(512, '\0');
  put(footer, 0, "conectix");
  put32be(footer, 12, 0x00010000);
  CHECK(detect(vhd + footer).label == "vhd");
  // Dynamic VHD: footer copy at offset 0.
  CHECK(detect(footer + std::string(2048, '\0') + footer).label == "vhd");
  TypeInfo vhdx = detect(bin("vhdxfile", 4096));
  CHECK(vhdx.label == "vhdx");
  CHECK(vhdx.mime == "application/x-vhdx");
}

std::string make_boot_sector(std::string_view oem, std::string_view fs_string, size_t fs_off) {
  std::string s(4096, '\0');
  put(s, 0, "\xEB\x3C\x90");
  put(s, 3, oem);
  put16le(s, 11, 512);
  s[13] = 4;
  put16le(s, 14, 1);
  s[16] = 2;
  s[21] = '\xF8';
  put(s, fs_off, fs_string);
  s[510] = '\x55';
  s[511] = '\xAA';
  return s;
}

TEST_CASE("FAT, NTFS, MBR, GPT, HFS+, APFS") {
  TypeInfo fat = detect(make_boot_sector("MSDOS5.0", "FAT16   ", 54));
  CHECK(fat.label == "fat");
  CHECK(fat.mime == "application/x-fat-image");
  CHECK(detect(make_boot_sector("mkfs.fat", "FAT32   ", 82)).label == "fat");
  std::string not_fat = make_boot_sector("MSDOS5.0", "FAT16   ", 54);
  not_fat[16] = 9;  // nine FATs
  CHECK(detect(not_fat).label != "fat");
  CHECK(detect(make_boot_sector("NTFS    ", "", 54)).label == "ntfs");

  std::string mbr(2048 * 512 + 512, '\0');
  size_t e = 446;
  mbr[e] = '\x80';
  mbr[e + 4] = '\x0C';
  put32le(mbr, e + 8, 2048);
  put32le(mbr, e + 12, 1);
  mbr[510] = '\x55';
  mbr[511] = '\xAA';
  TypeInfo m = detect(mbr);
  CHECK(m.label == "mbr");
  CHECK(m.mime == "application/x-raw-disk-image");
  // The partition starts past the end of the image: not a plausible MBR.
  CHECK(detect(mbr.substr(0, 4096)).label != "mbr");

  std::string gpt = mbr.substr(0, 8192);
  put(gpt, 512, "EFI PART");
  CHECK(detect(gpt).label == "gpt");
  std::string hfs(4096, '\0');
  put(hfs, 1024, "H+");
  put16be(hfs, 1026, 4);
  CHECK(detect(hfs).label == "hfs");
  std::string apfs(4096, '\0');
  put(apfs, 32, "NXSB");
  CHECK(detect(apfs).label == "apfs");
}

TEST_CASE("formats without a label are named without libmagic: label data, their own MIME") {
  std::string emf(128, '\0');
  put32le(emf, 0, 1);
  put(emf, 40, " EMF");
  TypeInfo t = detect(emf);
  CHECK(t.label == "data");
  CHECK(t.mime == "image/emf");
  std::string ttf(64, '\0');
  put32be(ttf, 0, 0x00010000);
  put16be(ttf, 4, 12);
  CHECK(detect(ttf).mime == "font/ttf");
  CHECK(detect(bin(std::string_view("\0\0\0\x18"
                                    "ftypisom",
                                    12),
                   32))
            .mime == "video/mp4");
  CHECK(detect(bin(std::string_view("SQLite format 3\0", 16))).mime == "application/vnd.sqlite3");
}

}  // namespace sandgate::test
