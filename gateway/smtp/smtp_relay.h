// Our SMTP client to the next hop (RFC 5321): sends one spooled message with
// its envelope, dot-stuffed (RFC 5321 4.5.2), with extra header lines
// prepended and an optional Subject prefix, and returns the next hop's own
// answer to the end of data.
//
// Guarantees: delivered is true only when the next hop answered 2xx to the
// end of data; every network error or timeout is a temporary failure
// (4xx), so the caller tempfails and the sender keeps the message. Replies
// from the next hop are bounded (lines, length). Never throws.
#pragma once

#include <cstdint>
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

class SmtpRelay : public Relay {
 public:
  explicit SmtpRelay(RelayTarget target) : target_(std::move(target)) {}
  RelayResult send(const Envelope& envelope, const std::string& spool_path,
                   const MessageRewrite& rewrite) override;

 private:
  RelayTarget target_;
};

// Applies `rewrite` to a message's header section (exposed for tests): returns
// the added header lines followed by `header` with the Subject prefixed.
std::string rewrite_header_section(const std::string& header, const MessageRewrite& rewrite);

// Dot-stuffs one chunk of message text (RFC 5321 4.5.2) for the wire. `bol`
// carries "at the start of a line" across chunks. Bare LF/CR become CRLF.
void dot_stuff(std::string_view in, bool& bol, bool& cr, std::string& out);

}  // namespace sandgate::smtp
