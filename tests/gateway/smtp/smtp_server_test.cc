// SmtpServer over real loopback sockets: the connection limit (421), the
// command timeout, and SmtpRelay delivering through a second server.
#include "gateway/smtp/smtp_server.h"

#include <Poco/Net/SocketAddress.h>
#include <Poco/Net/StreamSocket.h>
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "gateway/smtp/content_filter.h"
#include "tests/gateway/smtp/smtp_test_util.h"

using namespace sandgate;
using namespace sandgate::smtp;
using sandgate::smtp::testing::RecordingHandler;
using sandgate::smtp::testing::TempDir;

namespace {

struct Client {
  Poco::Net::StreamSocket s;
  explicit Client(uint16_t port) {
    s.connect(Poco::Net::SocketAddress("127.0.0.1", port), Poco::Timespan(5, 0));
    s.setReceiveTimeout(Poco::Timespan(10, 0));
  }
  // Reads one complete reply (through the line "NNN ").
  std::string reply() {
    std::string all;
    char c;
    std::string line;
    for (int guard = 0; guard < 100000; ++guard) {
      int n = s.receiveBytes(&c, 1);
      if (n <= 0) return all;
      all += c;
      line += c;
      if (c == '\n') {
        if (line.size() >= 4 && line[3] == ' ') return all;
        line.clear();
      }
    }
    return all;
  }
  void send(const std::string& d) { s.sendBytes(d.data(), static_cast<int>(d.size())); }
};

ServerOptions options(const TempDir& dir) {
  ServerOptions o;
  o.host = "127.0.0.1";
  o.port = 0;
  o.limits.spool_dir = dir.path.string();
  return o;
}

}  // namespace

TEST_CASE("over the connection limit a client gets 421 and the others go on") {
  TempDir dir;
  RecordingHandler h;
  ServerOptions o = options(dir);
  o.max_connections = 1;
  // The session events behind the metrics (sessions_total, refused_total, active).
  std::atomic<int> opened{0}, refused{0}, closed{0};
  o.on_session = [&](SessionEvent e) {
    (e == SessionEvent::opened ? opened : e == SessionEvent::refused ? refused : closed)++;
  };
  SmtpServer server(o, h);
  std::string error;
  REQUIRE(server.start(&error));
  Client a(server.port());
  CHECK(a.reply().rfind("220 ", 0) == 0);
  Client b(server.port());
  CHECK(b.reply().rfind("421 4.3.2", 0) == 0);
  CHECK(refused.load() == 1);  // told before the 421 is sent
  CHECK(opened.load() == 2);   // accepted connections, the refused one included
  a.send("NOOP\r\n");
  CHECK(a.reply() == "250 2.0.0 Ok\r\n");
  a.send("QUIT\r\n");
  CHECK(a.reply() == "221 2.0.0 Bye\r\n");
  server.stop(std::chrono::seconds(2));
  CHECK(opened.load() == 2);
  CHECK(refused.load() == 1);
  CHECK(closed.load() == 2);  // so sessions_active is back at 0
}

TEST_CASE("an idle client is cut with 421 after the command timeout") {
  TempDir dir;
  RecordingHandler h;
  ServerOptions o = options(dir);
  o.command_timeout_s = 1;
  SmtpServer server(o, h);
  std::string error;
  REQUIRE(server.start(&error));
  Client a(server.port());
  a.reply();
  auto t0 = std::chrono::steady_clock::now();
  std::string r = a.reply();
  double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK(r.rfind("421 4.3.2", 0) == 0);
  CHECK(r.find("timeout") != std::string::npos);
  CHECK(waited >= 0.9);
  CHECK(waited < 5);
  server.stop(std::chrono::seconds(1));
}

TEST_CASE("relay: a filtered message reaches the next hop dot-stuffed, with headers and envelope") {
  TempDir dir;
  RecordingHandler sink;
  sink.answer = Reply{250, "2.0.0 Ok: queued as SINK1"};
  SmtpServer next_hop(options(dir), sink);
  std::string error;
  REQUIRE(next_hop.start(&error));

  RelayTarget t;
  t.port = next_hop.port();
  SmtpRelay relay(t);
  ScanFunction scan = [](const Submission&) {
    Report r;
    r.id = "id-1";
    r.decision.action = Action::tag;
    return r;
  };
  ContentFilter filter(scan, relay, nullptr, FilterOptions{});
  SmtpServer front(options(dir), filter);
  REQUIRE(front.start(&error));

  Client c(front.port());
  c.reply();
  c.send(
      "EHLO c\r\nMAIL FROM:<a@x.test> BODY=8BITMIME SIZE=40\r\nRCPT TO:<b@y.test> "
      "NOTIFY=NEVER\r\nDATA\r\n");
  for (int i = 0; i < 4; ++i) c.reply();
  c.send("Subject: hi\r\n\r\n..dot\r\n.\r\n");
  std::string r = c.reply();
  CHECK(r == "250 2.0.0 Ok: queued as SINK1\r\n");
  REQUIRE(sink.messages.size() == 1);
  const auto& m = sink.messages[0];
  CHECK(m.content.rfind("X-Sandgate-Verdict: pass (action=tag)\r\nX-Sandgate-Report: id=id-1", 0) ==
        0);
  CHECK(m.content.find("Subject: [SUSPICIOUS] hi\r\n\r\n.dot\r\n") != std::string::npos);
  CHECK(m.envelope.sender == "a@x.test");
  CHECK(m.envelope.body == "8BITMIME");
  CHECK(m.envelope.declared_size > 40);  // recomputed with the added headers
  REQUIRE(m.envelope.recipients.size() == 1);
  CHECK(m.envelope.recipients[0].params == std::vector<std::string>{"NOTIFY=NEVER"});

  // The next hop refuses: its answer reaches the client.
  sink.answer = Reply{554, "5.7.1 refused by next hop"};
  c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  for (int i = 0; i < 3; ++i) c.reply();
  c.send("x\r\n.\r\n");
  CHECK(c.reply() == "554 5.7.1 refused by next hop\r\n");

  // The next hop is down: 451, never 250.
  next_hop.stop(std::chrono::seconds(1));
  c.send("MAIL FROM:<a@x.test>\r\nRCPT TO:<b@y.test>\r\nDATA\r\n");
  for (int i = 0; i < 3; ++i) c.reply();
  c.send("x\r\n.\r\n");
  CHECK(c.reply().rfind("451 4.4.2", 0) == 0);
  c.send("QUIT\r\n");
  c.reply();
  front.stop(std::chrono::seconds(1));
}
