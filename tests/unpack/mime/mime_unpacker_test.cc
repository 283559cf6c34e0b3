// Behaviour of the MIME unpacker on whole messages: which children come out,
// with which names, types, bytes and findings; and that hostile structure
// (missing boundaries, deep nesting, part bombs, huge lines) stays bounded.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "tests/unpack/mime/mime_test_util.h"

using namespace sandgate;
using namespace sandgate::testing;

namespace {

void check_all_finished(const RecordingContext& ctx) {
  for (const auto& c : ctx.children) CHECK_MESSAGE(c.finish_calls == 1, c.info.name);
  CHECK(ctx.open_writers == 0);
  CHECK(ctx.max_open_writers <= 1);
}

}  // namespace

TEST_CASE("single-part message: the body is the only child") {
  auto ctx =
      unpack_message(crlf("From: a@example.com\nTo: b@example.com\nSubject: hi\n\nHello\nWorld\n"));
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.name == "part1");
  CHECK(ctx->children[0].info.declared_mime == "text/plain");
  CHECK(ctx->children[0].bytes == "Hello\r\nWorld\r\n");
  CHECK(ctx->findings.empty());
  check_all_finished(*ctx);
}

TEST_CASE("single-part base64 body is decoded") {
  std::string payload = "MZ\x90\x00\x03 binary payload";
  payload.push_back('\0');
  auto ctx = unpack_message(crlf("Content-Type: application/octet-stream; name=x.bin\n"
                                 "Content-Transfer-Encoding: base64\n\n") +
                            base64_encode(payload));
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.name == "x.bin");
  CHECK(ctx->children[0].bytes == payload);
  CHECK(ctx->children[0].findings.empty());
}

TEST_CASE("multipart/mixed with a base64 attachment") {
  std::string pdf = "%PDF-1.7\n1 0 obj\n<<>>\nendobj\n";
  for (int i = 0; i < 50; ++i) pdf += static_cast<char>(i * 7);
  std::string msg = crlf(
                        "MIME-Version: 1.0\n"
                        "Content-Type: multipart/mixed; boundary=\"==b1==\"\n"
                        "\n"
                        "This is a multi-part message in MIME format.\n"
                        "--==b1==\n"
                        "Content-Type: text/plain; charset=us-ascii\n"
                        "\n"
                        "See attached.\n"
                        "--==b1==\n"
                        "Content-Type: application/pdf; name=\"offer.pdf\"\n"
                        "Content-Disposition: attachment; filename=\"offer.pdf\"\n"
                        "Content-Transfer-Encoding: base64\n"
                        "\n") +
                    base64_encode(pdf) + crlf("--==b1==--\nepilogue\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "part1");
  CHECK(ctx->children[0].info.declared_mime == "text/plain");
  CHECK(ctx->children[0].bytes == "See attached.");
  CHECK(ctx->children[1].info.name == "offer.pdf");
  CHECK(ctx->children[1].info.declared_mime == "application/pdf");
  CHECK(ctx->children[1].bytes == pdf);
  CHECK(ctx->children[1].findings.empty());
  CHECK(ctx->findings.empty());
  check_all_finished(*ctx);
}

TEST_CASE("nested multipart/alternative inside multipart/mixed") {
  std::string msg = crlf(
      "Content-Type: multipart/mixed; boundary=outer\n"
      "\n"
      "--outer\n"
      "Content-Type: multipart/alternative; boundary=inner\n"
      "\n"
      "--inner\n"
      "Content-Type: text/plain\n"
      "\n"
      "plain text\n"
      "--inner\n"
      "Content-Type: text/html\n"
      "\n"
      "<p>html</p>\n"
      "--inner--\n"
      "\n"
      "--outer\n"
      "Content-Type: application/zip\n"
      "Content-Disposition: attachment; filename=a.zip\n"
      "\n"
      "PK\x03\x04zipdata\n"
      "--outer--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 3);
  CHECK(ctx->children[0].info.name == "part1.1");
  CHECK(ctx->children[0].bytes == "plain text");
  CHECK(ctx->children[1].info.name == "part1.2");
  CHECK(ctx->children[1].info.declared_mime == "text/html");
  CHECK(ctx->children[1].bytes == "<p>html</p>");
  CHECK(ctx->children[2].info.name == "a.zip");
  CHECK(ctx->children[2].info.declared_mime == "application/zip");
  CHECK(ctx->children[2].bytes == "PK\x03\x04zipdata");
  CHECK(ctx->findings.empty());
  check_all_finished(*ctx);
}

TEST_CASE("RFC 2047 and RFC 2231 filenames") {
  std::string msg = crlf(
      "Content-Type: multipart/mixed; boundary=b\n"
      "\n"
      "--b\n"
      "Content-Type: application/octet-stream\n"
      "Content-Disposition: attachment; filename=\"=?UTF-8?B?UmVjaG51bmcg4oKsLnBkZg==?=\"\n"
      "\n"
      "one\n"
      "--b\n"
      "Content-Type: application/octet-stream; name=\"=?ISO-8859-1?Q?B=FCcher_Liste.xls?=\"\n"
      "\n"
      "two\n"
      "--b\n"
      "Content-Type: application/octet-stream\n"
      "Content-Disposition: attachment; filename*=UTF-8''%E2%82%AC%20rate.doc\n"
      "\n"
      "three\n"
      "--b\n"
      "Content-Type: application/octet-stream\n"
      "Content-Disposition: attachment;\n"
      " filename*0*=UTF-8''%C3%A9t%C3%A9;\n"
      " filename*1*=%20report;\n"
      " filename*2=\".pdf\"\n"
      "\n"
      "four\n"
      "--b\n"
      "Content-Type: application/octet-stream;\n"
      "\tname*1=\"def.exe\"; name*0=\"abc\"\n"
      "\n"
      "five\n"
      "--b\n"
      "Content-Type: application/octet-stream\n"
      "Content-Disposition: attachment; filename*=iso-8859-1'en'%E9t%E9.txt\n"
      "\n"
      "six\n"
      "--b--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 6);
  CHECK(ctx->children[0].info.name == "Rechnung \xE2\x82\xAC.pdf");
  CHECK(ctx->children[1].info.name ==
        "B\xC3\xBC"
        "cher Liste.xls");
  CHECK(ctx->children[2].info.name == "\xE2\x82\xAC rate.doc");
  CHECK(ctx->children[3].info.name == "\xC3\xA9t\xC3\xA9 report.pdf");
  CHECK(ctx->children[4].info.name == "abcdef.exe");
  CHECK(ctx->children[5].info.name == "\xC3\xA9t\xC3\xA9.txt");
  CHECK(ctx->children[5].bytes == "six");
}

TEST_CASE("quoted-printable body with soft line breaks") {
  std::string msg = crlf(
      "Content-Type: text/html; charset=utf-8\n"
      "Content-Transfer-Encoding: quoted-printable\n"
      "\n"
      "<a href=3D\"http://ex=\n"
      "ample.com/\">caf=C3=A9</a>   \n"
      "second line=20\n"
      "bad =ZZ sequence");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.declared_mime == "text/html");
  CHECK(ctx->children[0].bytes ==
        "<a href=\"http://example.com/\">caf\xC3\xA9</a>\r\nsecond line \r\nbad =ZZ sequence");
  CHECK(ctx->children[0].has_finding("mime.bad_encoding"));
}

TEST_CASE("message/rfc822 part is emitted as one child") {
  std::string inner = crlf(
      "From: x@example.com\n"
      "Subject: inner\n"
      "Content-Type: multipart/mixed; boundary=innerb\n"
      "\n"
      "--innerb\n"
      "Content-Type: text/plain\n"
      "\n"
      "inner body\n"
      "--innerb--");
  std::string msg = crlf(
                        "Content-Type: multipart/mixed; boundary=outer\n"
                        "\n"
                        "--outer\n"
                        "Content-Type: text/plain\n"
                        "\n"
                        "fwd\n"
                        "--outer\n"
                        "Content-Type: message/rfc822\n"
                        "\n") +
                    inner + crlf("\n--outer--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[1].info.name == "part2");
  CHECK(ctx->children[1].info.declared_mime == "message/rfc822");
  CHECK(ctx->children[1].bytes == inner);
}

TEST_CASE("base64 message/rfc822 part is decoded") {
  std::string inner = crlf("Subject: inner\n\nhello\n");
  std::string msg = crlf(
                        "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
                        "Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n") +
                    base64_encode(inner) + crlf("--o--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.declared_mime == "message/rfc822");
  CHECK(ctx->children[0].bytes == inner);
}

TEST_CASE("missing final boundary ends the last part at the end of input") {
  std::string msg = crlf(
                        "Content-Type: multipart/mixed; boundary=b\n"
                        "\n"
                        "--b\n"
                        "Content-Type: text/plain\n"
                        "\n"
                        "first\n"
                        "--b\n"
                        "Content-Type: application/octet-stream; name=last.bin\n"
                        "Content-Transfer-Encoding: base64\n"
                        "\n") +
                    base64_encode("last part bytes");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].bytes == "first");
  CHECK(ctx->children[1].info.name == "last.bin");
  CHECK(ctx->children[1].bytes == "last part bytes");
  CHECK(ctx->has_finding("mime.malformed"));
  bool saw = false;
  for (const auto& f : ctx->findings)
    if (f.message.find("missing closing boundary") != std::string::npos) saw = true;
  CHECK(saw);
  check_all_finished(*ctx);
}

TEST_CASE("missing final boundary in a nested multipart, identity last part") {
  std::string msg =
      "Content-Type: multipart/mixed; boundary=o\n\n--o\n"
      "Content-Type: multipart/alternative; boundary=i\n\n--i\n\nA\n--i\n\nB tail";
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "part1.1");
  CHECK(ctx->children[0].bytes == "A");
  CHECK(ctx->children[1].info.name == "part1.2");
  CHECK(ctx->children[1].bytes == "B tail");
  CHECK(ctx->has_finding("mime.malformed"));
}

TEST_CASE("one invalid base64 character: the rest still decodes, with a finding") {
  std::string data(3000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 31 + 7);
  std::string b64 = base64_encode(data);
  // Insert a '*' (not base64) in the middle of the third line.
  b64.insert(78 * 2 + 30, "*");
  std::string msg = crlf(
                        "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
                        "Content-Type: application/octet-stream; name=blob\n"
                        "Content-Transfer-Encoding: base64\n\n") +
                    b64 + crlf("--b--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].bytes == data);
  REQUIRE(ctx->children[0].has_finding("mime.bad_encoding"));
  CHECK(ctx->children[0].findings[0].evidence.find("1 bad") != std::string::npos);
}

TEST_CASE("uuencoded attachment in a text body") {
  std::string file = "This is the attached file.\n";
  for (int i = 0; i < 200; ++i) file += static_cast<char>(i);
  std::string msg = "Subject: old style\n\nHello, here is the file:\n\n" +
                    uuencode(file, "report.doc") + "\nbye\n";
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "part1");  // the text itself
  CHECK(ctx->children[0].bytes.find("begin 644 report.doc") != std::string::npos);
  CHECK(ctx->children[1].info.name == "report.doc");
  CHECK(ctx->children[1].bytes == file);
  CHECK(ctx->children[1].findings.empty());
}

TEST_CASE("uuencode written with spaces for zero, trailing spaces stripped in transit") {
  // POSIX allows ' ' as well as '`' for a zero sextet; a file of mostly zero
  // bytes (a PE header) then has lines ending in spaces, which mail transports strip.
  std::string file = "MZ";
  file.append(200, '\0');
  std::string uu = uuencode(file, "setup.exe");
  for (auto& c : uu)
    if (c == '`') c = ' ';
  std::string stripped;
  size_t start = 0;
  while (start < uu.size()) {
    size_t nl = uu.find('\n', start);
    std::string line = uu.substr(start, nl - start);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    stripped += (line.empty() ? std::string("`") : line) + "\n";
    start = nl + 1;
  }
  auto ctx = unpack_message("Subject: x\n\nthe installer:\n\n" + stripped + "\nbye\n");
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[1].info.name == "setup.exe");
  CHECK(ctx->children[1].bytes == file);
}

TEST_CASE("prose starting with 'begin' is not uuencode") {
  auto ctx = unpack_message("Subject: x\n\nbegin 644 the meeting now\nwith normal text\nend\n");
  CHECK(ctx->children.size() == 1);
}

TEST_CASE("10k-deep nesting is bounded and produces one opaque part") {
  std::string msg;
  const int depth = 10000;
  for (int i = 0; i < depth; ++i)
    msg += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
           std::to_string(i) + "\n";
  msg += "Content-Type: text/plain\n\ndeep\n";
  auto ctx = unpack_message(msg);
  CHECK(ctx->has_finding("mime.nesting"));
  // A depth limit: the parts inside the opaque one are never seen, so the
  // policy's on_limit decides.
  CHECK(ctx->has_finding("limits.depth"));
  // Limits::max_depth (12) is below the parser's own 32.
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.name == "part" + [] {
    std::string p = "1";
    for (int i = 1; i < 12; ++i) p += ".1";
    return p;
  }());
  CHECK(ctx->children[0].info.declared_mime == "multipart/mixed");
  CHECK(ctx->children[0].bytes.find("deep") != std::string::npos);
  check_all_finished(*ctx);
}

TEST_CASE("nesting limit of the parser applies when the depth limit is higher") {
  std::string msg;
  for (int i = 0; i < 100; ++i)
    msg += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
           std::to_string(i) + "\n";
  Limits limits;
  limits.max_depth = 1000;
  MimeOptions opt;
  opt.max_nesting = 5;
  auto ctx = unpack_message(msg, opt, limits);
  CHECK(ctx->has_finding("mime.nesting"));
  CHECK(ctx->has_finding("limits.depth"));
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.name == "part1.1.1.1.1");
  // Exactly at the cap: no limit.
  std::string five;
  for (int i = 0; i < 5; ++i)
    five += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\n\n--b" +
            std::to_string(i) + "\n";
  auto at_cap = unpack_message(five + "Content-Type: text/plain\n\nx\n", opt, limits);
  CHECK_FALSE(at_cap->has_finding("mime.nesting"));
  CHECK_FALSE(at_cap->has_finding("limits.depth"));
}

TEST_CASE("part count bomb stops at the cap") {
  std::string msg = "Content-Type: multipart/mixed; boundary=x\n\n";
  for (int i = 0; i < 10050; ++i) msg += "--x\n\np\n";
  msg += "--x--\n";
  auto ctx = unpack_message(msg);
  CHECK(ctx->children.size() == 10000);
  CHECK(ctx->has_finding("mime.too_many_parts"));
  CHECK(ctx->children.back().info.name == "part10000");

  MimeOptions small;
  small.max_parts = 3;
  auto ctx2 = unpack_message(msg, small);
  CHECK(ctx2->children.size() == 3);
  CHECK(ctx2->has_finding("mime.too_many_parts"));
  // Parts past the cap are never seen: that is a limit for the policy's
  // on_limit, whatever the engine's own object limit (which may be higher).
  CHECK(ctx->has_finding("limits.objects"));
  CHECK(ctx2->has_finding("limits.objects"));
  MimeOptions exact;
  exact.max_parts = 10050;
  CHECK_FALSE(unpack_message(msg, exact)->has_finding("limits.objects"));
}

TEST_CASE("uuencoded files past the cap are a limit, not silently dropped") {
  std::string body = "Hello, the files:\n\n";
  for (int i = 0; i < 3; ++i) body += uuencode("file " + std::to_string(i), "f" + std::to_string(i) + ".exe") + "\n";
  MimeOptions opt;
  opt.max_uu_files = 2;
  auto ctx = unpack_message("Subject: old style\n\n" + body, opt);
  REQUIRE(ctx->children.size() == 3);  // the text and two files
  CHECK(ctx->children[2].info.name == "f1.exe");
  CHECK(ctx->has_finding("limits.objects"));
  opt.max_uu_files = 3;
  auto all = unpack_message("Subject: old style\n\n" + body, opt);
  CHECK(all->children.size() == 4);
  CHECK_FALSE(all->has_finding("limits.objects"));
}

TEST_CASE("the context refusing a child stops the unpacker") {
  std::string msg = "Content-Type: multipart/mixed; boundary=x\n\n";
  for (int i = 0; i < 50; ++i) msg += "--x\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n";
  auto ctx = std::make_unique<RecordingContext>();
  ctx->max_children = 4;
  Object obj;
  obj.bytes = memory_source(msg);
  MimeUnpacker().unpack(obj, *ctx);
  CHECK(ctx->children.size() == 4);
  for (const auto& c : ctx->children) CHECK(c.bytes == "hello");
}

TEST_CASE("CRLF and LF line endings give the same parts") {
  std::string lf =
      "Content-Type: multipart/mixed; boundary=zz\n\npreamble\n--zz\n"
      "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\n"
      "a=\nb\nc\n--zz\nContent-Type: application/octet-stream; name=f.bin\n"
      "Content-Transfer-Encoding: base64\n\nAAEC\nAwQF\n--zz--\n";
  auto a = unpack_message(lf);
  auto b = unpack_message(crlf(lf));
  REQUIRE(a->children.size() == 2);
  REQUIRE(b->children.size() == 2);
  CHECK(a->children[0].bytes == "ab\nc");
  CHECK(b->children[0].bytes == "ab\r\nc");
  CHECK(a->children[1].bytes == std::string("\0\1\2\3\4\5", 6));
  CHECK(b->children[1].bytes == a->children[1].bytes);
  CHECK(a->children[1].info.name == b->children[1].info.name);
}

TEST_CASE("a longer line starting with the boundary is data, not a boundary") {
  std::string msg = crlf(
      "Content-Type: multipart/mixed; boundary=abc\n"
      "\n"
      "--abc\n"
      "\n"
      "line one\n"
      "--abcdef\n"
      "--abc-- trailing\n"
      "--abc   \n"
      "\n"
      "second\n"
      "--abc--  \n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].bytes == "line one\r\n--abcdef\r\n--abc-- trailing");
  CHECK(ctx->children[1].bytes == "second");
}

TEST_CASE("a 5 MB line without a newline is handled in pieces") {
  std::string big(5 * 1024 * 1024, 'A');
  big[12345] = 'B';
  SUBCASE("identity body") {
    auto ctx = unpack_message("Subject: big\n\n" + big);
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == big);
  }
  SUBCASE("base64 body on one line") {
    std::string payload(3 * 1024 * 1024, '\0');
    for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i % 251);
    auto ctx = unpack_message("Content-Transfer-Encoding: base64\n\n" + base64_encode(payload, 0));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == payload);
    CHECK(ctx->children[0].findings.empty());
  }
  SUBCASE("in a multipart, unterminated") {
    auto ctx = unpack_message("Content-Type: multipart/mixed; boundary=q\n\n--q\n\n" + big);
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == big);
    CHECK(ctx->has_finding("mime.malformed"));
  }
  SUBCASE("as a header line") {
    auto ctx = unpack_message("Subject: " + big + "\n\nbody\n");
    CHECK(ctx->has_finding("mime.header_limit"));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes.size() < big.size());
  }
}

TEST_CASE("encrypted parts are emitted as is with a finding") {
  std::string msg = crlf(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
      "Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name=smime.p7m\n"
      "Content-Transfer-Encoding: base64\n\nMIAGCSqGSIb3DQEHA6CAMIACAQA=\n"
      "--b\n"
      "Content-Type: multipart/encrypted; protocol=\"application/pgp-encrypted\"; boundary=e\n\n"
      "--e\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n--e--\n"
      "--b--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "smime.p7m");
  CHECK(ctx->children[0].info.encrypted);
  CHECK(ctx->children[0].has_finding("mime.encrypted"));
  CHECK(ctx->children[0].bytes.substr(0, 2) == "\x30\x80");
  CHECK(ctx->children[1].info.declared_mime == "multipart/encrypted");
  CHECK(ctx->children[1].info.encrypted);
  CHECK(ctx->children[1].has_finding("mime.encrypted"));
  CHECK(ctx->children[1].bytes.find("Version: 1") != std::string::npos);
}

TEST_CASE("unknown transfer encoding passes bytes as is with a finding") {
  auto ctx = unpack_message("Content-Transfer-Encoding: x-weird\n\nraw bytes\n");
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].bytes == "raw bytes\n");
  CHECK(ctx->children[0].has_finding("mime.unknown_encoding"));
}

TEST_CASE("multipart/digest parts default to message/rfc822") {
  auto ctx = unpack_message(
      "Content-Type: multipart/digest; boundary=d\n\n--d\n\nSubject: one\n\nbody\n--d--\n");
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].info.declared_mime == "message/rfc822");
  CHECK(ctx->children[0].bytes == "Subject: one\n\nbody");
}

TEST_CASE("a multipart whose boundary never appears still shows its content") {
  auto ctx = unpack_message(
      "Content-Type: multipart/mixed; boundary=nothere\n\n<script>evil()</script>\n");
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].bytes.find("evil()") != std::string::npos);
  CHECK(ctx->has_finding("mime.malformed"));
}

TEST_CASE("headers: folding, duplicates, and a body without the blank line") {
  SUBCASE("folded Content-Type") {
    auto ctx = unpack_message(
        "Content-Type: multipart/mixed;\n boundary=\"fold\"\n\n--fold\n\nx\n--fold--\n");
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == "x");
  }
  SUBCASE("duplicate Content-Type: first wins, with a finding") {
    auto ctx = unpack_message(
        "Content-Type: text/plain\nContent-Type: multipart/mixed; boundary=q\n\n--q\n\nx\n");
    CHECK(ctx->has_finding("mime.duplicate_header"));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].info.declared_mime == "text/plain");
  }
  SUBCASE("boundary given twice: the first wins, with a finding") {
    auto ctx = unpack_message(
        "Content-Type: multipart/mixed; boundary=B; boundary=A\n\n--A\n\nx\n--A--\n");
    CHECK(ctx->has_finding("mime.duplicate_parameter"));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].info.declared_mime == "multipart/mixed");  // its preamble, unsplit
    auto same = unpack_message(
        "Content-Type: multipart/mixed; boundary=A; boundary=\"A\"\n\n--A\n\nx\n--A--\n");
    CHECK_FALSE(same->has_finding("mime.duplicate_parameter"));
  }
  SUBCASE("filename given twice in a part") {
    auto ctx = unpack_message(
        "Content-Type: multipart/mixed; boundary=A\n\n--A\nContent-Disposition: attachment; "
        "filename=cv.pdf; filename=cv.exe\n\nx\n--A--\n");
    CHECK(ctx->has_finding("mime.duplicate_parameter"));
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].info.name == "cv.pdf");
  }
  SUBCASE("part without headers or blank line") {
    auto ctx = unpack_message(
        "Content-Type: multipart/mixed; boundary=q\n\n--q\nno headers here\n--q--\n");
    REQUIRE(ctx->children.size() == 1);
    CHECK(ctx->children[0].bytes == "no headers here");
    CHECK(ctx->has_finding("mime.malformed"));
  }
}

TEST_CASE("large epilogue is reported as hidden data") {
  std::string msg = "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n" +
                    std::string(10000, 'Z') + "\n";
  auto ctx = unpack_message(msg);
  CHECK(ctx->has_finding("mime.hidden_data"));
  auto quiet =
      unpack_message("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\nbye\n");
  CHECK_FALSE(quiet->has_finding("mime.hidden_data"));
}

TEST_CASE("registered for the eml label") { CHECK(UnpackerRegistry::instance().handles("eml")); }

TEST_CASE("a child stopped by its size limit does not stop the other parts") {
  std::string big(100000, 'x');
  std::string msg =
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n"
      "Content-Transfer-Encoding: base64\n\n" +
      base64_encode(big) + "--b\nContent-Transfer-Encoding: base64\n\naGk=\n--b--\n";
  auto ctx = std::make_unique<RecordingContext>();
  ctx->max_child_bytes = 1000;
  Object obj;
  obj.bytes = memory_source(msg);
  MimeUnpacker().unpack(obj, *ctx);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].bytes.size() <= 1000);
  CHECK(ctx->children[1].bytes == "hi");
  check_all_finished(*ctx);
}

TEST_CASE("should_stop ends the unpacker at once") {
  auto ctx = std::make_unique<RecordingContext>();
  ctx->stopped = true;
  Object obj;
  obj.bytes = memory_source("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n--b--\n");
  MimeUnpacker().unpack(obj, *ctx);
  CHECK(ctx->children.empty());
}

TEST_CASE("too many header lines: the rest is read as body") {
  std::string msg;
  for (int i = 0; i < 20; ++i) msg += "X-Filler: " + std::to_string(i) + "\n";
  msg += "\nbody\n";
  MimeOptions opt;
  opt.max_header_lines = 10;
  auto ctx = unpack_message(msg, opt);
  CHECK(ctx->has_finding("mime.header_limit"));
  REQUIRE(ctx->children.size() == 1);
  CHECK(ctx->children[0].bytes.find("X-Filler: 10") == 0);
  CHECK(ctx->children[0].bytes.find("body") != std::string::npos);
}

TEST_CASE("uuencoded file without an end line is still emitted, with a finding") {
  std::string uu = uuencode("truncated payload", "t.bin");
  uu.resize(uu.find("`\nend"));
  auto ctx = unpack_message("Subject: x\n\n" + uu);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[1].info.name == "t.bin");
  CHECK(ctx->children[1].bytes == "truncated payload");
  CHECK(ctx->children[1].has_finding("mime.bad_encoding"));
}

TEST_CASE("a boundary inside quoted-printable and base64 parts of a nested multipart") {
  // The inner boundary's close line also ends the base64 part; the outer
  // part after it is read normally.
  std::string msg = crlf(
      "Content-Type: multipart/mixed; boundary=\"o\"\n\n--o\n"
      "Content-Type: multipart/related; boundary=\"o-inner\"\n\n--o-inner\n"
      "Content-Transfer-Encoding: base64\n\naGVsbG8=\n--o-inner--\n--o\n"
      "Content-Transfer-Encoding: quoted-printable\n\nx=3Dy\n--o--\n");
  auto ctx = unpack_message(msg);
  REQUIRE(ctx->children.size() == 2);
  CHECK(ctx->children[0].info.name == "part1.1");
  CHECK(ctx->children[0].bytes == "hello");
  CHECK(ctx->children[1].info.name == "part2");
  CHECK(ctx->children[1].bytes == "x=y");
  CHECK(ctx->findings.empty());
}
