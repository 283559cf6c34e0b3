// The TNEF (winmail.dat) reader and unpacker on streams built here byte by
// byte from MS-OXTNEF 2.1.3: attachments come out under their names with
// their exact bytes, MAPI properties override the 8.3 title, and truncated,
// lying or checksum-broken streams are findings with the intact siblings
// still extracted. Also the type detection of the signature.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "tests/unpack/mime/mime_test_util.h"
#include "unpack/tnef/tnef_reader.h"
#include "unpack/type_detect.h"

using namespace sandgate;
using namespace sandgate::testing;

namespace {

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

uint16_t sum16(std::string_view d) {
  uint32_t s = 0;
  for (unsigned char c : d) s += c;
  return static_cast<uint16_t>(s);
}

// One attribute: level, id, length, data, checksum (2.1.3.2).
std::string attr(uint8_t level, uint32_t id, std::string_view data, bool bad_checksum = false) {
  return std::string(1, static_cast<char>(level)) + le(id, 4) + le(data.size(), 4) +
         std::string(data) + le(static_cast<uint16_t>(sum16(data) ^ (bad_checksum ? 1 : 0)), 2);
}

std::string header() { return le(tnef::kSignature, 4) + le(0x0001, 2); }

std::string message_attrs() {
  return attr(tnef::kLevelMessage, 0x00089006, le(0x00010000, 4)) +  // attTnefVersion
         attr(tnef::kLevelMessage, tnef::kAttOemCodepage, le(1252, 4) + le(0, 4)) +
         attr(tnef::kLevelMessage, 0x00078008, std::string("IPM.Microsoft Mail.Note\0", 24));
}

std::string pad4(std::string s) {
  while (s.size() % 4) s.push_back('\0');
  return s;
}

// A variable-length property: tag, value count 1, length, bytes, padding.
std::string var_prop(uint16_t type, uint16_t id, std::string_view value) {
  return le(type, 2) + le(id, 2) + le(1, 4) + le(value.size(), 4) + pad4(std::string(value));
}

std::string props(uint32_t count, std::string_view body) {
  return le(count, 4) + std::string(body);
}

std::string attachment(std::string_view title, std::string_view data, std::string_view mapi = {}) {
  std::string s = attr(tnef::kLevelAttachment, tnef::kAttAttachRenddata, std::string(14, '\0'));
  if (!title.empty())
    s += attr(tnef::kLevelAttachment, tnef::kAttAttachTitle, std::string(title) + '\0');
  if (!data.empty()) s += attr(tnef::kLevelAttachment, tnef::kAttAttachData, data);
  if (!mapi.empty()) s += attr(tnef::kLevelAttachment, tnef::kAttAttachment, mapi);
  return s;
}

const std::string kExe = std::string("MZ\x90\0", 4) + std::string(300, 'x');

std::unique_ptr<RecordingContext> unpack_tnef(std::string bytes) {
  auto ctx = std::make_unique<RecordingContext>();
  Object obj;
  obj.name = "winmail.dat";
  obj.type = detect_type(*memory_source(bytes));
  obj.bytes = memory_source(std::move(bytes));
  auto unpacker = UnpackerRegistry::instance().create("tnef");
  REQUIRE(unpacker != nullptr);
  unpacker->unpack(obj, *ctx);
  return ctx;
}

}  // namespace

TEST_CASE("tnef: the signature is detected as its own type and label") {
  std::string t = header() + message_attrs() + attachment("A.TXT", "hello");
  TypeInfo type = detect_type(*memory_source(t));
  CHECK(type.label == "tnef");
  CHECK(type.mime == "application/vnd.ms-tnef");
  CHECK(is_known_type_label("tnef"));
  CHECK(UnpackerRegistry::instance().handles("tnef"));
  // The signature alone, with no attribute after it, is not claimed.
  CHECK(detect_type(*memory_source(header())).label != "tnef");
}

TEST_CASE("tnef: each attachment is a child with its title and exact bytes") {
  auto ctx = unpack_tnef(header() + message_attrs() + attachment("REPORT.DOC", "doc bytes") +
                         attachment("SETUP.EXE", kExe));
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "REPORT.DOC");
  CHECK(ctx->children[0].bytes == "doc bytes");
  CHECK(ctx->children[1].info.name == "SETUP.EXE");
  CHECK(ctx->children[1].bytes == kExe);
  CHECK(ctx->children[1].info.declared_size == static_cast<int64_t>(kExe.size()));
  CHECK(ctx->findings.empty());
}

TEST_CASE("tnef: PR_ATTACH_LONG_FILENAME wins over the 8.3 title (string8 and unicode)") {
  std::string named_guid_prop =  // a named property (id >= 0x8000) must be skipped correctly
      le(0x0003, 2) + le(0x8005, 2) + std::string(16, 'G') + le(1, 4) + le(6, 4) +
      pad4(std::string("n\0a\0m", 6)) + le(7, 4);
  std::string mapi8 = props(
      3,
      le(0x0003, 2) + le(0x0E20, 2) + le(kExe.size(), 4) +  // PR_ATTACH_SIZE
          named_guid_prop +
          var_prop(0x001E, tnef::kPrAttachLongFilename, std::string("Invoice 2024.pdf.exe\0", 21)));
  std::string utf16 = std::string("r\0\xE9\0s\0u\0m\0\xE9\0.\0e\0x\0e\0\0\0", 22);  // résumé.exe
  std::string mapi16 = props(1, var_prop(0x001F, tnef::kPrAttachLongFilename, utf16));
  auto ctx = unpack_tnef(header() + attachment("INVOIC~1.EXE", kExe, mapi8) +
                         attachment("RESUME~1.EXE", "second", mapi16));
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "Invoice 2024.pdf.exe");
  CHECK(ctx->children[0].bytes == kExe);
  CHECK(ctx->children[1].info.name == "r\u00E9sum\u00E9.exe");
  CHECK(ctx->findings.empty());
}

TEST_CASE("tnef: PR_ATTACH_DATA_BIN carries the bytes when attAttachData is absent") {
  std::string mapi =
      props(2, var_prop(0x001E, tnef::kPrAttachLongFilename, std::string("payload.exe\0", 12)) +
                   var_prop(0x0102, tnef::kPrAttachDataBin, kExe));
  auto ctx = unpack_tnef(header() + attachment("", "", mapi));
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.name == "payload.exe");
  CHECK(ctx->children[0].bytes == kExe);
}

TEST_CASE("tnef: an embedded message (PT_OBJECT) is passed on without its interface id") {
  std::string inner = header() + attachment("IN.EXE", kExe);
  std::string mapi =
      props(1, var_prop(0x000D, tnef::kPrAttachDataBin, std::string(16, 'I') + inner));
  auto ctx = unpack_tnef(header() + attachment("Forwarded", "", mapi));
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].bytes == inner);
  CHECK(detect_type(*memory_source(ctx->children[0].bytes)).label == "tnef");
}

TEST_CASE("tnef: malformed streams are findings and the intact siblings still come out") {
  SUBCASE("a length past the end") {
    std::string bad =
        std::string(1, '\x02') + le(tnef::kAttAttachData, 4) + le(0x7FFFFFFF, 4) + "abc";
    auto ctx = unpack_tnef(header() + attachment("GOOD.EXE", kExe) +
                           attr(2, tnef::kAttAttachRenddata, std::string(14, '\0')) +
                           attr(2, tnef::kAttAttachTitle, std::string("BAD.EXE\0", 8)) + bad);
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].info.name == "GOOD.EXE");
    CHECK(ctx->children[0].bytes == kExe);
    CHECK(ctx->has_finding("tnef.malformed"));
  }
  SUBCASE("a truncated attribute header") {
    auto ctx = unpack_tnef(header() + attachment("GOOD.EXE", kExe) + "\x02\x0f\x80");
    CHECK(ctx->children.size() == 1);
    CHECK(ctx->has_finding("tnef.malformed"));
  }
  SUBCASE("a property count that lies") {
    std::string mapi = props(
        0xFFFFFFFF, var_prop(0x001E, tnef::kPrAttachLongFilename, std::string("long.exe\0", 9)));
    auto ctx = unpack_tnef(header() + attachment("SHORT.EXE", kExe, mapi));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == kExe);
    CHECK(ctx->has_finding("tnef.malformed"));
  }
  SUBCASE("a property value longer than its block") {
    std::string mapi =
        props(1, le(0x0102, 2) + le(tnef::kPrAttachDataBin, 2) + le(1, 4) + le(100000, 4) + "xx");
    auto ctx = unpack_tnef(header() + attachment("T.EXE", kExe, mapi));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == kExe);
    CHECK(ctx->has_finding("tnef.malformed"));
  }
  SUBCASE("an unknown property type") {
    std::string mapi = props(1, le(0x0999, 2) + le(0x1234, 2) + "zzzz");
    auto ctx = unpack_tnef(header() + attachment("U.EXE", kExe, mapi));
    CHECK(ctx->children.size() == 1);
    CHECK(ctx->has_finding("tnef.malformed"));
  }
  SUBCASE("no signature") {
    auto ctx = unpack_tnef(std::string("\x78\x9F\x3E\x21\x01\x00", 6) + attachment("X.EXE", kExe));
    CHECK(ctx->children.empty());
    CHECK(ctx->has_finding("tnef.malformed"));
  }
}

TEST_CASE("tnef: a checksum mismatch is a finding; the bytes are still extracted") {
  std::string t = header() + attr(2, tnef::kAttAttachRenddata, std::string(14, '\0')) +
                  attr(2, tnef::kAttAttachTitle, std::string("C.EXE\0", 6)) +
                  attr(2, tnef::kAttAttachData, kExe, true);
  auto ctx = unpack_tnef(t);
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].bytes == kExe);
  CHECK(ctx->has_finding("tnef.checksum"));
  CHECK_FALSE(ctx->has_finding("tnef.malformed"));
}

TEST_CASE("tnef: attachments stop when the context refuses more children") {
  std::string t = header();
  for (int i = 0; i < 50; ++i) t += attachment("F" + std::to_string(i) + ".TXT", "data");
  auto ctx = std::make_unique<RecordingContext>();
  ctx->max_children = 5;
  Object obj;
  obj.type.label = "tnef";
  obj.bytes = memory_source(t);
  UnpackerRegistry::instance().create("tnef")->unpack(obj, *ctx);
  CHECK(ctx->children.size() == 5);
}

TEST_CASE("tnef: the attribute cap bounds the walk") {
  std::string t = header();
  for (int i = 0; i < 300; ++i) t += attr(1, 0x00069999, "");
  tnef::TnefOptions opt;
  opt.max_attributes = 100;
  auto sum =
      tnef::read_tnef(*memory_source(t), opt, [](const tnef::TnefAttachment&) { return true; });
  CHECK(sum.attributes == 100);
  CHECK(sum.too_many);
}
