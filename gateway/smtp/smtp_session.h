// The ESMTP server protocol state machine (RFC 5321), independent of sockets:
// bytes in, replies out, message data streamed to a spool file, and one call
// to a DeliveryHandler per complete message. gateway/smtp/smtp_server.h runs
// it on Poco's TCPServer; the unit tests drive it directly.
//
// Guarantees:
// - End of data is only CRLF "." CRLF (RFC 5321 4.1.1.4). A bare LF or bare CR
//   never ends a line for that purpose, so "\n.\n", "\n.\r\n", "\r\n.\n" and
//   "\r.\r" sequences cannot smuggle a second message (the 2023 "SMTP
//   smuggling" class); they are either normalised to CRLF inside the message
//   (default) or make the message refused (reject_bare_newlines).
// - Dot-unstuffing on receive (RFC 5321 4.5.2). Data is streamed to the spool
//   with bounded buffers; no line or message is ever held whole in memory.
// - Bounded: command lines (512 bytes, RFC 5321 4.5.3.1.4), data lines
//   (configurable), message size (SIZE, enforced while streaming), recipients,
//   errors per session. Over a limit is a clean SMTP reply, never a crash.
// - The DATA reply is whatever the handler answers: the handler, not this
//   class, decides when a message may be acknowledged with 250.
// Not thread-safe: one session per connection.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace sandgate::smtp {

struct Reply {
  int code = 250;
  std::string text;    // one or more lines (separated by '\n'), each starting with
                       // the enhanced status code where there is one
  bool close = false;  // close the connection after sending it
  // "CODE text\r\n", or "CODE-line\r\n...CODE last\r\n" for several lines.
  std::string format() const;
};

struct Recipient {
  std::string address;              // without the angle brackets
  std::vector<std::string> params;  // raw ESMTP parameters ("NOTIFY=NEVER", ...)
};

// Postfix XFORWARD attributes (XFORWARD_README); "[UNAVAILABLE]" becomes empty.
struct XForward {
  std::string name, addr, port, proto, helo, ident, source;
};

struct Envelope {
  std::string helo;
  bool esmtp = false;
  std::string sender;                    // "" for the null reverse-path <>
  std::vector<std::string> mail_params;  // raw ESMTP parameters of MAIL
  std::vector<Recipient> recipients;
  std::string client_address;  // the peer's address (the socket's)
  XForward xforward;           // what the MTA in front of us says about its client
  uint64_t declared_size = 0;  // SIZE= of MAIL, 0 if none
  bool smtputf8 = false;
  std::string body;  // BODY= value ("7BIT", "8BITMIME") or empty
  // The original client: XFORWARD ADDR when given, else the peer.
  const std::string& original_client() const {
    return xforward.addr.empty() ? client_address : xforward.addr;
  }
};

// Receives each complete message. Called on the connection's thread; may block
// (scan, relay). The spool file is removed by the session after the call.
class DeliveryHandler {
 public:
  virtual ~DeliveryHandler() = default;
  // REQUIRES: `spool_path` holds the unstuffed message, lines ending in CRLF.
  // Returns the reply to DATA. Must answer 2xx only when the message is safe
  // (accepted by the next hop or durably stored).
  virtual Reply deliver(const Envelope& envelope, const std::string& spool_path, uint64_t size) = 0;
};

struct SessionLimits {
  std::string hostname = "sandgate";         // in the greeting and EHLO reply
  uint64_t max_message_bytes = 50ull << 20;  // announced in SIZE, enforced while streaming
  size_t max_recipients = 1000;
  size_t max_command_line = 512;      // including CRLF (RFC 5321 4.5.3.1.4)
  size_t max_data_line = 64 * 1024;   // including CRLF; RFC's 1000 refuses real mail
  size_t max_address = 256;           // RFC 5321 4.5.3.1.3 path limit
  int max_errors = 20;                // unrecognised/bad commands before 421
  bool reject_bare_newlines = false;  // else normalised to CRLF
  bool xforward = true;               // accept Postfix's XFORWARD
  bool starttls = false;              // offer STARTTLS (the transport can do TLS)
  std::string spool_dir = "/tmp";     // where message data is streamed
};

class SmtpSession {
 public:
  SmtpSession(SessionLimits limits, DeliveryHandler& handler, std::string client_address);
  ~SmtpSession();
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  // The 220 greeting.
  std::string greeting() const;
  // Consumes bytes from the client and appends the replies to `out` (several
  // when commands are pipelined, RFC 2920). Returns false once the session is
  // over (QUIT, fatal error); `out` then holds the last replies to send.
  bool feed(std::string_view input, std::string& out);
  // True while receiving message data (the transport applies the DATA timeout).
  bool in_data() const { return state_ == State::data; }
  // True between MAIL and the end of the transaction.
  bool in_transaction() const { return mail_given_; }
  bool closed() const { return state_ == State::closed; }
  // The reply for a shutdown or timeout, and the session is then closed.
  std::string shutdown_reply(std::string_view why);
  // STARTTLS (RFC 3207) was accepted: after sending `out`, the transport must
  // start TLS and then call tls_started(). feed() consumed nothing after the
  // STARTTLS line: plaintext pipelined behind it is dropped by the transport,
  // never read as commands of the TLS session (CVE-2011-0411 class).
  bool tls_requested() const { return tls_pending_; }
  // The handshake succeeded: the session starts over (RFC 3207 4.2: the
  // client must EHLO again; nothing learnt before TLS is kept).
  void tls_started();
  bool tls_active() const { return tls_active_; }

 private:
  enum class State { command, data, closed };
  void command_byte_run(std::string_view& input, std::string& out);
  void data_run(std::string_view& input, std::string& out);
  void handle_command(std::string_view line, std::string& out);
  void end_of_data(std::string& out);
  void reset_transaction();
  void emit(const char* p, size_t n);
  void emit_crlf() { emit("\r\n", 2); }
  void flush_spool();
  void count_error(std::string& out);

  void cmd_helo(std::string_view arg, bool esmtp, std::string& out);
  void cmd_mail(std::string_view arg, std::string& out);
  void cmd_rcpt(std::string_view arg, std::string& out);
  void cmd_data(std::string_view arg, std::string& out);
  void cmd_xforward(std::string_view arg, std::string& out);

  SessionLimits limits_;
  DeliveryHandler& handler_;
  State state_ = State::command;
  Envelope env_;
  bool helo_given_ = false;
  bool mail_given_ = false;
  int errors_ = 0;

  // Command line assembly (bounded by max_command_line).
  std::string line_;
  bool line_overflow_ = false;
  bool line_cr_ = false;

  // DATA decoding state.
  enum class DataState { bol, mid, cr, dot, dot_cr };
  DataState ds_ = DataState::bol;
  size_t data_line_len_ = 0;
  uint64_t data_bytes_ = 0;
  bool too_big_ = false, line_too_long_ = false, bare_newline_ = false, spool_error_ = false;
  std::FILE* spool_ = nullptr;
  std::string spool_path_;
  std::string spool_buf_;
  bool tls_pending_ = false;
  bool tls_active_ = false;
};

}  // namespace sandgate::smtp
