// SmtpServer: the SMTP listener of `sandgate serve`, one SmtpSession per
// connection on Poco's TCPServer with its own bounded thread pool.
//
// Guarantees: at most max_connections sessions at once; one more connection
// is answered "421 4.3.2" and closed. Idle clients are cut with 421 after the
// command timeout (or the data timeout while in DATA). stop() stops accepting,
// lets transactions in progress finish for up to `drain`, then closes the
// remaining sessions with 421 (never after a 250 was withheld: the sender
// keeps what was not acknowledged). Lifecycle: construct, start(), stop()
// from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "gateway/smtp/smtp_session.h"

namespace Poco {
class ThreadPool;
namespace Net {
class TCPServer;
}
}  // namespace Poco

namespace sandgate::smtp {

enum class SessionEvent { opened, refused, closed };

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 10025;  // 0: pick a free port (see port())
  SessionLimits limits;
  int max_connections = 100;
  double command_timeout_s = 300;  // RFC 5321 4.5.3.2.7: server timeout 5 min
  double data_timeout_s = 180;     // between two reads in DATA (RFC 5321 4.5.3.2.5 data block)
  // PEM certificate chain and key: both set, STARTTLS is offered (TLS 1.2+,
  // Poco NetSSL). start() fails when they cannot be loaded.
  std::string tls_cert;
  std::string tls_key;
  // Told of each connection (metrics): opened when accepted, refused when it
  // is answered 421 at once, closed when it ends. Called on the session's
  // thread; may be empty.
  std::function<void(SessionEvent)> on_session;
};

struct ServerState;

class SmtpServer {
 public:
  using Logger = std::function<void(const std::string& json_line)>;
  SmtpServer(ServerOptions options, DeliveryHandler& handler, Logger log = {});
  ~SmtpServer();
  SmtpServer(const SmtpServer&) = delete;
  SmtpServer& operator=(const SmtpServer&) = delete;

  bool start(std::string* error);
  uint16_t port() const { return port_; }
  int active_connections() const;
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(30));

 private:
  std::unique_ptr<ServerState> state_;
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::TCPServer> server_;
  uint16_t port_ = 0;
};

}  // namespace sandgate::smtp
