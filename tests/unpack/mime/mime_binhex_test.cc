// BinHex 4.0 bodies and password candidates in mail: the decoder against a
// reference encoder written here from the format description (RFC 1741
// appendix) and against a literal sample, its extraction from whole messages,
// and the password candidates the MIME unpacker hands to the context.
#include "unpack/mime/mime_binhex.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <string>

#include "tests/unpack/mime/mime_test_util.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"
#include "unpack/mime/mime_passwords.h"

using namespace sandgate;
using namespace sandgate::testing;

namespace {

constexpr std::string_view kAlphabet =
    "!\"#$%&'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr";

// Reference CRC-16/XMODEM, bit by bit.
uint16_t ref_crc(std::string_view data) {
  uint16_t c = 0;
  for (unsigned char b : data) {
    c ^= static_cast<uint16_t>(b << 8);
    for (int i = 0; i < 8; ++i) c = (c & 0x8000) ? ((c << 1) ^ 0x1021) & 0xFFFF : (c << 1) & 0xFFFF;
  }
  return c;
}

std::string be(uint32_t v, int n) {
  std::string s;
  for (int i = n - 1; i >= 0; --i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// Run-length encoding: runs of 3 or more as byte 0x90 count; 0x90 itself as 0x90 0x00.
std::string rle(std::string_view d) {
  std::string out;
  for (size_t i = 0; i < d.size();) {
    unsigned char b = static_cast<unsigned char>(d[i]);
    size_t n = 1;
    while (i + n < d.size() && d[i + n] == d[i] && n < 255) ++n;
    if (b == 0x90) {
      out += std::string("\x90\x00", 2);
      if (n > 1) out += std::string("\x90", 1) + static_cast<char>(n);
    } else if (n >= 3) {
      out += static_cast<char>(b);
      out += '\x90';
      out += static_cast<char>(n);
    } else {
      out.append(n, static_cast<char>(b));
    }
    i += n;
  }
  return out;
}

struct Corrupt {
  bool data_crc = false;
  size_t truncate_chars = 0;  // drop this many encoded characters at the end
};

std::string binhex_encode(std::string_view name, std::string_view data, Corrupt c = {}) {
  std::string hdr = std::string(1, static_cast<char>(name.size())) + std::string(name) +
                    std::string(1, '\0') + "APPL" + "ttxt" + std::string(2, '\0') +
                    be(static_cast<uint32_t>(data.size()), 4) + be(3, 4);
  std::string rsrc = "RSC";
  uint16_t dcrc = ref_crc(data);
  if (c.data_crc) dcrc ^= 0x5555;
  std::string body =
      hdr + be(ref_crc(hdr), 2) + std::string(data) + be(dcrc, 2) + rsrc + be(ref_crc(rsrc), 2);
  std::string r = rle(body);
  std::string chars;
  uint32_t bits = 0;
  int n = 0;
  for (unsigned char b : r) {
    bits = (bits << 8) | b;
    n += 8;
    while (n >= 6) {
      n -= 6;
      chars += kAlphabet[(bits >> n) & 63];
    }
  }
  if (n > 0) chars += kAlphabet[(bits << (6 - n)) & 63];
  if (c.truncate_chars) chars.resize(chars.size() - c.truncate_chars);
  std::string s = ":" + chars + (c.truncate_chars ? "" : ":");
  std::string out;
  for (size_t i = 0; i < s.size(); i += 64) out += s.substr(i, 64) + "\n";
  return out;
}

std::string decode_all(std::string_view encoded, BinHexHeader* header, BinHexDefects* defects) {
  std::string out;
  BinHexDecoder d(
      [&](const BinHexHeader& h) {
        *header = h;
        return true;
      },
      [&](std::string_view piece) {
        out.append(piece);
        return true;
      });
  d.feed(encoded);
  d.finish();
  *defects = d.defects();
  return out;
}

// A small PE-looking payload with runs (for RLE) and 0x90 bytes.
std::string payload() {
  std::string p = "MZ";
  p += std::string(200, '\0');
  p += std::string("\x90\x90\x90\x90\x90 nop sled", 14);
  p += std::string(300, 'A');
  p += "This program cannot be run in DOS mode.\r\n";
  for (int i = 0; i < 1000; ++i) p += static_cast<char>(i * 7);
  return p;
}

std::string message_with(std::string_view headers, std::string_view body) {
  return crlf(std::string("From: a@example.com\nTo: b@example.com\n") + std::string(headers) +
              "\n" + std::string(body));
}

}  // namespace

TEST_CASE("binhex: CRC-16/XMODEM check value") {
  CHECK(binhex_crc16("123456789") == 0x31C3);
  CHECK(binhex_crc16("") == 0);
  CHECK(binhex_crc16("6789", binhex_crc16("12345")) == 0x31C3);
}

TEST_CASE("binhex: decodes a literal sample (name, data fork, CRCs)") {
  // "hi.txt" holding "Hello, BinHex!\n", type TEXT, creator ttxt, encoded
  // separately from this file's encoder (runs of zeros in the header use RLE).
  std::string_view sample = "\"QKT,R4iG!\"849K8G(4iG!#3\"3m!N!6k1%KPE'a[,#\"#D@j)CAJK#Y$&!!!";
  BinHexHeader h;
  BinHexDefects d;
  std::string data = decode_all(sample, &h, &d);
  CHECK(h.name == "hi.txt");
  CHECK(h.type == 0x54455854);  // 'TEXT'
  CHECK(h.data_length == 15);
  CHECK(data == "Hello, BinHex!\n");
  CHECK_FALSE(d.header_crc);
  CHECK_FALSE(d.data_crc);
  CHECK_FALSE(d.truncated);
  CHECK(d.bad_chars == 0);
}

TEST_CASE("binhex: round trip through the reference encoder, RLE and literal 0x90") {
  std::string p = payload();
  std::string enc = binhex_encode("setup.exe", p);
  enc = enc.substr(1, enc.rfind(':') - 1);  // the decoder takes what lies between the colons
  BinHexHeader h;
  BinHexDefects d;
  std::string data = decode_all(enc, &h, &d);
  CHECK(h.name == "setup.exe");
  CHECK(h.resource_length == 3);
  CHECK(data == p);
  CHECK_FALSE(d.header_crc);
  CHECK_FALSE(d.data_crc);
  CHECK(d.bad_chars == 0);
}

TEST_CASE("binhex: a wrong data CRC is reported and the bytes still come out") {
  std::string p = payload();
  std::string enc = binhex_encode("x.bin", p, Corrupt{true, 0});
  enc = enc.substr(1, enc.rfind(':') - 1);
  BinHexHeader h;
  BinHexDefects d;
  CHECK(decode_all(enc, &h, &d) == p);
  CHECK(d.data_crc);
  CHECK_FALSE(d.header_crc);
}

TEST_CASE("binhex: bad characters are skipped and counted; garbage never crashes") {
  BinHexHeader h;
  BinHexDefects d;
  std::string data = decode_all("~~~{}|", &h, &d);
  CHECK(data.empty());
  CHECK(d.bad_chars == 6);
  CHECK(d.no_header);
  // All-zero bits: an empty name, zero lengths and zero CRCs are consistent.
  CHECK(decode_all(std::string(4000, '!'), &h, &d).empty());
  CHECK_FALSE(d.truncated);
  // All-one bits: a 255-byte name and a 4 GiB data fork that never comes.
  data = decode_all(std::string(4000, 'r'), &h, &d);
  CHECK(h.name.size() == 255);
  CHECK(h.data_length == 0xFFFFFFFFu);
  CHECK(d.truncated);
  CHECK(data.size() < 4000);
}

namespace {

// What a part typed "binhex" becomes in a scan: the part is typed by its
// bytes, then the binhex unpacker (registered for that label) decodes it.
std::unique_ptr<RecordingContext> unpack_binhex(const std::string& bytes) {
  REQUIRE(detect_type(*memory_source(bytes)).label == "binhex");
  auto ctx = std::make_unique<RecordingContext>();
  Object o;
  o.path = "mail.eml/part";
  o.type.label = "binhex";
  o.bytes = memory_source(bytes);
  auto unpacker = UnpackerRegistry::instance().create("binhex");
  REQUIRE(unpacker);
  unpacker->unpack(o, *ctx);
  return ctx;
}

}  // namespace

TEST_CASE("mime: a text part with the BinHex banner near its start is left to the binhex unpacker") {
  std::string p = payload();
  std::string body =
      "Here is the file you asked for.\n\n"
      "(This file must be converted with BinHex 4.0)\n\n" +
      binhex_encode("Invoice.exe", p) + "\nbye\n";
  auto ctx = unpack_message(message_with("Subject: file\n", body));
  // Not decoded here (it would be twice): the part is typed binhex ...
  CHECK(ctx->child("Invoice.exe") == nullptr);
  const RecordedChild* part = ctx->child("part1");
  REQUIRE(part != nullptr);
  // ... and its own unpacker makes the child.
  auto bx = unpack_binhex(part->bytes);
  const RecordedChild* c = bx->child("Invoice.exe");
  REQUIRE(c != nullptr);
  CHECK(c->bytes == p);
  CHECK(c->findings.empty());
  CHECK(c->finish_calls == 1);
}

TEST_CASE("mime: a BinHex banner deep inside a text part is decoded by the MIME unpacker") {
  std::string p = payload();
  std::string prose;
  while (prose.size() < 5000) prose += "Some introductory words about the attached file.\n";
  std::string body = prose + "\n(This file must be converted with BinHex 4.0)\n\n" + binhex_encode("Deep.exe", p) + "\n";
  auto ctx = unpack_message(message_with("Subject: file\n", body));
  const RecordedChild* part = ctx->child("part1");
  REQUIRE(part != nullptr);
  CHECK(detect_type(*memory_source(part->bytes)).label == "text");
  const RecordedChild* c = ctx->child("Deep.exe");
  REQUIRE(c != nullptr);
  CHECK(c->bytes == p);
}

TEST_CASE("mime: application/mac-binhex40 parts need no banner, in any transfer encoding") {
  std::string p = payload();
  const std::string hqx = binhex_encode("tool.app", p);
  for (const char* cte : {"", "base64"}) {
    CAPTURE(cte);
    std::string part_body = std::string(cte) == "base64" ? base64_encode(hqx) : hqx;
    std::string msg =
        "Subject: x\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
        "--b\nContent-Type: text/plain\n\nsee attachment\n"
        "--b\nContent-Type: application/mac-binhex40; name=\"a.hqx\"\n" +
        (std::string(cte).empty() ? std::string() : "Content-Transfer-Encoding: " + std::string(cte) + "\n") +
        "\n" + part_body + "--b--\n";
    auto ctx = unpack_message(crlf(msg));
    const RecordedChild* part = ctx->child("a.hqx");
    REQUIRE(part != nullptr);
    CHECK(ctx->child("tool.app") == nullptr);  // the part's own unpacker decodes it
    auto bx = unpack_binhex(part->bytes);
    const RecordedChild* c = bx->child("tool.app");
    REQUIRE(c != nullptr);
    CHECK(c->bytes == p);
  }
}

TEST_CASE("binhex unpacker: CRC errors and truncation are findings on the child") {
  std::string p = payload();
  const std::string banner = "(This file must be converted with BinHex 4.0)\n";
  SUBCASE("data CRC") {
    auto ctx = unpack_binhex(banner + binhex_encode("bad.exe", p, Corrupt{true, 0}));
    const RecordedChild* c = ctx->child("bad.exe");
    REQUIRE(c != nullptr);
    CHECK(c->has_finding("mime.binhex.crc"));
    CHECK(c->bytes == p);
  }
  SUBCASE("truncated") {
    auto ctx = unpack_binhex(banner + binhex_encode("cut.exe", p, Corrupt{false, 600}));
    const RecordedChild* c = ctx->child("cut.exe");
    REQUIRE(c != nullptr);
    CHECK(c->has_finding("mime.binhex.malformed"));
    CHECK(c->bytes.size() < p.size());
    CHECK(p.starts_with(c->bytes));
  }
  SUBCASE("banner followed by prose is not BinHex") {
    auto ctx = unpack_binhex(banner + "no data here\n");
    CHECK(ctx->children.empty());
    CHECK(ctx->findings.empty());
  }
}

TEST_CASE("type detection: BinHex by its banner or its data, and not prose that starts with a colon") {
  CHECK(detect_type(*memory_source("(This file must be converted with BinHex 4.0)\n:abc")).label == "binhex");
  CHECK(detect_type(*memory_source("\r\n" + binhex_encode("x.exe", payload()))).label == "binhex");
  CHECK(detect_type(*memory_source(": a note that starts with a colon, and goes on for a while longer\n")).label ==
        "text");
  CHECK(detect_type(*memory_source(":" + std::string(63, 'A'))).label != "binhex");  // 63: too short
}

TEST_CASE("passwords: the token after the keyword, quoted strings, several languages") {
  auto has = [](const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
  };
  auto c = find_password_candidates("Invoice (password: Secret123)");
  REQUIRE_FALSE(c.empty());
  CHECK(c[0] == "Secret123");
  CHECK(has(find_password_candidates("The password is \"Secret123\""), "Secret123"));
  CHECK(has(find_password_candidates("Hi,\nthe PASSWORD for the archive is: hunter2.\nBye"),
            "hunter2"));
  CHECK(has(find_password_candidates("Passwort: Geheim!1"), "Geheim!1"));
  CHECK(has(find_password_candidates("Mot de passe : azerty"), "azerty"));
  CHECK(has(find_password_candidates("Пароль: тест123"), "тест123"));
  CHECK(has(find_password_candidates("Contraseña: clave1"), "clave1"));
  CHECK(has(find_password_candidates("senha=abc987"), "abc987"));
  CHECK(has(find_password_candidates("pwd - Qwerty"), "Qwerty"));
  CHECK(has(find_password_candidates("Use \u201Cmy pass phrase\u201D as the password"),
            "my pass phrase"));
  CHECK(has(find_password_candidates("Password:\n\n   nextline42  \n"), "nextline42"));
  CHECK(has(find_password_candidates("<p>Password: <b>Pa55</b></p>", true), "Pa55"));
  CHECK(has(find_password_candidates("<p>The password is &quot;Q1&quot;</p>", true), "Q1"));
  // Not a password keyword.
  CHECK(find_password_candidates("Bring your passport and a compass.").empty());
  CHECK(find_password_candidates("Nothing to see here").empty());
}

TEST_CASE("passwords: bounded in number and length") {
  std::string text;
  for (int i = 0; i < 100; ++i) text += "password: p" + std::to_string(i) + "\n";
  auto c = find_password_candidates(text);
  CHECK(c.size() == kMaxPasswordCandidates);
  CHECK(c[0] == "p0");
  auto l = find_password_candidates("password: " + std::string(65, 'x') + " and \"short\"");
  for (const auto& s : l) CHECK(s.size() <= kMaxPasswordBytes);
  CHECK(l == std::vector<std::string>{"short"});
  // Huge input: only the head is read.
  std::string big(10 << 20, 'a');
  big += "\npassword: late";
  CHECK(find_password_candidates(big).empty());
}

TEST_CASE("mime: candidates from the decoded subject and the text parts reach the context") {
  std::string msg =
      "Subject: =?UTF-8?B?SW52b2ljZSAocGFzc3dvcmQ6IFNlY3JldDEyMyk=?=\n"  // Invoice (password:
                                                                         // Secret123)
      "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b\n\n"
      "--b\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
      "quoted-printable\n\n"
      "The password is =22Body456=22\n"
      "--b\nContent-Type: text/html\n\n<p>pwd: <i>Html789</i></p>\n"
      "--b\nContent-Type: application/zip; name=a.zip\nContent-Transfer-Encoding: base64\n\n"
      "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA==\n--b--\n";
  auto ctx = unpack_message(crlf(msg));
  REQUIRE(ctx->passwords.size() >= 3);
  CHECK(ctx->passwords[0].password == "Secret123");
  CHECK(ctx->passwords[0].source == "the subject");
  bool body = false, html = false;
  for (const auto& p : ctx->passwords) {
    body = body || (p.password == "Body456" && p.source == "the text of part1");
    html = html || (p.password == "Html789" && p.source == "the text of part2");
  }
  CHECK(body);
  CHECK(html);
}

TEST_CASE("binhex: files past the cap are a limit, not silently dropped") {
  std::string body;
  for (int i = 0; i < 3; ++i)
    body += "(This file must be converted with BinHex 4.0)\n\n" +
            binhex_encode("f" + std::to_string(i) + ".exe", "payload " + std::to_string(i)) + "\n\n";
  auto run = [&](uint64_t max_objects) {
    auto ctx = std::make_unique<RecordingContext>();
    ctx->limit_values.max_objects = max_objects;  // the binhex unpacker reads at most this many
    Object o;
    o.path = "mail.eml/part";
    o.type.label = "binhex";
    o.bytes = memory_source(body);
    UnpackerRegistry::instance().create("binhex")->unpack(o, *ctx);
    return ctx;
  };
  auto capped = run(2);
  CHECK(capped->children.size() == 2);
  CHECK(capped->has_finding("limits.objects"));
  auto all = run(3);
  CHECK(all->children.size() == 3);
  CHECK_FALSE(all->has_finding("limits.objects"));
}
