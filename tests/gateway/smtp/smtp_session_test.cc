// SmtpSession: pipelining, every error reply, the end-of-data rule against
// SMTP smuggling, dot-unstuffing and the limits.
#include "gateway/smtp/smtp_session.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <stdexcept>

#include "gateway/smtp/smtp_relay.h"
#include "tests/gateway/smtp/smtp_test_util.h"

using namespace sandgate::smtp;
using sandgate::smtp::testing::RecordingHandler;
using sandgate::smtp::testing::TempDir;

namespace {

struct Fixture {
  TempDir dir;
  RecordingHandler handler;
  SessionLimits limits;
  std::unique_ptr<SmtpSession> session;
  Fixture() {
    limits.hostname = "mx.test";
    limits.spool_dir = dir.path.string();
  }
  SmtpSession& s() {
    if (!session) session = std::make_unique<SmtpSession>(limits, handler, "127.0.0.9");
    return *session;
  }
  std::string send(std::string_view in) {
    std::string out;
    s().feed(in, out);
    return out;
  }
  // Feeds one byte at a time (the worst split a TCP stream can produce).
  std::string send_bytewise(std::string_view in) {
    std::string out;
    for (char c : in) s().feed(std::string_view(&c, 1), out);
    return out;
  }
  // The status codes of the replies in `out` (last line of each reply).
  static std::vector<int> codes(const std::string& out) {
    std::vector<int> c;
    size_t pos = 0;
    while (pos < out.size()) {
      size_t eol = out.find("\r\n", pos);
      REQUIRE(eol != std::string::npos);
      std::string line = out.substr(pos, eol - pos);
      if (line.size() >= 4 && line[3] == ' ') c.push_back(std::stoi(line.substr(0, 3)));
      if (line.size() == 3) c.push_back(std::stoi(line));
      pos = eol + 2;
    }
    return c;
  }
  std::string begin_data() {
    return send("EHLO client.test\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  }
};

const std::string kMsg = "Subject: hello\r\nFrom: a@x.test\r\n\r\nbody line\r\n";

}  // namespace

TEST_CASE("greeting and EHLO advertise the extensions") {
  Fixture f;
  CHECK(f.s().greeting() == "220 mx.test ESMTP Sandgate\r\n");
  std::string out = f.send("EHLO client.test\r\n");
  CHECK(out.find("250-mx.test\r\n") == 0);
  for (const char* ext :
       {"PIPELINING", "SIZE 52428800", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "XFORWARD"})
    CHECK_MESSAGE(out.find(std::string("250-") + ext) != std::string::npos, ext);
  CHECK(out.find("250 DSN\r\n") != std::string::npos);
  CHECK(f.send("HELO client.test\r\n") == "250 mx.test\r\n");
}

TEST_CASE(
    "a pipelined transaction in one packet gives all replies in order and the unstuffed message") {
  Fixture f;
  std::string out = f.send(
      "EHLO c\r\nMAIL FROM:<a@x.test> SIZE=100 BODY=8BITMIME\r\nRCPT TO:<b@y.test>\r\n"
      "RCPT TO:<c@y.test> NOTIFY=NEVER\r\nDATA\r\n" +
      kMsg +
      "..starts with a dot\r\n.\r\n"
      "MAIL FROM:<>\r\nRCPT TO:<d@y.test>\r\nDATA\r\n.\r\nQUIT\r\n");
  CHECK(Fixture::codes(out) ==
        std::vector<int>{250, 250, 250, 250, 354, 250, 250, 250, 354, 250, 221});
  REQUIRE(f.handler.messages.size() == 2);
  const auto& m = f.handler.messages[0];
  CHECK(m.content == kMsg + ".starts with a dot\r\n");
  CHECK(m.size == m.content.size());
  CHECK(m.envelope.sender == "a@x.test");
  CHECK(m.envelope.declared_size == 100);
  CHECK(m.envelope.body == "8BITMIME");
  REQUIRE(m.envelope.recipients.size() == 2);
  CHECK(m.envelope.recipients[1].address == "c@y.test");
  CHECK(m.envelope.recipients[1].params == std::vector<std::string>{"NOTIFY=NEVER"});
  CHECK(m.envelope.client_address == "127.0.0.9");
  // The second message: null sender, empty body.
  CHECK(f.handler.messages[1].envelope.sender == "");
  CHECK(f.handler.messages[1].content == "");
  CHECK(f.s().closed());
  // The spool files are gone after delivery.
  CHECK_FALSE(std::filesystem::exists(m.spool_path));
}

TEST_CASE("feeding one byte at a time gives the same result") {
  Fixture f;
  std::string out =
      f.send_bytewise("EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n" + kMsg +
                      "..x\r\n.\r\nQUIT\r\n");
  CHECK(Fixture::codes(out) == std::vector<int>{250, 250, 250, 354, 250, 221});
  REQUIRE(f.handler.messages.size() == 1);
  CHECK(f.handler.messages[0].content == kMsg + ".x\r\n");
}

TEST_CASE("the DATA reply is the handler's answer, multi-line included") {
  Fixture f;
  f.handler.answer = Reply{550, "5.7.1 rejected\n5.7.1 second line"};
  f.begin_data();
  CHECK(f.send(kMsg + ".\r\n") == "550-5.7.1 rejected\r\n550 5.7.1 second line\r\n");
  f.handler.answer_fn = []() -> Reply { throw std::runtime_error("boom"); };
  f.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  CHECK(f.send(kMsg + ".\r\n").rfind("451 4.3.0", 0) == 0);
  f.handler.answer_fn = nullptr;
  f.handler.answer = Reply{421, "4.3.0 going away", true};
  f.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  CHECK(f.send(kMsg + ".\r\n") == "421 4.3.0 going away\r\n");
  CHECK(f.s().closed());
}

TEST_CASE("every sequence error has its reply") {
  Fixture f;
  CHECK(f.send("MAIL FROM:<a@x.test>\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK(f.send("RCPT TO:<a@x.test>\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK(f.send("DATA\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK(f.send("EHLO\r\n").rfind("501 5.5.4", 0) == 0);
  f.send("EHLO c\r\n");
  CHECK(f.send("RCPT TO:<a@x.test>\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test>\r\n").rfind("250 2.1.0", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test>\r\n").rfind("503 5.5.1 Error: nested", 0) == 0);
  CHECK(f.send("DATA\r\n").rfind("554 5.5.1", 0) == 0);
  CHECK(f.send("XFORWARD ADDR=1.2.3.4\r\n").rfind("503 5.5.1", 0) == 0);
  CHECK(f.send("RSET\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(f.send("RCPT TO:<a@x.test>\r\n").rfind("503 5.5.1", 0) == 0);  // RSET ended the transaction
  CHECK(f.send("NOOP\r\n") == "250 2.0.0 Ok\r\n");
  CHECK(f.send("RSET x\r\n").rfind("501", 0) == 0);
  CHECK(f.send("DATA x\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(f.send("FOO\r\n").rfind("500 5.5.2", 0) == 0);
  CHECK(f.send("BDAT 10 LAST\r\n").rfind("502", 0) == 0);
  CHECK(f.send("STARTTLS\r\n").rfind("502", 0) == 0);
  CHECK(f.send("VRFY a\r\n").rfind("252", 0) == 0);
  CHECK(f.send("QUIT\r\n") == "221 2.0.0 Bye\r\n");
  CHECK(f.s().closed());
  CHECK(f.handler.messages.empty());
}

TEST_CASE("MAIL and RCPT syntax and parameters") {
  Fixture f;
  f.send("EHLO c\r\n");
  CHECK(f.send("MAIL FROM:a@x.test\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(f.send("MAIL TO:<a@x.test>\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test> FOO=1\r\n").rfind("555 5.5.4", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test> BODY=BINARYMIME\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test> SIZE=abc\r\n").rfind("501 5.5.4", 0) == 0);
  CHECK(f.send("MAIL FROM:<a@x.test> SIZE=52428801\r\n").rfind("552 5.3.4", 0) == 0);
  CHECK(f.send("MAIL FROM:<" + std::string(300, 'a') + "@x.test>\r\n").rfind("501 5.1.7", 0) == 0);
  CHECK(f.send("MAIL FROM:<\xc3\xa9@x.test>\r\n").rfind("553 5.6.7", 0) == 0);
  CHECK(f.send("MAIL FROM:<\xc3\xa9@x.test> SMTPUTF8\r\n").rfind("250", 0) == 0);
  CHECK(f.send("RCPT TO:<>\r\n").rfind("501 5.1.3", 0) == 0);
  CHECK(f.send("RCPT TO:<b@y.test> FOO=bar\r\n").rfind("555", 0) == 0);
  CHECK(f.send("RCPT TO:<@relay.test:b@y.test> ORCPT=rfc822;b@y.test\r\n").rfind("250 2.1.5", 0) ==
        0);
  CHECK(f.send("RCPT TO:<\"quoted >\"@y.test>\r\n").rfind("250 2.1.5", 0) == 0);
  f.send("DATA\r\n");
  f.send(".\r\n");
  REQUIRE(f.handler.messages.size() == 1);
  auto& r = f.handler.messages[0].envelope.recipients;
  REQUIRE(r.size() == 2);
  CHECK(r[0].address == "b@y.test");  // the source route is dropped
  CHECK(r[1].address == "\"quoted >\"@y.test");
  CHECK(f.handler.messages[0].envelope.smtputf8);
  // HELO (not EHLO) sessions take no ESMTP parameters.
  f.send("HELO c\r\n");
  CHECK(f.send("MAIL FROM:<a@x.test> SIZE=10\r\n").rfind("555", 0) == 0);
}

TEST_CASE("command line limits and bare newlines in commands") {
  Fixture f;
  f.send("EHLO c\r\n");
  CHECK(
      f.send("NOOP " + std::string(600, 'x') + "\r\n").rfind("500 5.5.2 Error: line too long", 0) ==
      0);
  CHECK(f.send("NOOP\r\n") == "250 2.0.0 Ok\r\n");             // the session goes on in step
  CHECK(f.send("NOOP\nNOOP\r\n").rfind("500 5.5.2", 0) == 0);  // bare LF: not two commands
  CHECK(f.send("NOOP\rQUIT\r\n").rfind("500 5.5.2", 0) == 0);
  CHECK_FALSE(f.s().closed());
  // Exactly at the limit (510 + CRLF = 512) is accepted.
  CHECK(f.send("NOOP " + std::string(505, 'x') + "\r\n") == "250 2.0.0 Ok\r\n");
}

TEST_CASE("too many errors closes with 421") {
  Fixture f;
  f.limits.max_errors = 3;
  std::string out = f.send("X\r\nY\r\nZ\r\nNOOP\r\n");
  CHECK(Fixture::codes(out) == std::vector<int>{500, 500, 500, 421});
  CHECK(f.s().closed());
}

TEST_CASE("recipient limit answers 452 and keeps the accepted ones") {
  Fixture f;
  f.limits.max_recipients = 2;
  std::string out = f.send(
      "EHLO c\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<1@y>\r\nRCPT TO:<2@y>\r\nRCPT TO:<3@y>\r\n"
      "DATA\r\n.\r\n");
  CHECK(Fixture::codes(out) == std::vector<int>{250, 250, 250, 250, 452, 354, 250});
  REQUIRE(f.handler.messages.size() == 1);
  CHECK(f.handler.messages[0].envelope.recipients.size() == 2);
}

TEST_CASE("the message size limit is enforced while streaming") {
  Fixture f;
  f.limits.max_message_bytes = 1000;
  f.begin_data();
  std::string big;
  for (int i = 0; i < 100; ++i) big += std::string(50, 'a') + "\r\n";
  std::string out = f.send(big);
  CHECK(out.empty());
  // The spool never grows past the limit plus one buffer.
  out = f.send(".\r\n");
  CHECK(out.rfind("552 5.3.4", 0) == 0);
  CHECK(f.handler.messages.empty());
  // The session goes on: a small message passes.
  CHECK(Fixture::codes(
            f.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\nsmall\r\n.\r\n")) ==
        std::vector<int>{250, 250, 354, 250});
  CHECK(f.handler.messages.size() == 1);
}

TEST_CASE("a data line over the limit refuses the message cleanly") {
  Fixture f;
  f.limits.max_data_line = 100;
  f.begin_data();
  CHECK(f.send(std::string(99, 'a') + "\r\n.\r\n").rfind("500 5.5.2", 0) == 0);
  f.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  CHECK(f.send(std::string(98, 'a') + "\r\n.\r\n").rfind("250", 0) == 0);
  CHECK(f.handler.messages.size() == 1);
}

// The 2023 SMTP smuggling class: a second message hidden behind an
// end-of-data that some other MTA would accept.
TEST_CASE("bare LF / bare CR around a dot never end the data (normalised)") {
  const char* smuggles[] = {"\n.\n",   "\n.\r\n", "\r\n.\n", "\r.\r",
                            "\r\n.\r", "\r.\r\n", "\n.\r",   "\r\n.\rX"};
  for (const char* seq : smuggles) {
    CAPTURE(std::string(seq));
    Fixture f;
    f.begin_data();
    std::string payload =
        "Subject: a\r\n\r\nfirst" + std::string(seq) +
        "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@y.test>\r\nDATA\r\nSubject: smuggled\r\n";
    std::string out = f.send(payload);
    CHECK(out.empty());  // nothing was interpreted as a command
    CHECK(f.handler.messages.empty());
    out = f.send("\r\n.\r\n");
    CHECK(Fixture::codes(out) == std::vector<int>{250});
    REQUIRE(f.handler.messages.size() == 1);
    const std::string& c = f.handler.messages[0].content;
    CHECK(c.find("MAIL FROM:<evil@x.test>") != std::string::npos);
    // Normalised: every line of the spooled message ends in CRLF.
    for (size_t i = 0; i < c.size(); ++i) {
      if (c[i] == '\n') CHECK((i > 0 && c[i - 1] == '\r'));
      if (c[i] == '\r') CHECK((i + 1 < c.size() && c[i + 1] == '\n'));
    }
  }
}

TEST_CASE("bare newlines make the message refused when reject_bare_newlines is set") {
  for (const char* seq : {"\n.\n", "\r.\r", "x\ny"}) {
    Fixture f;
    f.limits.reject_bare_newlines = true;
    f.begin_data();
    std::string out = f.send("Subject: a\r\n\r\n" + std::string(seq) + "\r\n.\r\n");
    CHECK(out.rfind("550 5.5.2", 0) == 0);
    CHECK(f.handler.messages.empty());
    CHECK_FALSE(f.s().closed());
  }
  Fixture clean;
  clean.limits.reject_bare_newlines = true;
  clean.begin_data();
  CHECK(clean.send(kMsg + ".\r\n").rfind("250", 0) == 0);
}

TEST_CASE("end of data split across packets at every position") {
  std::string data = kMsg + "..a\r\n.\r\n";
  for (size_t cut = 0; cut <= data.size(); ++cut) {
    Fixture f;
    f.begin_data();
    std::string out = f.send(data.substr(0, cut));
    out += f.send(data.substr(cut));
    CHECK(out.rfind("250", 0) == 0);
    REQUIRE(f.handler.messages.size() == 1);
    CHECK(f.handler.messages[0].content == kMsg + ".a\r\n");
  }
}

TEST_CASE("XFORWARD sets the original client for one transaction") {
  Fixture f;
  f.send("EHLO c\r\n");
  CHECK(f.send("XFORWARD NAME=mail.example ADDR=IPV6:2001:db8::1 HELO=[UNAVAILABLE]\r\n") ==
        "250 2.0.0 Ok\r\n");
  CHECK(f.send("XFORWARD FOO=1\r\n").rfind("501", 0) == 0);
  CHECK(f.send("XFORWARD PROTO=ESMTP SOURCE=REMOTE IDENT=ab+2Bcd\r\n") == "250 2.0.0 Ok\r\n");
  f.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.\r\n");
  f.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n.\r\n");
  REQUIRE(f.handler.messages.size() == 2);
  const auto& e = f.handler.messages[0].envelope;
  CHECK(e.xforward.name == "mail.example");
  CHECK(e.xforward.addr == "2001:db8::1");
  CHECK(e.xforward.helo == "");
  CHECK(e.xforward.ident == "ab+cd");
  CHECK(e.original_client() == "2001:db8::1");
  CHECK(f.handler.messages[1].envelope.original_client() == "127.0.0.9");
}

TEST_CASE("dot stuffing on relay is the inverse of unstuffing") {
  bool bol = true, cr = false;
  std::string out;
  dot_stuff(".a\r\nb\r\n.\r\n..\r\n", bol, cr, out);
  CHECK(out == "..a\r\nb\r\n..\r\n...\r\n");
  // Across chunk boundaries, and bare LF/CR are normalised.
  out.clear();
  bol = true;
  dot_stuff("x\r", bol, cr, out);
  dot_stuff("\n.", bol, cr, out);
  dot_stuff("y\n.z\r.w", bol, cr, out);
  CHECK(out == "x\r\n..y\r\n..z\r\n..w");
}

TEST_CASE("header rewrite adds fields and prefixes the Subject") {
  MessageRewrite rw;
  rw.add_headers = {"X-Sandgate-Verdict: pass"};
  rw.subject_prefix = "[SPAM?] ";
  CHECK(rewrite_header_section("From: a\r\nsubject:  hi\r\n\r\n", rw) ==
        "X-Sandgate-Verdict: pass\r\nFrom: a\r\nSubject: [SPAM?] hi\r\n\r\n");
  CHECK(rewrite_header_section("From: a\r\n\r\n", rw) ==
        "X-Sandgate-Verdict: pass\r\nFrom: a\r\nSubject: [SPAM?] \r\n\r\n");
  rw.subject_prefix.clear();
  CHECK(rewrite_header_section("From: a\r\n\r\n", rw) ==
        "X-Sandgate-Verdict: pass\r\nFrom: a\r\n\r\n");
}
