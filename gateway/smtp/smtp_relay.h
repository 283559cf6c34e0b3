// Our SMTP client to the next hop (RFC 5321): sends one spooled message with
// its envelope, dot-stuffed (RFC 5321 4.5.2), with extra header lines
// prepended and an optional Subject prefix, and returns the next hop's own
// answer to the end of data.
//
// Connections to the next hop are kept and reused (RSET between messages),
// as Postfix's own SMTP client does.
//
// Guarantees: delivered is true only when the next hop answered 2xx to the
// end of data; every network error or timeout is a temporary failure
// (4xx), so the caller tempfails and the sender keeps the message. Replies
// from the next hop are bounded (lines, length). Never throws.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/smtp/smtp_session.h"

namespace sandgate::smtp {

struct RelayTarget {
  std::string host = "127.0.0.1";
  uint16_t port = 10026;
  std::string helo_name = "sandgate";
  double connect_timeout_s = 10;
  double command_timeout_s = 300;  // RFC 5321 4.5.3.2.7 allows 10 min for the end of data
  // Connection reuse: after a transaction the connection is kept (RSET) for
  // the next message, up to this many idle ones, for this long, for at most
  // this many messages each. 0 idle connections: one connection per message.
  size_t max_idle_connections = 16;
  double idle_keep_s = 10;
  int max_messages_per_connection = 100;
};

struct MessageRewrite {
  std::vector<std::string> add_headers;  // full "Name: value" lines, without CRLF
  std::string subject_prefix;            // inserted at the start of the Subject value
};

struct RelayResult {
  bool delivered = false;  // the next hop accepted the message (2xx after data)
  Reply reply;             // the answer to give the sending side
};

// Interface so the content filter can be tested without a network peer.
class Relay {
 public:
  virtual ~Relay() = default;
  virtual RelayResult send(const Envelope& envelope, const std::string& spool_path,
                           const MessageRewrite& rewrite) = 0;
};

class NextHopConnection;

// Thread-safe: each send() takes an idle connection (or opens one) for
// itself. A reused connection the next hop has meanwhile closed is noticed
// before anything of the message was accepted (at MAIL), and the message is
// then sent once over a fresh connection: reuse never duplicates nor loses.
class SmtpRelay : public Relay {
 public:
  explicit SmtpRelay(RelayTarget target);
  ~SmtpRelay() override;  // QUIT on the idle connections
  RelayResult send(const Envelope& envelope, const std::string& spool_path,
                   const MessageRewrite& rewrite) override;
  uint64_t connections_opened() const { return opened_.load(); }
  size_t idle_connections() const;

 private:
  std::unique_ptr<NextHopConnection> take_idle();
  void keep(std::unique_ptr<NextHopConnection> c);
  RelayResult attempt(NextHopConnection& c, const Envelope& env, const std::string& first,
                      const std::string& header, const std::string& rest, std::FILE* file,
                      bool reused, bool* stale, bool* reusable);

  RelayTarget target_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<NextHopConnection>> idle_;
  std::atomic<uint64_t> opened_{0};
};

// Applies `rewrite` to a message's header section (exposed for tests): returns
// the added header lines followed by `header` with the Subject prefixed.
std::string rewrite_header_section(const std::string& header, const MessageRewrite& rewrite);

// Dot-stuffs one chunk of message text (RFC 5321 4.5.2) for the wire. `bol`
// carries "at the start of a line" across chunks. Bare LF/CR become CRLF.
void dot_stuff(std::string_view in, bool& bol, bool& cr, std::string& out);

}  // namespace sandgate::smtp
