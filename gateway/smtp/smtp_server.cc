// SmtpServer (see smtp_server.h). Each connection thread polls its socket with
// a one-second tick so that timeouts and shutdown are noticed without a
// blocking read holding the thread.
#include "gateway/smtp/smtp_server.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureStreamSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/Net/TCPServerParams.h>
#include <Poco/ThreadPool.h>

#include <mutex>
#include <thread>

namespace sandgate::smtp {

struct ServerState {
  ServerOptions options;
  DeliveryHandler* handler = nullptr;
  SmtpServer::Logger log;
  std::atomic<int> active{0};
  std::atomic<bool> stopping{false};  // no new transactions; idle sessions get 421
  std::atomic<bool> aborting{false};  // drain time over: every session gets 421
  Poco::Net::Context::Ptr tls;        // set when STARTTLS is offered
};

namespace {

using Clock = std::chrono::steady_clock;

void send_all(Poco::Net::StreamSocket& s, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    int n = s.sendBytes(data.data() + off, static_cast<int>(data.size() - off));
    if (n <= 0) throw Poco::IOException("peer closed");
    off += static_cast<size_t>(n);
  }
}

class SmtpConnection : public Poco::Net::TCPServerConnection {
 public:
  SmtpConnection(const Poco::Net::StreamSocket& s, ServerState& st)
      : TCPServerConnection(s), st_(st) {}

  void run() override {
    struct Count {
      std::atomic<int>& n;
      const std::function<void(SessionEvent)>& on_session;
      ~Count() {
        n.fetch_sub(1);
        if (on_session) on_session(SessionEvent::closed);
      }
    } count{st_.active, st_.options.on_session};
    int now_active = st_.active.fetch_add(1) + 1;
    if (st_.options.on_session) st_.options.on_session(SessionEvent::opened);
    Poco::Net::StreamSocket& s = socket();
    try {
      s.setNoDelay(true);
      s.setSendTimeout(Poco::Timespan(60, 0));
      if (now_active > st_.options.max_connections || st_.stopping.load()) {
        if (st_.options.on_session) st_.options.on_session(SessionEvent::refused);
        send_all(s, "421 4.3.2 " + st_.options.limits.hostname +
                        (st_.stopping.load() ? " Service shutting down" : " Too many connections") +
                        ", try again later\r\n");
        return;
      }
      std::string peer = s.peerAddress().host().toString();
      SessionLimits limits = st_.options.limits;
      limits.starttls = !st_.tls.isNull();
      SmtpSession session(limits, *st_.handler, peer);
      // `io` is the plain socket until STARTTLS, then the TLS socket over it.
      Poco::Net::StreamSocket io = s;
      send_all(io, session.greeting());
      std::vector<char> buf(64 * 1024);
      auto last = Clock::now();
      while (!session.closed()) {
        // Bytes OpenSSL already decrypted are not visible to poll().
        bool ready = io.available() > 0 ||
                     io.poll(Poco::Timespan(1, 0), Poco::Net::Socket::SELECT_READ);
        if (!ready) {
          double idle = std::chrono::duration<double>(Clock::now() - last).count();
          double limit =
              session.in_data() ? st_.options.data_timeout_s : st_.options.command_timeout_s;
          if (st_.aborting.load() || (st_.stopping.load() && !session.in_transaction())) {
            send_all(io, session.shutdown_reply("Service shutting down"));
            break;
          }
          if (idle > limit) {
            send_all(io, session.shutdown_reply("Error: timeout exceeded"));
            break;
          }
          continue;
        }
        int n = io.receiveBytes(buf.data(), static_cast<int>(buf.size()));
        if (n <= 0) break;
        last = Clock::now();
        std::string out;
        bool alive = session.feed(std::string_view(buf.data(), static_cast<size_t>(n)), out);
        if (!out.empty()) send_all(io, out);
        if (!alive) break;
        if (session.tls_requested()) {
          // Whatever followed STARTTLS in this read was not fed to the
          // session and is dropped here. The handshake is bounded by the
          // command timeout; a failed one ends the connection.
          s.setReceiveTimeout(Poco::Timespan(
              static_cast<Poco::Timespan::TimeDiff>(st_.options.command_timeout_s * 1e6)));
          Poco::Net::SecureStreamSocket tls = Poco::Net::SecureStreamSocket::attach(s, st_.tls);
          io = tls;
          session.tls_started();
          last = Clock::now();
        }
      }
    } catch (const Poco::Exception&) {
      // The peer went away or a socket error: the session's destructor removes
      // any half-received spool file; nothing was acknowledged.
    } catch (const std::exception&) {
    }
  }

 private:
  ServerState& st_;
};

class SmtpConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  explicit SmtpConnectionFactory(ServerState& st) : st_(st) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& s) override {
    return new SmtpConnection(s, st_);
  }

 private:
  ServerState& st_;
};

}  // namespace

SmtpServer::SmtpServer(ServerOptions options, DeliveryHandler& handler, Logger log)
    : state_(std::make_unique<ServerState>()) {
  state_->options = std::move(options);
  state_->handler = &handler;
  state_->log = std::move(log);
}

SmtpServer::~SmtpServer() { stop(std::chrono::milliseconds(0)); }

int SmtpServer::active_connections() const { return state_->active.load(); }

bool SmtpServer::start(std::string* error) {
  if (!state_->options.tls_cert.empty() || !state_->options.tls_key.empty()) {
    static std::once_flag ssl_once;
    try {
      std::call_once(ssl_once, [] { Poco::Net::initializeSSL(); });
      Poco::Net::Context::Ptr ctx = new Poco::Net::Context(
          Poco::Net::Context::TLS_SERVER_USE, state_->options.tls_key, state_->options.tls_cert, "",
          Poco::Net::Context::VERIFY_NONE, 9, false, "HIGH:!aNULL:!eNULL:!MD5:!RC4:@STRENGTH");
      ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
      ctx->preferServerCiphers();
      state_->tls = ctx;
    } catch (const Poco::Exception& e) {
      *error = "cannot load the STARTTLS certificate/key (" + state_->options.tls_cert + ", " +
               state_->options.tls_key + "): " + e.displayText();
      return false;
    }
  }
  try {
    Poco::Net::SocketAddress addr(state_->options.host, state_->options.port);
    Poco::Net::ServerSocket socket;
    socket.bind(addr, true);
    socket.listen(128);
    port_ = socket.address().port();
    // A few threads beyond the limit so that over-limit connections are
    // answered 421 promptly instead of waiting in the queue.
    int threads = state_->options.max_connections + 8;
    auto* params = new Poco::Net::TCPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(64);
    pool_ = std::make_unique<Poco::ThreadPool>(2, threads, 60);
    server_ = std::make_unique<Poco::Net::TCPServer>(new SmtpConnectionFactory(*state_), *pool_,
                                                     socket, params);
    server_->start();
  } catch (const Poco::Exception& e) {
    *error = "cannot listen on " + state_->options.host + ":" +
             std::to_string(state_->options.port) + ": " + e.displayText();
    server_.reset();
    return false;
  }
  return true;
}

void SmtpServer::stop(std::chrono::milliseconds drain) {
  if (!server_) return;
  state_->stopping.store(true);
  server_->stop();  // stop accepting; sessions go on
  auto until = Clock::now() + drain;
  while (state_->active.load() > 0 && Clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  state_->aborting.store(true);
  pool_->joinAll();
  server_.reset();
}

}  // namespace sandgate::smtp
