// The HTTP service in-process on a free loopback port, driven by Poco's HTTP
// client: every status code of POST /v1/scan, multipart with several files,
// 413 by Content-Length and while streaming, 503 when saturated, auth, the
// operations endpoints, and the spool left empty afterwards.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>

#include "gateway/config.h"
#include "gateway/http/http_server.h"
#include "gateway/http/metrics.h"
#include "policies/language/policy_store.h"

#ifndef SANDGATE_SOURCE_ROOT
#error "SANDGATE_SOURCE_ROOT must name the source tree"
#endif

using namespace sandgate;
using Poco::Net::HTTPRequest;
using Poco::Net::HTTPResponse;

namespace {

struct Answer {
  int status = 0;
  std::string body;
  HTTPResponse response;
};

std::string fake_pe() {
  std::string pe(1024, '\0');
  pe[0] = 'M';
  pe[1] = 'Z';
  pe[0x3c] = static_cast<char>(0x80);
  pe.replace(0x80, 4, std::string("PE\0\0", 4));
  pe[0x84] = static_cast<char>(0x64);
  pe[0x85] = static_cast<char>(0x86);
  pe[0x86] = 1;
  pe[0x94] = static_cast<char>(0xF0);
  pe[0x96] = 0x22;
  pe[0x98] = 0x0B;
  pe[0x99] = 0x02;
  return pe;
}

class Fixture {
 public:
  explicit Fixture(HttpConfig http = {}) {
    dir_ = std::filesystem::temp_directory_path() /
           ("sg-http-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
    store_ = std::make_unique<policy_lang::PolicyStore>(std::string(SANDGATE_SOURCE_ROOT) + "/policies/default.yaml",
                                                        [](const std::string&) {});
    REQUIRE(store_->ok());
    http.listen = {"127.0.0.1", 0};
    service_ = std::make_unique<HttpService>(http, dir_.string(), *store_, metrics_);
    service_->state().log_line = [this](const std::string& l) {
      std::lock_guard lock(mu_);
      log_ += l + "\n";
    };
    std::string error;
    REQUIRE_MESSAGE(service_->start(&error), error);
  }
  ~Fixture() {
    service_->stop(std::chrono::seconds(5));
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  Answer call(const std::string& method, const std::string& uri, const std::string& body = "",
              const std::string& content_type = "application/octet-stream", const std::string& token = "",
              bool chunked = false) {
    Poco::Net::HTTPClientSession s("127.0.0.1", service_->port());
    s.setTimeout(Poco::Timespan(20, 0));
    HTTPRequest req(method, uri, HTTPRequest::HTTP_1_1);
    if (!token.empty()) req.set("Authorization", "Bearer " + token);
    if (method == "POST") {
      req.setContentType(content_type);
      if (chunked) req.setChunkedTransferEncoding(true);
      else req.setContentLength64(static_cast<Poco::Int64>(body.size()));
    }
    Answer a;
    try {
      std::ostream& out = s.sendRequest(req);
      out.write(body.data(), static_cast<std::streamsize>(body.size()));
    } catch (const Poco::Exception&) {
      // The server may stop reading early (413); its answer is still there.
    }
    std::istream& in = s.receiveResponse(a.response);
    a.status = a.response.getStatus();
    std::ostringstream ss;
    Poco::StreamCopier::copyStream(in, ss);
    a.body = ss.str();
    return a;
  }

  // Spool files left; first waits (bounded) for requests still lingering after their answer.
  size_t spool_files() {
    for (int i = 0; i < 300 && service_->state().in_flight.load() > 0; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    size_t n = 0;
    for (auto& e : std::filesystem::directory_iterator(dir_ / "spool")) (void)e, ++n;
    return n;
  }
  std::string log() {
    std::lock_guard lock(mu_);
    return log_;
  }
  HttpService& service() { return *service_; }
  Metrics& metrics() { return metrics_; }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  Metrics metrics_;
  std::unique_ptr<policy_lang::PolicyStore> store_;
  std::unique_ptr<HttpService> service_;
  std::mutex mu_;
  std::string log_;
};

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("POST /v1/scan: 200 with a report for pass and for quarantine") {
  Fixture f;
  Answer a = f.call("POST", "/v1/scan?filename=notes.txt", "Dear candidate,\nwelcome.\n");
  CHECK(a.status == 200);
  CHECK(a.response.getContentType() == "application/json");
  CHECK(has(a.body, "\"verdict\":\"pass\""));
  CHECK(has(a.body, "\"path\":\"notes.txt\""));
  CHECK(has(a.body, "\"profile\":\"upload\""));

  Answer q = f.call("POST", "/v1/scan?filename=Job_offer.pdf.exe", fake_pe());
  CHECK(q.status == 200);
  CHECK(has(q.body, "\"verdict\":\"quarantine\""));
  CHECK(has(q.body, "\"path\":\"Job_offer.pdf.exe\""));
  CHECK(f.spool_files() == 0);
  std::string log = f.log();
  CHECK(has(log, "\"filename\":\"Job_offer.pdf.exe\""));
  CHECK(has(log, "\"verdict\":\"quarantine\""));
  CHECK(has(log, "\"status\":200"));
}

TEST_CASE("POST /v1/scan: multipart with several files, one report each, in order") {
  Fixture f;
  std::string body =
      "--b0undary\r\nContent-Disposition: form-data; name=\"a\"; filename=\"first.txt\"\r\n\r\nhello one\r\n"
      "--b0undary\r\nContent-Disposition: form-data; name=\"b\"; filename=\"second.exe\"\r\n"
      "Content-Type: application/octet-stream\r\n\r\n" +
      fake_pe() +
      "\r\n--b0undary\r\nContent-Disposition: form-data; name=\"c\"; filename=\"third.txt\"\r\n\r\nhello three\r\n"
      "--b0undary--\r\n";
  Answer a = f.call("POST", "/v1/scan", body, "multipart/form-data; boundary=b0undary");
  REQUIRE(a.status == 200);
  CHECK(a.body.rfind("{\"verdict\":\"quarantine\",\"reports\":[", 0) == 0);
  size_t p1 = a.body.find("\"path\":\"first.txt\""), p2 = a.body.find("\"path\":\"second.exe\""),
         p3 = a.body.find("\"path\":\"third.txt\"");
  CHECK(p1 != std::string::npos);
  CHECK(p2 != std::string::npos);
  CHECK(p3 != std::string::npos);
  CHECK(p1 < p2);
  CHECK(p2 < p3);
  CHECK(f.spool_files() == 0);
  // Chunked transfer encoding works the same.
  Answer c = f.call("POST", "/v1/scan", body, "multipart/form-data; boundary=b0undary", "", true);
  CHECK(c.status == 200);
}

TEST_CASE("POST /v1/scan: 400, 404, 405, 411") {
  Fixture f;
  Answer a = f.call("POST", "/v1/scan", "--b\r\n\r\nno closing boundary", "multipart/form-data; boundary=b");
  CHECK(a.status == 400);
  CHECK(has(a.body, "\"status\":400"));
  CHECK(has(a.body, "closing boundary"));
  CHECK(f.call("POST", "/v1/scan", "x", "multipart/form-data").status == 400);
  CHECK(f.call("POST", "/v1/scan?profile=nope", "x").status == 400);
  Answer nf = f.call("GET", "/v2/other");
  CHECK(nf.status == 404);
  CHECK(nf.body == "{\"error\":\"no such endpoint: /v2/other\",\"status\":404}");
  Answer m = f.call("GET", "/v1/scan");
  CHECK(m.status == 405);
  CHECK(m.response.get("Allow") == "POST");
  CHECK(f.call("POST", "/healthz", "x").status == 405);
  CHECK(f.call("DELETE", "/metrics").status == 405);
  CHECK(f.spool_files() == 0);
}

TEST_CASE("POST /v1/scan: 401 and 403 with tokens") {
  HttpConfig h;
  h.allow_loopback_without_token = false;
  ApiToken t;
  t.id = "portal";
  std::string hex = token_sha256_hex("portal-secret");
  for (size_t i = 0; i < 32; ++i) t.sha256[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  t.profiles = {"upload"};
  h.tokens = {t};
  Fixture f(h);
  Answer no = f.call("POST", "/v1/scan", "hello");
  CHECK(no.status == 401);
  CHECK(no.response.get("WWW-Authenticate").rfind("Bearer", 0) == 0);
  CHECK(f.call("POST", "/v1/scan", "hello", "application/octet-stream", "wrong").status == 401);
  CHECK(f.call("POST", "/v1/scan?profile=mail", "hello", "application/octet-stream", "portal-secret").status == 403);
  CHECK(f.call("POST", "/v1/scan", "hello", "application/octet-stream", "portal-secret").status == 200);
  CHECK(has(f.log(), "\"token\":\"portal\""));
  CHECK_FALSE(has(f.log(), "portal-secret"));
}

TEST_CASE("POST /v1/scan: 413 by Content-Length and while streaming") {
  HttpConfig h;
  h.max_body_bytes = 1 << 20;
  Fixture f(h);
  std::string big((1 << 20) + 1, 'a');
  Answer a = f.call("POST", "/v1/scan", big);
  CHECK(a.status == 413);
  CHECK(has(a.body, "\"status\":413"));
  Answer c = f.call("POST", "/v1/scan", std::string(3 << 20, 'b'), "application/octet-stream", "", true);
  CHECK(c.status == 413);
  std::string exact(1 << 20, 'c');
  CHECK(f.call("POST", "/v1/scan", exact).status == 200);
  CHECK(f.spool_files() == 0);
}

TEST_CASE("POST /v1/scan: 503 with Retry-After when saturated") {
  HttpConfig h;
  h.max_in_flight = 1;
  h.retry_after_s = 7;
  Fixture f(h);
  // Occupy the one admission slot with a request whose body never completes.
  Poco::Net::StreamSocket hog(Poco::Net::SocketAddress("127.0.0.1", f.service().port()));
  std::string head = "POST /v1/scan HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc";
  hog.sendBytes(head.data(), static_cast<int>(head.size()));
  for (int i = 0; i < 200 && f.service().state().in_flight.load() < 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(f.service().state().in_flight.load() == 1);
  Answer a = f.call("POST", "/v1/scan", "hello");
  CHECK(a.status == 503);
  CHECK(a.response.get("Retry-After") == "7");
  CHECK(f.call("GET", "/readyz").status == 503);
  CHECK(f.call("GET", "/healthz").status == 200);
  hog.close();
  for (int i = 0; i < 200 && f.service().state().in_flight.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.call("POST", "/v1/scan", "hello").status == 200);
  // The handler releases its admission slot after the response has been sent,
  // so the client can be a moment ahead of the counter.
  for (int i = 0; i < 200 && f.service().state().in_flight.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  CHECK(f.call("GET", "/readyz").status == 200);
  CHECK(has(f.call("GET", "/metrics").body, "sandgate_http_rejected_busy_total 1\n"));
}

TEST_CASE("GET /metrics counts requests and scans") {
  Fixture f;
  f.call("POST", "/v1/scan?filename=a.txt", "hello");
  f.call("GET", "/nowhere");
  Answer m = f.call("GET", "/metrics");
  CHECK(m.status == 200);
  CHECK(has(m.response.getContentType(), "text/plain"));
  CHECK(has(m.body, "sandgate_http_requests_total{code=\"200\"} 1\n"));
  CHECK(has(m.body, "sandgate_http_requests_total{code=\"404\"} 1\n"));
  CHECK(has(m.body, "sandgate_scans_total{verdict=\"pass\",profile=\"upload\"} 1\n"));
  CHECK(has(m.body, "sandgate_scanned_bytes_total 5\n"));
  CHECK(has(m.body, "sandgate_policy_loaded 1\n"));
  Answer r = f.call("GET", "/readyz");
  CHECK(r.status == 200);
  CHECK(has(r.body, "\"ready\":true"));
}
