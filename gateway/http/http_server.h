// HttpService: the HTTP(S) intake of `sandgate serve` on Poco's HTTPServer,
// with its own bounded thread pool and connection queue (HTTPServerParams)
// and the request handling of scan_handler.h.
//
// Lifecycle: construct, start() (binds; port() is then the bound port, also
// when the config asked for port 0), stop() (stops accepting, lets admitted
// requests finish, up to a drain time). Not copyable; start/stop from one thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "gateway/config.h"
#include "gateway/http/metrics.h"
#include "gateway/http/scan_handler.h"
#include "policies/language/policy_store.h"

namespace Poco {
class ThreadPool;
namespace Net {
class HTTPServer;
}
}  // namespace Poco

namespace sandgate {

class HttpService {
 public:
  // `data_dir`/spool holds request bodies while they are scanned.
  HttpService(const HttpConfig& config, const std::string& data_dir, policy_lang::PolicyStore& store,
              Metrics& metrics);
  ~HttpService();
  HttpService(const HttpService&) = delete;
  HttpService& operator=(const HttpService&) = delete;

  // Creates the spool directory, binds and starts serving. False with *error set on failure.
  bool start(std::string* error);
  uint16_t port() const { return port_; }
  bool tls() const { return state_->tls; }
  // Stops accepting, waits up to `drain` for admitted requests to finish.
  void stop(std::chrono::milliseconds drain = std::chrono::seconds(30));

  ApiState& state() { return *state_; }

 private:
  HttpConfig config_;
  std::string data_dir_;
  std::unique_ptr<ApiState> state_;
  std::unique_ptr<Poco::ThreadPool> pool_;
  std::unique_ptr<Poco::Net::HTTPServer> server_;
  uint16_t port_ = 0;
};

}  // namespace sandgate
