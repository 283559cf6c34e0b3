// Type detection of executables and office containers: PE, ELF, Mach-O (thin
// and fat) vs Java class, OLE2 refinements, and the zip family (OOXML, ODF,
// JAR, APK, MSIX, plain zip).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/unpack/type/type_test_util.h"

namespace sandgate::test {

constexpr std::string_view kPeMime = "application/vnd.microsoft.portable-executable";

TEST_CASE("PE: MZ with e_lfanew pointing to a valid PE header") {
  TypeInfo t = detect(make_pe());
  CHECK(t.label == "pe");
  CHECK(t.mime == kPeMime);
  // PE32+ and a header past the 64 KiB head (read through the source).
  CHECK(detect(make_pe(0x80, 0x20B)).label == "pe");
  CHECK(detect(make_pe(70000, 0x10B, 71000)).label == "pe");
}

TEST_CASE("PE: MZ without a valid PE header is not pe") {
  // e_lfanew past the end.
  CHECK(detect(make_pe().substr(0, 0x80)).label != "pe");
  std::string far = make_pe();
  put32le(far, 0x3C, 0xFFFFFFF0);
  CHECK(detect(far).label != "pe");
  // "PE\0\0" present but no optional header magic.
  CHECK(detect(make_pe(0x80, 0x1234)).label != "pe");
  // A DOS program: MZ and nothing else.
  std::string dos(512, '\x90');
  put(dos, 0, "MZ");
  put32le(dos, 0x3C, 0);
  CHECK(detect(dos).label != "pe");
  // Truncated inside the DOS header.
  CHECK(detect("MZ\x90").label != "pe");
  // Truncated right after the signature.
  CHECK(detect(make_pe().substr(0, 0x80 + 10)).label != "pe");
}

TEST_CASE("PE named like a document is still pe: detection sees only bytes") {
  std::string pe = make_pe();
  put(pe, 0x100, "%PDF-1.7 this is surely a PDF");
  CHECK(detect(pe).label == "pe");
}

std::string make_elf(uint16_t type, bool with_interp, bool big_endian = false) {
  std::string s(256, '\0');
  put(s, 0,
      "\x7f"
      "ELF");
  s[4] = 2;  // 64-bit
  s[5] = big_endian ? 2 : 1;
  s[6] = 1;
  auto p16 = [&](size_t o, uint16_t v) { big_endian ? put16be(s, o, v) : put16le(s, o, v); };
  auto p32 = [&](size_t o, uint32_t v) { big_endian ? put32be(s, o, v) : put32le(s, o, v); };
  p16(16, type);
  p16(18, 62);
  if (big_endian) {
    p32(32, 0);
    p32(36, 64);
  } else {
    p32(32, 64);
  }
  p16(54, 56);  // e_phentsize
  p16(56, 2);   // e_phnum
  p32(64, 6);   // PT_PHDR
  p32(64 + 56, with_interp ? 3 : 1);
  return s;
}

TEST_CASE("ELF: executable, PIE, shared object, relocatable, bad header") {
  TypeInfo exec = detect(make_elf(2, false));
  CHECK(exec.label == "elf");
  CHECK(exec.mime == "application/x-executable");
  CHECK(detect(make_elf(3, true)).mime == "application/x-executable");
  CHECK(detect(make_elf(3, true, true)).mime == "application/x-executable");
  CHECK(detect(make_elf(3, false)).mime == "application/x-sharedlib");
  CHECK(detect(make_elf(1, false)).mime == "application/x-object");
  std::string bad = make_elf(2, false);
  bad[4] = 7;  // no such class
  CHECK(detect(bad).label != "elf");
  CHECK(detect("\x7f"
               "ELF\x02\x01\x01")
            .label != "elf");  // truncated
}

TEST_CASE("Mach-O: thin 32/64 in both byte orders") {
  std::string le64(64, '\0');
  put32le(le64, 0, 0xFEEDFACF);  // stored CF FA ED FE
  put32le(le64, 4, 0x01000007);  // x86_64
  put32le(le64, 8, 3);
  put32le(le64, 12, 2);  // MH_EXECUTE
  TypeInfo t = detect(le64);
  CHECK(t.label == "macho");
  CHECK(t.mime == "application/x-mach-binary");

  std::string be32(64, '\0');
  put32be(be32, 0, 0xFEEDFACE);
  put32be(be32, 4, 18);  // PowerPC
  put32be(be32, 12, 6);  // MH_DYLIB
  CHECK(detect(be32).label == "macho");

  std::string le32 = be32;
  put32le(le32, 0, 0xFEEDFACE);
  put32le(le32, 4, 12);  // ARM
  put32le(le32, 12, 1);
  CHECK(detect(le32).label == "macho");

  std::string bogus = le64;
  put32le(bogus, 4, 0x7777);  // no such CPU
  CHECK(detect(bogus).label != "macho");
}

std::string make_fat(uint32_t cpu1, uint32_t cpu2) {
  std::string s(8192 + 64, '\0');
  put32be(s, 0, 0xCAFEBABE);
  put32be(s, 4, 2);
  put32be(s, 8, cpu1);
  put32be(s, 16, 4096);
  put32be(s, 20, 64);
  put32be(s, 24, 12);
  put32be(s, 28, cpu2);
  put32be(s, 36, 8192);
  put32be(s, 40, 64);
  put32be(s, 44, 14);
  return s;
}

TEST_CASE("CAFEBABE: fat Mach-O vs Java class file") {
  CHECK(detect(make_fat(0x01000007, 0x0100000C)).label == "macho");
  // Java 8 class: minor 0, major 52, then a constant pool.
  std::string cls("\xCA\xFE\xBA\xBE\x00\x00\x00\x34\x00\x1D\x0A\x00\x06\x00\x0F", 15);
  TypeInfo t = detect(cls);
  CHECK(t.label == "class");
  CHECK(t.mime == "application/java-vm");
  // Two "architectures" with unknown CPUs: neither fat Mach-O nor a class file.
  CHECK(detect(make_fat(0x4242, 0x4343)).label != "macho");
  // Fat header whose slices lie outside the file.
  CHECK(detect(make_fat(0x01000007, 0x0100000C).substr(0, 100)).label != "macho");
}

// A CFB file with 512-byte sectors: header, then the directory in sector 0.
std::string make_ole2(const std::vector<std::string>& streams, std::string_view root_clsid = {}) {
  std::string s(1536, '\0');
  put(s, 0, std::string_view("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8));
  put16le(s, 0x18, 0x3E);
  put16le(s, 0x1A, 3);
  put16le(s, 0x1C, 0xFFFE);
  put16le(s, 0x1E, 9);
  put32le(s, 0x30, 0);  // first directory sector
  auto entry = [&](size_t index, std::string_view name, uint8_t type) {
    size_t e = 512 + 128 * index;
    for (size_t i = 0; i < name.size(); ++i) put16le(s, e + 2 * i, static_cast<uint8_t>(name[i]));
    put16le(s, e + 0x40, static_cast<uint16_t>(2 * name.size() + 2));
    s[e + 0x42] = static_cast<char>(type);
  };
  entry(0, "Root Entry", 5);
  put(s, 512 + 0x50, root_clsid);
  for (size_t i = 0; i < streams.size(); ++i) entry(i + 1, streams[i], 2);
  return s;
}

TEST_CASE("OLE2: label ole2, MIME by what the container holds") {
  TypeInfo plain = detect(make_ole2({"Contents"}));
  CHECK(plain.label == "ole2");
  CHECK(plain.mime == "application/x-ole-storage");
  CHECK(detect(make_ole2({"\x01"
                          "CompObj",
                          "WordDocument", "1Table"}))
            .mime == "application/msword");
  CHECK(detect(make_ole2({"Workbook"})).mime == "application/vnd.ms-excel");
  CHECK(detect(make_ole2({"PowerPoint Document"})).mime == "application/vnd.ms-powerpoint");
  TypeInfo msi = detect(make_ole2(
      {"\x05SummaryInformation"},
      std::string_view("\x84\x10\x0C\x00\x00\x00\x00\x00\xC0\x00\x00\x00\x00\x00\x00\x46", 16)));
  CHECK(msi.label == "ole2");
  CHECK(msi.mime == "application/x-msi");
  // Header only (directory sector missing): still ole2, generic MIME.
  TypeInfo cut = detect(make_ole2({"WordDocument"}).substr(0, 512));
  CHECK(cut.label == "ole2");
  CHECK(cut.mime == "application/x-ole-storage");
}

TEST_CASE("zip family: OOXML by [Content_Types].xml, MIME by main part") {
  const std::string ct = "[Content_Types].xml";
  TypeInfo docx =
      detect(make_zip({{ct, "<Types/>"}, {"_rels/.rels", "<r/>"}, {"word/document.xml", "<w/>"}}));
  CHECK(docx.label == "ooxml");
  CHECK(docx.mime == "application/vnd.openxmlformats-officedocument.wordprocessingml.document");
  CHECK(detect(make_zip({{ct, "x"}, {"xl/workbook.xml", "x"}})).mime ==
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
  CHECK(detect(make_zip({{ct, "x"}, {"ppt/presentation.xml", "x"}})).mime ==
        "application/vnd.openxmlformats-officedocument.presentationml.presentation");
  CHECK(detect(make_zip({{ct, "x"}, {"word/document.xml", "x"}, {"word/vbaProject.bin", "x"}}))
            .mime == "application/vnd.ms-word.document.macroEnabled.12");
  // The same names without [Content_Types].xml: a plain zip.
  TypeInfo zip = detect(make_zip({{"word/document.xml", "x"}, {"readme.txt", "hello"}}));
  CHECK(zip.label == "zip");
  CHECK(zip.mime == "application/zip");
  // Directory cut off (truncated download): local headers still tell.
  CHECK(detect(make_zip({{ct, "x"}, {"word/document.xml", "x"}}, false)).label == "ooxml");
  CHECK(detect(make_zip({{"a.txt", "x"}}, false)).label == "zip");
}

TEST_CASE("zip family: ODF, JAR, APK, MSIX, EPUB, prefixed zip") {
  TypeInfo odt = detect(make_zip({{"mimetype", "application/vnd.oasis.opendocument.text"},
                                  {"content.xml", "<x/>"},
                                  {"META-INF/manifest.xml", "<m/>"}}));
  CHECK(odt.label == "odf");
  CHECK(odt.mime == "application/vnd.oasis.opendocument.text");
  // "mimetype" not first: not the ODF layout.
  CHECK(detect(make_zip({{"content.xml", "<x/>"},
                         {"mimetype", "application/vnd.oasis.opendocument.text"}}))
            .label == "zip");
  TypeInfo jar =
      detect(make_zip({{"META-INF/MANIFEST.MF", "Main-Class: a.B\n"}, {"a/B.class", "\xCA\xFE"}}));
  CHECK(jar.label == "jar");
  CHECK(jar.mime == "application/java-archive");
  CHECK(detect(make_zip({{"AndroidManifest.xml", "x"},
                         {"classes.dex", "x"},
                         {"META-INF/MANIFEST.MF", "x"}}))
            .label == "apk");
  TypeInfo msix = detect(make_zip({{"[Content_Types].xml", "x"}, {"AppxManifest.xml", "x"}}));
  CHECK(msix.label == "zip");
  CHECK(msix.mime == "application/msix");
  TypeInfo epub = detect(make_zip({{"mimetype", "application/epub+zip"}, {"OEBPS/a.xhtml", "x"}}));
  CHECK(epub.label == "zip");
  CHECK(epub.mime == "application/epub+zip");
  // Bytes prepended to a jar ("java -jar" shell stub) still find the directory.
  std::string stub = "#!/bin/sh\nexec java -jar \"$0\" \"$@\"\n";
  std::string prefixed = stub + make_zip({{"META-INF/MANIFEST.MF", "x"}, {"a/B.class", "x"}});
  CHECK(detect(prefixed).label == "jar");
  std::string junk(300, '\x01');
  CHECK(detect(junk + make_zip({{"a.txt", "x"}})).label == "zip");
}

}  // namespace sandgate::test
