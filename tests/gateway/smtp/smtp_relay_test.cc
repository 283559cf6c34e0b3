// SmtpRelay's connection reuse against a real SmtpServer on loopback as the
// next hop: messages share one connection; with reuse off each opens its
// own; a kept connection the next hop closed meanwhile (its idle timeout)
// is noticed at MAIL and the message goes once over a fresh connection,
// never twice and never lost.
#include "gateway/smtp/smtp_relay.h"

#include <doctest/doctest.h>

#include <fstream>
#include <random>
#include <thread>

#include "gateway/smtp/smtp_server.h"
#include "tests/gateway/smtp/smtp_test_util.h"

using namespace sandgate::smtp;
using sandgate::smtp::testing::RecordingHandler;
using sandgate::smtp::testing::TempDir;

namespace {

struct NextHop {
  TempDir dir;
  RecordingHandler sink;
  std::unique_ptr<SmtpServer> server;
  explicit NextHop(double command_timeout_s = 300, bool xforward = true) {
    ServerOptions o;
    o.port = 0;
    o.limits.spool_dir = dir.path.string();
    o.limits.xforward = xforward;
    o.command_timeout_s = command_timeout_s;
    server = std::make_unique<SmtpServer>(o, sink);
    std::string error;
    REQUIRE(server->start(&error));
  }
  ~NextHop() { server->stop(std::chrono::seconds(1)); }
};

std::string spool(const TempDir& dir, const std::string& name, const std::string& body) {
  std::string p = (dir.path / name).string();
  std::ofstream(p, std::ios::binary) << "Subject: " << name << "\r\n\r\n" << body << "\r\n";
  return p;
}

Envelope envelope() {
  Envelope e;
  e.sender = "a@x.test";
  e.recipients.push_back({"b@y.test", {}});
  return e;
}

}  // namespace

TEST_CASE("relay: consecutive messages share one next-hop connection") {
  NextHop hop;
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  SmtpRelay relay(t);
  for (int i = 0; i < 3; ++i) {
    RelayResult r = relay.send(envelope(), spool(dir, "m" + std::to_string(i), "hello"), {});
    CHECK(r.delivered);
    CHECK(r.reply.code == 250);
  }
  CHECK(relay.connections_opened() == 1);
  CHECK(relay.idle_connections() == 1);
  REQUIRE(hop.sink.messages.size() == 3);
  CHECK(hop.sink.messages[2].content.find("Subject: m2") != std::string::npos);
}

TEST_CASE("relay: with reuse off every message opens its own connection") {
  NextHop hop;
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  t.max_idle_connections = 0;
  SmtpRelay relay(t);
  for (int i = 0; i < 3; ++i) CHECK(relay.send(envelope(), spool(dir, "m", "x"), {}).delivered);
  CHECK(relay.connections_opened() == 3);
  CHECK(relay.idle_connections() == 0);
}

TEST_CASE("relay: a connection is replaced after max_messages_per_connection") {
  NextHop hop;
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  t.max_messages_per_connection = 2;
  SmtpRelay relay(t);
  for (int i = 0; i < 5; ++i) CHECK(relay.send(envelope(), spool(dir, "m", "x"), {}).delivered);
  CHECK(relay.connections_opened() == 3);
  CHECK(hop.sink.messages.size() == 5);
}

TEST_CASE("relay: a kept connection the next hop closed is replaced, the message sent once") {
  NextHop hop(/*command_timeout_s=*/1);
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  SmtpRelay relay(t);
  CHECK(relay.send(envelope(), spool(dir, "first", "x"), {}).delivered);
  // The next hop's idle timeout passes: it says 421 and closes.
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));
  RelayResult r = relay.send(envelope(), spool(dir, "second", "y"), {});
  CHECK(r.delivered);
  CHECK(r.reply.code == 250);
  CHECK(relay.connections_opened() == 2);
  REQUIRE(hop.sink.messages.size() == 2);
  CHECK(hop.sink.messages[1].content.find("Subject: second") != std::string::npos);
}

TEST_CASE("relay: the next hop's refusal of a recipient leaves the connection usable") {
  NextHop hop;
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  SmtpRelay relay(t);
  Envelope bad = envelope();
  bad.recipients[0].address = std::string(300, 'r') + "@y.test";  // over the path limit: 5xx
  RelayResult r = relay.send(bad, spool(dir, "bad", "x"), {});
  CHECK_FALSE(r.delivered);
  CHECK(r.reply.code / 100 == 5);
  CHECK(relay.send(envelope(), spool(dir, "good", "y"), {}).delivered);
  CHECK(relay.connections_opened() == 1);
  REQUIRE(hop.sink.messages.size() == 1);
  CHECK(hop.sink.messages[0].content.find("Subject: good") != std::string::npos);
}

namespace {

// The rules of dot_stuff written one character at a time (the original
// implementation), as the oracle for the run-copying one.
void reference_dot_stuff(std::string_view in, bool& bol, bool& cr, std::string& out) {
  for (char c : in) {
    if (cr && c != '\n') {  // a bare CR is completed to CRLF
      out += '\n';
      bol = true;
    }
    if (c == '\n' && !cr) {  // a bare LF becomes CRLF
      out += "\r\n";
      bol = true;
      cr = false;
      continue;
    }
    if (bol && c == '.') out += '.';
    bol = false;
    out += c;
    cr = c == '\r';
    if (c == '\n') bol = true;
  }
}

}  // namespace

TEST_CASE("relay: XFORWARD tells a next hop that offers it about the original client, per message") {
  NextHop hop;
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  SmtpRelay relay(t);
  // What the MTA in front of us forwarded is passed on as it came.
  Envelope forwarded = envelope();
  forwarded.client_address = "127.0.0.1";
  forwarded.xforward.name = "mail.example.org";
  forwarded.xforward.addr = "2001:db8::7";
  forwarded.xforward.proto = "ESMTP";
  forwarded.xforward.helo = "mail.example.org";
  forwarded.xforward.source = "REMOTE";
  REQUIRE(relay.send(forwarded, spool(dir, "xf1", "one"), {}).delivered);
  // Without it, our own peer; NAME unknown (no reverse lookup here).
  Envelope direct = envelope();
  direct.client_address = "192.0.2.9";
  direct.helo = "client with space+plus";
  direct.esmtp = true;
  REQUIRE(relay.send(direct, spool(dir, "xf2", "two"), {}).delivered);
  CHECK(relay.connections_opened() == 1);  // one connection, attributes sent per message
  REQUIRE(hop.sink.messages.size() == 2);
  const XForward& a = hop.sink.messages[0].envelope.xforward;
  CHECK(a.name == "mail.example.org");
  CHECK(a.addr == "2001:db8::7");
  CHECK(a.proto == "ESMTP");
  CHECK(a.helo == "mail.example.org");
  CHECK(a.source == "REMOTE");
  CHECK(hop.sink.messages[0].envelope.original_client() == "2001:db8::7");
  const XForward& b = hop.sink.messages[1].envelope.xforward;
  CHECK(b.addr == "192.0.2.9");
  CHECK(b.name.empty());
  CHECK(b.helo == "client with space+plus");  // xtext on the wire, decoded by the next hop
  CHECK(b.proto == "ESMTP");
}

TEST_CASE("relay: a next hop without XFORWARD gets none, and the message all the same") {
  NextHop hop(300, /*xforward=*/false);
  TempDir dir;
  RelayTarget t;
  t.port = hop.server->port();
  SmtpRelay relay(t);
  Envelope e = envelope();
  e.xforward.addr = "198.51.100.1";
  RelayResult r = relay.send(e, spool(dir, "noxf", "body"), {});
  CHECK(r.delivered);
  REQUIRE(hop.sink.messages.size() == 1);
  CHECK(hop.sink.messages[0].envelope.xforward.addr.empty());
}

TEST_CASE("dot_stuff: leading dots doubled, bare CR/LF made CRLF, across chunk boundaries") {
  bool bol = true, cr = false;
  std::string out;
  dot_stuff(".a\r\n..b\nc\rd\r", bol, cr, out);
  dot_stuff("\n.e", bol, cr, out);
  CHECK(out == "..a\r\n...b\r\nc\r\nd\r\n..e");
  // Random texts over the characters that matter, split at random points.
  std::mt19937 rng(7);
  const char alphabet[] = "ab.\r\n";
  for (int t = 0; t < 20000; ++t) {
    std::string s;
    int len = static_cast<int>(rng() % 48);
    for (int k = 0; k < len; ++k) s += alphabet[rng() % 5];
    size_t cut = rng() % (s.size() + 1);
    bool b1 = rng() & 1, c1 = rng() & 1, b2 = b1, c2 = c1;
    std::string o1, o2;
    dot_stuff(std::string_view(s).substr(0, cut), b1, c1, o1);
    dot_stuff(std::string_view(s).substr(cut), b1, c1, o1);
    reference_dot_stuff(std::string_view(s).substr(0, cut), b2, c2, o2);
    reference_dot_stuff(std::string_view(s).substr(cut), b2, c2, o2);
    REQUIRE(o1 == o2);
    REQUIRE(b1 == b2);
    REQUIRE(c1 == c2);
  }
}
