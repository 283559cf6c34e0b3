// Unit tests of the HTTP intake's parts: the service config (FILE:LINE:COL
// errors, unknown keys), bearer-token auth, the multipart splitter and the
// Prometheus exposition.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "gateway/config.h"
#include "gateway/http/auth.h"
#include "gateway/http/metrics.h"
#include "gateway/http/multipart.h"

using namespace sandgate;

TEST_CASE("config: defaults, values and relative paths") {
  auto r = parse_service_config(
      "policy: p.yaml\n"
      "data_dir: /srv/sg\n"
      "http:\n"
      "  listen: 0.0.0.0:9000\n"
      "  allow_loopback_without_token: false\n"
      "  tls: {cert: c.pem, key: k.pem}\n"
      "  tokens:\n"
      "    - id: portal\n"
      "      sha256: \"sha256:" + token_sha256_hex("s3cret") + "\"\n"
      "      profiles: [upload]\n"
      "  limits: {max_body: 10MiB, max_in_flight: 3, body_timeout: 2.5s}\n"
      "smtp: {listen: '[::1]:2525', next_hop: 127.0.0.1:2626}\n",
      "svc.yaml", "/etc/sg");
  REQUIRE(r.errors.empty());
  const ServiceConfig& c = *r.config;
  CHECK(c.policy_path == "/etc/sg/p.yaml");
  CHECK(c.data_dir == "/srv/sg");
  CHECK(c.http.listen.host == "0.0.0.0");
  CHECK(c.http.listen.port == 9000);
  CHECK_FALSE(c.http.allow_loopback_without_token);
  CHECK(c.http.tls_cert == "/etc/sg/c.pem");
  REQUIRE(c.http.tokens.size() == 1);
  CHECK(c.http.tokens[0].id == "portal");
  CHECK(c.http.max_body_bytes == 10ull << 20);
  CHECK(c.http.max_in_flight == 3);
  CHECK(c.http.body_timeout_s == doctest::Approx(2.5));
  CHECK(c.smtp.listen.host == "::1");
  CHECK(c.smtp.listen.port == 2525);
  CHECK(c.smtp.listen.to_string() == "[::1]:2525");
}

TEST_CASE("config: unknown keys and bad values are FILE:LINE:COL errors") {
  auto r = parse_service_config(
      "http:\n"
      "  listn: 127.0.0.1:1\n"
      "  limits:\n"
      "    max_in_flight: lots\n"
      "    max_body: 12 parsecs\n"
      "  tokens:\n"
      "    - id: a\n"
      "      sha256: plaintext-token\n"
      "      profiles: [upload]\n"
      "colour: blue\n",
      "svc.yaml", "");
  CHECK_FALSE(r.config);
  REQUIRE(r.errors.size() == 5);
  CHECK(r.errors[0].rfind("svc.yaml:2:3: unknown key 'listn' in http (did you mean 'listen'?)", 0) == 0);
  CHECK(r.errors[1].rfind("svc.yaml:4:20: max_in_flight", 0) == 0);
  CHECK(r.errors[2].rfind("svc.yaml:5:15: max_body", 0) == 0);
  CHECK(r.errors[3].rfind("svc.yaml:8:15: sha256 must be", 0) == 0);
  CHECK(r.errors[4].rfind("svc.yaml:10:1: unknown key 'colour'", 0) == 0);
}

TEST_CASE("config: YAML syntax errors carry a position") {
  auto r = parse_service_config("http:\n  listen: [1,\n", "bad.yaml", "");
  REQUIRE(r.errors.size() == 1);
  CHECK(r.errors[0].rfind("bad.yaml:", 0) == 0);
  CHECK(parse_host_port("localhost:99999", nullptr) == std::nullopt);
  CHECK(parse_host_port("nocolon", nullptr) == std::nullopt);
  CHECK(parse_host_port("127.0.0.1:0", nullptr)->port == 0);
}

TEST_CASE("auth: hashed tokens, profiles, loopback") {
  ApiToken t;
  t.id = "portal";
  std::string hex = token_sha256_hex("s3cret");
  for (size_t i = 0; i < 32; ++i) t.sha256[i] = static_cast<unsigned char>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  t.profiles = {"upload"};
  Authenticator open({t}, true), closed({t}, false);
  using S = AuthOutcome::Status;
  CHECK(open.check("", true, "upload").status == S::ok);
  CHECK(open.check("", false, "upload").status == S::unauthorized);
  CHECK(closed.check("", true, "upload").status == S::unauthorized);
  CHECK(closed.check("Bearer s3cret", false, "upload").status == S::ok);
  CHECK(closed.check("bearer s3cret", false, "upload").token_id == "portal");
  CHECK(closed.check("Bearer s3cret", false, "mail").status == S::forbidden);
  CHECK(closed.check("Bearer s3cre", false, "upload").status == S::unauthorized);
  CHECK(closed.check("Basic czNjcmV0", false, "upload").status == S::unauthorized);
  // A wrong token from loopback is refused, not ignored.
  CHECK(open.check("Bearer wrong", true, "upload").status == S::unauthorized);
}

namespace {

struct Collect : MultipartSink {
  std::vector<PartHeaders> headers;
  std::vector<std::string> bodies;
  int ended = 0;
  bool begin_part(const PartHeaders& h) override {
    headers.push_back(h);
    bodies.emplace_back();
    return true;
  }
  bool part_data(const char* d, size_t n) override {
    bodies.back().append(d, n);
    return true;
  }
  bool end_part() override {
    ++ended;
    return true;
  }
};

const std::string kBody =
    "preamble\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"cv\"; filename=\"C:\\\\Users\\\\me\\\\cv.pdf\"\r\n"
    "Content-Type: application/pdf\r\n"
    "\r\n"
    "%PDF-1.4 body with \r\n--XY not a boundary\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"letter\";\r\n filename*=UTF-8''lettre%20%C3%A9.txt\r\n"
    "\r\n"
    "hello\r\n"
    "--XyZ\r\n"
    "\r\n"
    "\r\n"
    "--XyZ--\r\n"
    "epilogue";

}  // namespace

TEST_CASE("multipart: parts, names and bodies, fed whole or byte by byte") {
  for (size_t step : {kBody.size(), size_t{1}, size_t{7}}) {
    Collect c;
    MultipartSplitter s("XyZ", 10, c);
    for (size_t i = 0; i < kBody.size(); i += step)
      REQUIRE(s.feed(kBody.data() + i, std::min(step, kBody.size() - i)));
    REQUIRE(s.finish());
    REQUIRE(c.headers.size() == 3);
    CHECK(c.ended == 3);
    CHECK(c.headers[0].filename == "cv.pdf");
    CHECK(c.headers[0].name == "cv");
    CHECK(c.headers[0].content_type == "application/pdf");
    CHECK(c.bodies[0] == "%PDF-1.4 body with \r\n--XY not a boundary");
    CHECK(c.headers[1].filename == "lettre \xC3\xA9.txt");
    CHECK(c.bodies[1] == "hello");
    CHECK(c.headers[2].filename.empty());
    CHECK(c.bodies[2].empty());
  }
}

TEST_CASE("multipart: malformed bodies are errors, not hangs") {
  Collect c;
  {
    MultipartSplitter s("XyZ", 10, c);
    std::string b = "--XyZ\r\n\r\nno end";
    CHECK(s.feed(b.data(), b.size()));
    CHECK_FALSE(s.finish());
    CHECK(s.error().find("closing boundary") != std::string::npos);
  }
  {
    MultipartSplitter s("XyZ", 2, c);
    std::string b = "--XyZ\r\n\r\na\r\n--XyZ\r\n\r\nb\r\n--XyZ\r\n\r\nc\r\n--XyZ--";
    CHECK_FALSE(s.feed(b.data(), b.size()));
    CHECK(s.error().find("too many parts") != std::string::npos);
  }
  {
    MultipartSplitter s("XyZ", 2, c, 64);
    std::string b = "--XyZ\r\nX-Long: " + std::string(200, 'a');
    CHECK_FALSE(s.feed(b.data(), b.size()));
  }
  {
    MultipartSplitter s("XyZ", 2, c);
    std::string b = "--XyZjunk\r\n\r\n";
    CHECK_FALSE(s.feed(b.data(), b.size()));
  }
  {
    MultipartSplitter s("XyZ", 2, c);
    CHECK(s.feed("", 0));
    CHECK_FALSE(s.finish());
  }
  CHECK(form_data_boundary("multipart/form-data; boundary=\"a b\"") == "a b");
  CHECK(form_data_boundary("multipart/form-data") == std::nullopt);
  CHECK(form_data_boundary("text/plain; boundary=x") == std::nullopt);
  CHECK(form_data_boundary("multipart/form-data; boundary=" + std::string(71, 'a')) == std::nullopt);
  CHECK(disposition_filename("attachment; filename=\"../../etc/passwd\"") == "passwd");
}

TEST_CASE("metrics: Prometheus text exposition") {
  Metrics m;
  m.count_request(200);
  m.count_request(200);
  m.count_request(413);
  m.count_scan("pass", "upload", 0.004, 100);
  m.count_scan("quarantine", "up\"load", 3.0, 50);
  m.count_reload_failure();
  Metrics::Gauges g;
  g.in_flight = 2;
  g.policy_reloads = 4;
  std::string t = m.render(g);
  CHECK(t.find("sandgate_http_requests_total{code=\"200\"} 2\n") != std::string::npos);
  CHECK(t.find("sandgate_http_requests_total{code=\"413\"} 1\n") != std::string::npos);
  CHECK(t.find("sandgate_scans_total{verdict=\"quarantine\",profile=\"up\\\"load\"} 1\n") != std::string::npos);
  CHECK(t.find("sandgate_scan_duration_seconds_bucket{le=\"0.005\"} 1\n") != std::string::npos);
  CHECK(t.find("sandgate_scan_duration_seconds_bucket{le=\"2.5\"} 1\n") != std::string::npos);
  CHECK(t.find("sandgate_scan_duration_seconds_bucket{le=\"5\"} 2\n") != std::string::npos);
  CHECK(t.find("sandgate_scan_duration_seconds_bucket{le=\"+Inf\"} 2\n") != std::string::npos);
  CHECK(t.find("sandgate_scan_duration_seconds_count 2\n") != std::string::npos);
  CHECK(t.find("sandgate_scanned_bytes_total 150\n") != std::string::npos);
  CHECK(t.find("sandgate_http_in_flight 2\n") != std::string::npos);
  CHECK(t.find("sandgate_policy_reloads_total 4\n") != std::string::npos);
  CHECK(t.find("sandgate_policy_reload_failures_total 1\n") != std::string::npos);
  CHECK(t.find("# TYPE sandgate_scan_duration_seconds histogram\n") != std::string::npos);
}
