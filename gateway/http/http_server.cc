// HttpService (see http_server.h). TLS: Poco NetSSL with the configured PEM
// certificate and key, TLS 1.2 as the minimum, no client certificates.
//
// Why an admission counter on top of HTTPServerParams: Poco's TCPServer
// drops connections beyond maxQueued without answering them, which a client
// cannot tell from a crash. The connection queue is therefore sized above the
// admission limit and the handler answers 503 with Retry-After itself.
#include "gateway/http/http_server.h"

#include <filesystem>
#include <mutex>
#include <thread>

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureServerSocket.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/ThreadPool.h>

namespace sandgate {

namespace {
std::once_flag ssl_once;
}

HttpService::HttpService(const HttpConfig& config, const std::string& data_dir, policy_lang::PolicyStore& store,
                         Metrics& metrics)
    : config_(config), data_dir_(data_dir) {
  state_ = std::make_unique<ApiState>(config, data_dir + "/spool", store, metrics);
}

HttpService::~HttpService() { stop(); }

bool HttpService::start(std::string* error) {
  std::error_code ec;
  std::filesystem::create_directories(state_->spool_dir, ec);
  if (ec) {
    *error = "cannot create the spool directory " + state_->spool_dir + ": " + ec.message();
    return false;
  }
  try {
    Poco::Net::SocketAddress addr(config_.listen.host, config_.listen.port);
    Poco::Net::ServerSocket socket;
    if (!config_.tls_cert.empty()) {
      std::call_once(ssl_once, [] { Poco::Net::initializeSSL(); });
      Poco::Net::Context::Ptr ctx = new Poco::Net::Context(
          Poco::Net::Context::TLS_SERVER_USE, config_.tls_key, config_.tls_cert, "", Poco::Net::Context::VERIFY_NONE,
          9, false, "HIGH:!aNULL:!eNULL:!MD5:!RC4:@STRENGTH");
      ctx->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
      ctx->preferServerCiphers();
      Poco::Net::SecureServerSocket secure(ctx);
      secure.bind(addr, true);
      secure.listen(128);
      socket = secure;
      state_->tls = true;
    } else {
      socket.bind(addr, true);
      socket.listen(128);
    }
    port_ = socket.address().port();

    int threads = config_.threads > 0 ? config_.threads : config_.max_in_flight + 8;
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(threads);
    params->setMaxQueued(config_.queued_connections);
    params->setTimeout(Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(config_.idle_timeout_s * 1e6)));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(
        Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(config_.idle_timeout_s * 1e6)));
    params->setMaxKeepAliveRequests(10000);
    params->setSoftwareVersion("sandgate");
    pool_ = std::make_unique<Poco::ThreadPool>(2, threads, 60);
    server_ = std::make_unique<Poco::Net::HTTPServer>(new ApiHandlerFactory(*state_), *pool_, socket, params);
    server_->start();
  } catch (const Poco::Exception& e) {
    *error = "cannot listen on " + config_.listen.to_string() + ": " + e.displayText();
    server_.reset();
    return false;
  } catch (const std::exception& e) {
    *error = "cannot listen on " + config_.listen.to_string() + ": " + e.what();
    server_.reset();
    return false;
  }
  return true;
}

void HttpService::stop(std::chrono::milliseconds drain) {
  if (!server_) return;
  state_->stopping.store(true);
  // Stop accepting; idle keep-alive connections end, requests in progress go on.
  server_->stopAll(false);
  auto until = std::chrono::steady_clock::now() + drain;
  while (state_->in_flight.load() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // Requests still running end within body_timeout plus one scan's time limit.
  pool_->joinAll();
  server_.reset();
}

}  // namespace sandgate
