// Unit tests of the MIME header, parameter, encoded-word and decoder helpers.
#include "unpack/mime/mime_header.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/mime/mime_decode.h"
#include "unpack/mime/mime_line_reader.h"

using namespace sandgate;

TEST_CASE("parse_header_value: type, quoted and commented parameters") {
  HeaderValue v = parse_header_value(
      " Multipart/Mixed (a comment; here) ; Boundary=\"a\\\"b;c\" ; charset = utf-8 (x)");
  CHECK(v.value == "multipart/mixed");
  CHECK(normalize_mime_type(v.value) == "multipart/mixed");
  REQUIRE(v.param("boundary") != nullptr);
  CHECK(*v.param("boundary") == "a\"b;c");
  REQUIRE(v.param("charset") != nullptr);
  CHECK(v.param("charset")->substr(0, 5) == "utf-8");
  CHECK(normalize_mime_type("text") == "");
  CHECK(normalize_mime_type("text/pl ain") == "");
}

TEST_CASE("parse_header_value: a parameter given twice keeps the first and is named") {
  HeaderValue v = parse_header_value("multipart/mixed; boundary=B; Boundary=\"A\"; charset=x");
  REQUIRE(v.param("boundary") != nullptr);
  CHECK(*v.param("boundary") == "B");
  CHECK(v.duplicates == std::vector<std::string>{"boundary"});
  // Repeated with the same value: nothing to disagree on.
  CHECK(parse_header_value("text/plain; charset=utf-8; charset=\"utf-8\"").duplicates.empty());
  // An RFC 2231 segment given twice.
  HeaderValue d = parse_header_value(
      "attachment; filename*0=\"a\"; filename*1=\".txt\"; filename*1=\".exe\"");
  REQUIRE(d.param("filename") != nullptr);
  CHECK(*d.param("filename") == "a.txt");
  CHECK(d.duplicates == std::vector<std::string>{"filename"});
  CHECK(parse_header_value("attachment; filename=a.txt").duplicates.empty());
}

TEST_CASE("RFC 2231: continuations in order, gaps end the value, charset applied") {
  HeaderValue v = parse_header_value(
      "attachment; filename*2=\"c\"; filename*0*=us-ascii'en'a%41; filename*1=b; "
      "title*0=x; title*2=z");
  CHECK(*v.param("filename") == "aAbc");
  CHECK(v.is_extended("filename"));
  CHECK(*v.param("title") == "x");
  HeaderValue w = parse_header_value("inline; filename*=windows-1252''%80uro");
  CHECK(*w.param("filename") ==
        "\xE2\x82\xAC"
        "uro");
}

TEST_CASE("RFC 2047 encoded words") {
  CHECK(decode_encoded_words("=?utf-8?q?caf=C3=A9?=") == "caf\xC3\xA9");
  // Whitespace between adjacent words is dropped; a character split across
  // two B words is joined before conversion.
  CHECK(decode_encoded_words("=?UTF-8?B?4oI=?= =?UTF-8?B?rA==?=") == "\xE2\x82\xAC");
  CHECK(decode_encoded_words("a =?ISO-8859-1?Q?=E9?= b") == "a \xC3\xA9 b");
  CHECK(decode_encoded_words("=?bogus-charset?Q?x?=") == "x");
  CHECK(decode_encoded_words("=?broken") == "=?broken");
  CHECK(decode_encoded_words("=?UTF-8*en?Q?hi?=") == "hi");
}

TEST_CASE("to_utf8 and display_name never produce invalid UTF-8 or controls") {
  CHECK(to_utf8("utf-8",
                "\xFF"
                "a") ==
        "\xC3\xBF"
        "a");
  CHECK(to_utf8("shift_jis", "\x93\xfa") == "\xE6\x97\xA5");
  CHECK(display_name("a\x01"
                     "b\n.exe") == "a_b_.exe");
  CHECK(display_name(std::string(5000, 'x')).size() == kMaxNameBytes);
}

TEST_CASE("Base64Decoder skips whitespace and counts bad characters") {
  Base64Decoder d;
  std::string out;
  d.decode("aGVs\r\nbG8g", &out);
  d.decode("d2!9y", &out);
  d.decode("bGQ=", &out);
  d.finish(&out);
  CHECK(out == "hello world");
  CHECK(d.bad_chars() == 1);
  CHECK(d.first_bad_offset() == 12);
  Base64Decoder e;
  out.clear();
  e.decode("aGk=aGk=", &out);  // two concatenated streams
  e.finish(&out);
  CHECK(out == "hihi");
  CHECK(e.bad_chars() == 0);
}

TEST_CASE("QuotedPrintableDecoder across pieces of a line") {
  QuotedPrintableDecoder q;
  std::string out;
  q.decode("a=4", &out);
  q.decode("1 b  ", &out);
  q.line_break("\n", &out);
  q.decode("c =", &out);
  q.line_break("\n", &out);
  q.decode("d", &out);
  q.finish(&out);
  CHECK(out == "aA b\nc d");
  CHECK(q.bad_sequences() == 0);
}

TEST_CASE("uudecode_line") {
  std::string out;
  bool end = false;
  CHECK(uudecode_line("#0V%T", &out, &end) == 0);
  CHECK(out == "Cat");
  CHECK_FALSE(end);
  CHECK(uudecode_line("`", &out, &end) == 0);
  CHECK(end);
}

TEST_CASE("LineReader: terminators, offsets, long lines in fragments") {
  std::string text = "ab\r\ncd\nef";
  auto src = memory_source(text);
  LineReader r(*src);
  LineFragment f;
  REQUIRE(r.next(&f));
  CHECK(f.data == "ab");
  CHECK(f.term == "\r\n");
  CHECK(f.offset == 0);
  REQUIRE(r.next(&f));
  CHECK(f.data == "cd");
  CHECK(f.term == "\n");
  CHECK(f.offset == 4);
  REQUIRE(r.next(&f));
  CHECK(f.data == "ef");
  CHECK(f.term == "");
  CHECK(f.line_end);
  CHECK_FALSE(r.next(&f));

  std::string longline(LineReader::kMaxFragment * 3 + 10, 'x');
  auto src2 = memory_source(longline + "\nz");
  LineReader r2(*src2);
  size_t total = 0;
  int fragments = 0;
  bool first = true;
  while (r2.next(&f) && f.data != "z") {
    CHECK(f.data.size() <= LineReader::kMaxFragment + 1);
    CHECK(f.line_start == first);
    first = false;
    total += f.data.size();
    ++fragments;
  }
  CHECK(total == longline.size());
  CHECK(fragments == 4);
}
