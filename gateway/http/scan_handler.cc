// HTTP API request handling (see scan_handler.h).
//
// Order of checks for POST /v1/scan, cheapest first and before any body byte
// is read: route and method (404/405), token (401), profile allowed for the
// token (403), profile known to the policy (400), Content-Length against the
// limit (413), admission (503). Then the body streams to the spool in the
// blocks Poco receives (4 KiB), counted: 413 as soon as it passes the limit,
// 408 when the whole body takes longer than body_timeout or one read waits
// longer than idle_timeout. A refused request whose body was not read is
// answered and the connection closed after a short lingering drain, so the
// client reads the answer instead of a reset.
#include "gateway/http/scan_handler.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <optional>
#include <thread>
#include <vector>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include "gateway/engine.h"
#include "gateway/http/multipart.h"
#include "gateway/http/quarantine_api.h"
#include "gateway/isolation/worker_pool.h"
#include "gateway/quarantine/store.h"
#include "gateway/report_json.h"
#include "gateway/uuid.h"
#include "policies/language/yaml_policy.h"

namespace sandgate {

using Clock = std::chrono::steady_clock;
using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

ApiState::ApiState(HttpConfig c, std::string spool, policy_lang::PolicyStore& s, Metrics& m)
    : config(std::move(c)),
      spool_dir(std::move(spool)),
      store(s),
      metrics(m),
      auth(config.tokens, config.allow_loopback_without_token) {
  workers = config.scan_workers > 0 ? config.scan_workers
                                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  for (int i = 0; i < workers; ++i) threads_.emplace_back([this] { worker_loop(); });
}

ApiState::~ApiState() {
  {
    std::lock_guard lock(mu_);
    quit_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

void ApiState::worker_loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return quit_ || !queue_.empty(); });
    if (queue_.empty()) return;  // quit_ and nothing left
    Job* job = queue_.front();
    queue_.pop_front();
    waiting_.fetch_sub(1);
    lock.unlock();
    try {
      (*job->fn)();
    } catch (...) {
      // the job records its own failure; a worker never dies
    }
    lock.lock();
    job->done = true;
    done_cv_.notify_all();
  }
}

void ApiState::run_scan(const std::function<void()>& fn) {
  Job job{&fn};
  std::unique_lock lock(mu_);
  queue_.push_back(&job);
  waiting_.fetch_add(1);
  cv_.notify_one();
  done_cv_.wait(lock, [&] { return job.done; });
}

Metrics::Gauges ApiState::gauges() const {
  Metrics::Gauges g;
  g.in_flight = in_flight.load();
  g.queue_depth = waiting_.load();
  g.max_in_flight = config.max_in_flight;
  g.policy_reloads = store.generation();
  g.policy_loaded = store.ok() ? 1 : 0;
  return g;
}

void ApiState::write_log(const std::string& line) {
  if (log_line) {
    log_line(line);
    return;
  }
  std::lock_guard lock(log_mu_);
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

namespace {

std::string now_iso8601() {
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

// A spool file that is deleted when it goes out of scope.
class SpoolFile {
 public:
  SpoolFile() = default;
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile() {
    close();
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  bool create(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd_ < 0) return false;
    path_ = path;
    return true;
  }
  bool write(const char* data, size_t n) {
    while (n > 0) {
      ssize_t w = ::write(fd_, data, n);
      if (w < 0) {
        if (errno == EINTR) continue;
        return false;
      }
      data += w;
      n -= static_cast<size_t>(w);
      size_ += static_cast<uint64_t>(w);
    }
    return true;
  }
  bool close() {
    if (fd_ < 0) return true;
    int r = ::close(fd_);
    fd_ = -1;
    return r == 0;
  }
  const std::string& path() const { return path_; }
  uint64_t size() const { return size_; }

 private:
  int fd_ = -1;
  std::string path_;
  uint64_t size_ = 0;
};

struct SpooledFile {
  std::unique_ptr<SpoolFile> spool;
  std::string name;
  std::string content_type;
};

// Multipart parts go to one spool file each.
class PartSpooler : public MultipartSink {
 public:
  PartSpooler(std::string prefix, std::vector<SpooledFile>& files) : prefix_(std::move(prefix)), files_(files) {}
  bool begin_part(const PartHeaders& h) override {
    SpooledFile f;
    f.spool = std::make_unique<SpoolFile>();
    if (!f.spool->create(prefix_ + "." + std::to_string(files_.size()))) return false;
    f.name = !h.filename.empty() ? h.filename : !h.name.empty() ? h.name : "part" + std::to_string(files_.size() + 1);
    f.content_type = h.content_type;
    files_.push_back(std::move(f));
    return true;
  }
  bool part_data(const char* data, size_t size) override { return files_.back().spool->write(data, size); }
  bool end_part() override { return files_.back().spool->close(); }

 private:
  std::string prefix_;
  std::vector<SpooledFile>& files_;
};

// What the request log line says about one scanned file.
struct FileLog {
  std::string name;
  uint64_t size = 0;
  std::string verdict;
  std::string action;
  std::string report_id;
};

class ApiHandler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit ApiHandler(ApiState& s) : s_(s) {}

  void handleRequest(HTTPServerRequest& req, HTTPServerResponse& resp) override {
    started_ = Clock::now();
    try {
      route(req, resp);
    } catch (const Poco::TimeoutException&) {
      error(req, resp, 408, "the request took too long to arrive");
    } catch (const Poco::Net::MessageException& e) {
      error(req, resp, 400, "malformed request: " + e.message());
    } catch (const Poco::Exception& e) {
      // Connection-level failures (reset, broken pipe): nothing to answer.
      if (!resp.sent()) error(req, resp, 500, "internal error");
      internal_ = e.displayText();
    } catch (const std::exception& e) {
      if (!resp.sent()) error(req, resp, 500, "internal error");
      internal_ = e.what();
    }
    log(req);
  }

 private:
  void route(HTTPServerRequest& req, HTTPServerResponse& resp) {
    std::string path;
    try {
      Poco::URI uri(req.getURI());
      path = uri.getPath();
      query_ = uri.getQueryParameters();
    } catch (const Poco::Exception&) {
      return error(req, resp, 400, "malformed request URI");
    }
    path_ = path;
    const std::string& m = req.getMethod();
    if (path == "/v1/scan") {
      if (m != "POST") return method_not_allowed(req, resp, "POST");
      return scan(req, resp);
    }
    if (path == "/v1/quarantine" || path.rfind("/v1/quarantine/", 0) == 0) return quarantine(req, resp, path);
    if (path == "/healthz" || path == "/readyz" || path == "/metrics") {
      if (m != "GET" && m != "HEAD") return method_not_allowed(req, resp, "GET, HEAD");
      if (path == "/healthz") return send_json(req, resp, 200, "{\"status\":\"ok\"}");
      if (path == "/readyz") return readyz(req, resp);
      std::string body = s_.metrics.render(s_.gauges());
      return send(req, resp, 200, "text/plain; version=0.0.4; charset=utf-8", body);
    }
    return error(req, resp, 404, "no such endpoint: " + path);
  }

  // The administration API: admin tokens only, whatever the client address.
  void quarantine(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& path) {
    AuthOutcome a = s_.auth.check_admin(req.get("Authorization", ""));
    token_id_ = a.token_id;
    if (a.status == AuthOutcome::Status::unauthorized) {
      resp.set("WWW-Authenticate", "Bearer realm=\"sandgate\"");
      return error(req, resp, 401, a.message);
    }
    if (a.status == AuthOutcome::Status::forbidden) return error(req, resp, 403, a.message);
    // Administration requests carry no body worth reading; drain a small one
    // so the connection stays usable.
    if (req.hasContentLength() && req.getContentLength64() > 0) {
      if (req.getContentLength64() > 64 * 1024) return error(req, resp, 413, "administration requests take no body");
      std::string sink;
      Poco::StreamCopier::copyToString(req.stream(), sink);
    }
    body_read_ = true;
    QuarantineApiAnswer ans =
        quarantine_api(s_.quarantine, s_.next_hop, req.getMethod(), path, query_, "api:" + token_id_);
    if (!ans.allow.empty()) resp.set("Allow", ans.allow);
    if (ans.status >= 400) {
      error_ = ans.body;
      if (ans.status == 503) resp.set("Retry-After", std::to_string(s_.config.retry_after_s));
    }
    if (ans.file_path.empty()) return send_json(req, resp, ans.status, ans.body);
    std::ifstream file(ans.file_path, std::ios::binary);
    if (!file) return error(req, resp, 503, "the quarantined content cannot be read");
    file.seekg(0, std::ios::end);
    const auto length = static_cast<Poco::Int64>(file.tellg());
    file.seekg(0);
    status_ = 200;
    resp.setStatus(HTTPResponse::HTTP_OK);
    resp.setContentType("application/octet-stream");
    // Hostile content: a download, never something a browser renders.
    resp.set("Content-Disposition", "attachment; filename=\"" + ans.download_name + "\"");
    resp.set("X-Content-Type-Options", "nosniff");
    resp.set("Cache-Control", "no-store");
    resp.setContentLength64(length);
    std::ostream& out = resp.send();
    if (req.getMethod() != "HEAD") Poco::StreamCopier::copyStream64(file, out);
    out.flush();
    s_.metrics.count_request(200);
  }

  // A held upload is stored before the answer, so that an administrator can
  // find it; without a store, or when it fails, the client is told to retry
  // (503), never that it was held.
  std::optional<std::string> hold(const Report& report, const SpooledFile& f, const SubmissionFacts& facts,
                                  std::string* error) {
    if (!s_.quarantine) {
      *error = "no quarantine store";
      return std::nullopt;
    }
    QuarantineItem item;
    item.channel = "upload";
    item.profile = report.decision.profile.empty() ? facts.profile : report.decision.profile;
    item.policy_sha256 = report.decision.policy_sha256;
    item.client_address = facts.client_address;
    item.sender = token_id_.empty() ? "" : "token:" + token_id_;
    item.file_names.push_back(f.name);
    item.size = f.spool->size();
    item.verdict = "quarantine";
    item.action = std::string(action_name(report.decision.action));
    for (const auto& r : report.decision.reasons) item.reasons.push_back(r.rule + " " + r.object + " " + r.finding);
    item.report_json = report_to_json(report);
    try {
      return s_.quarantine->put(f.spool->path(), std::move(item), error);
    } catch (...) {
      *error = "exception in the quarantine store";
      return std::nullopt;
    }
  }

  void readyz(HTTPServerRequest& req, HTTPServerResponse& resp) {
    bool policy = s_.store.ok();
    bool spool = ::access(s_.spool_dir.c_str(), W_OK | X_OK) == 0;
    bool workers = s_.in_flight.load() < s_.config.max_in_flight && !s_.stopping.load();
    bool ready = policy && spool && workers;
    std::string body = std::string("{\"ready\":") + (ready ? "true" : "false") +
                       ",\"policy_loaded\":" + (policy ? "true" : "false") +
                       ",\"spool_writable\":" + (spool ? "true" : "false") +
                       ",\"workers_available\":" + (workers ? "true" : "false") + "}";
    if (!ready) resp.set("Retry-After", std::to_string(s_.config.retry_after_s));
    send_json(req, resp, ready ? 200 : 503, body);
  }

  std::string query(const std::string& name) const {
    for (const auto& [k, v] : query_)
      if (k == name) return v;
    return "";
  }

  void scan(HTTPServerRequest& req, HTTPServerResponse& resp) {
    profile_ = query("profile");
    if (profile_.empty()) profile_ = "upload";
    bool loopback = req.clientAddress().host().isLoopback();
    AuthOutcome a = s_.auth.check(req.get("Authorization", ""), loopback, profile_);
    token_id_ = a.token_id;
    if (a.status == AuthOutcome::Status::unauthorized) {
      resp.set("WWW-Authenticate", "Bearer realm=\"sandgate\"");
      return error(req, resp, 401, a.message);
    }
    if (a.status == AuthOutcome::Status::forbidden) return error(req, resp, 403, a.message);

    auto policy = s_.store.current();
    if (!policy) return error(req, resp, 503, "no policy is loaded");
    SubmissionFacts facts;
    facts.channel = "upload";
    facts.profile = profile_;
    facts.client_address = req.clientAddress().host().toString();
    if (!policy->profile_for(facts)) return error(req, resp, 400, "unknown profile '" + profile_ + "'");

    const uint64_t limit = s_.config.max_body_bytes;
    if (req.hasContentLength() && req.getContentLength64() > static_cast<Poco::Int64>(limit))
      return error(req, resp, 413,
                   "the body (" + std::to_string(req.getContentLength64()) + " bytes) exceeds the limit of " +
                       std::to_string(limit) + " bytes");
    if (!req.hasContentLength() && !req.getChunkedTransferEncoding())
      return error(req, resp, 411, "a Content-Length or chunked body is required");

    // Admission: a bounded number of scan requests at once, else 503 now.
    if (s_.stopping.load()) return busy(req, resp, "the service is shutting down");
    int before = s_.in_flight.fetch_add(1);
    struct Release {
      std::atomic<int>& n;
      ~Release() { n.fetch_sub(1); }
    } release{s_.in_flight};
    if (before >= s_.config.max_in_flight) return busy(req, resp, "too many scans in progress");

    std::string content_type = req.getContentType();
    auto boundary = form_data_boundary(content_type);
    bool multipart = content_type.rfind("multipart/", 0) == 0;
    if (multipart && !boundary) return error(req, resp, 400, "multipart/form-data needs a valid boundary");

    std::string request_id = random_uuid();
    std::string prefix = s_.spool_dir + "/" + request_id;
    std::vector<SpooledFile> files;
    PartSpooler spooler(prefix, files);
    std::optional<MultipartSplitter> splitter;
    if (boundary) {
      splitter.emplace(*boundary, static_cast<size_t>(s_.config.max_parts), spooler);
    } else {
      SpooledFile f;
      f.spool = std::make_unique<SpoolFile>();
      if (!f.spool->create(prefix + ".body")) return error(req, resp, 500, "cannot write to the spool");
      std::string name = query("filename");
      if (name.empty()) name = disposition_filename(req.get("Content-Disposition", ""));
      size_t slash = name.find_last_of("/\\");
      if (slash != std::string::npos) name = name.substr(slash + 1);
      if (name.size() > 255) name.resize(255);
      f.name = name.empty() ? "upload" : name;
      if (content_type != "application/octet-stream") f.content_type = content_type;
      files.push_back(std::move(f));
    }

    // Stream the body: one receive at a time, so the deadline is checked
    // between reads even for a client that trickles bytes.
    std::istream& in = req.stream();
    std::streambuf* sb = in.rdbuf();
    const auto deadline = started_ + std::chrono::milliseconds(static_cast<int64_t>(s_.config.body_timeout_s * 1000));
    char buf[64 * 1024];
    uint64_t total = 0;
    while (true) {
      if (Clock::now() > deadline) return error(req, resp, 408, "the body took too long to arrive");
      if (sb->sgetc() == std::char_traits<char>::eof()) break;
      std::streamsize avail = std::max<std::streamsize>(1, sb->in_avail());
      std::streamsize n = sb->sgetn(buf, std::min<std::streamsize>(avail, sizeof buf));
      if (n <= 0) break;
      total += static_cast<uint64_t>(n);
      if (total > limit)
        return error(req, resp, 413, "the body exceeds the limit of " + std::to_string(limit) + " bytes");
      if (splitter) {
        if (!splitter->feed(buf, static_cast<size_t>(n))) {
          body_read_ = false;
          return error(req, resp, 400, splitter->error());
        }
      } else if (!files[0].spool->write(buf, static_cast<size_t>(n))) {
        return error(req, resp, 500, "cannot write to the spool");
      }
    }
    if (req.hasContentLength() && total != static_cast<uint64_t>(req.getContentLength64()))
      return error(req, resp, 400, "the body ended before its Content-Length");
    body_read_ = true;
    size_ = total;
    if (splitter && !splitter->finish()) return error(req, resp, 400, splitter->error());
    for (auto& f : files)
      if (!f.spool->close()) return error(req, resp, 500, "cannot write to the spool");

    // Scan each file on a worker slot, with the policy version current now.
    std::vector<std::string> jsons;
    bool all_pass = true;
    for (auto& f : files) {
      Submission sub;
      sub.spool_path = f.spool->path();
      sub.name = f.name;
      sub.facts = facts;
      sub.facts.file_name = f.name;
      sub.facts.declared_mime = f.content_type;
      ScanOptions opts;
      opts.scratch_dir = s_.spool_dir;
      Report report;
      double secs = 0;
      bool scanned = false;
      s_.run_scan([&] {
        auto current = s_.store.current();
        if (!current) current = policy;
        auto t0 = Clock::now();
        report = s_.pool ? s_.pool->scan(sub) : scan_submission(sub, *current, opts);
        if (s_.test_scan_delay_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(s_.test_scan_delay_ms));
        secs = std::chrono::duration<double>(Clock::now() - t0).count();
        scanned = true;
      });
      if (!scanned) return error(req, resp, 500, "internal error");
      apply_timeout(report);
      bool engine_error = false;
      for (const auto& o : report.objects)
        for (const auto& fd : o.findings) engine_error = engine_error || policy_lang::is_engine_error_finding(fd.id);
      if (engine_error) s_.metrics.count_engine_error();
      std::string verdict = report.decision.verdict_pass() ? "pass" : "quarantine";
      if (!report.decision.verdict_pass() && s_.hold_uploads) {
        std::string why;
        auto id = hold(report, f, facts, &why);
        if (!id) {
          internal_ = why;
          return busy(req, resp, "the upload was not accepted and could not be held for review; try again");
        }
        held_ids_ += (held_ids_.empty() ? "" : ",") + *id;
      }
      all_pass = all_pass && report.decision.verdict_pass();
      s_.metrics.count_scan(verdict, report.decision.profile.empty() ? profile_ : report.decision.profile, secs,
                            f.spool->size());
      files_log_.push_back({f.name, f.spool->size(), verdict, std::string(action_name(report.decision.action)),
                            report.id});
      jsons.push_back(report_to_json(report));
    }
    if (!held_ids_.empty()) resp.set("X-Sandgate-Quarantine-Id", held_ids_);
    if (!splitter) return send_json(req, resp, 200, jsons[0]);
    std::string body = std::string("{\"verdict\":\"") + (all_pass ? "pass" : "quarantine") + "\",\"reports\":[";
    for (size_t i = 0; i < jsons.size(); ++i) {
      if (i) body += ',';
      body += jsons[i];
    }
    body += "]}";
    send_json(req, resp, 200, body);
  }

  // The engine reports a passed time limit as the finding limits.time; over
  // HTTP that is a quarantine with reason engine.timeout (fail closed), even
  // if the policy's on_limit said otherwise.
  void apply_timeout(Report& report) {
    if (std::find(report.limits_hit.begin(), report.limits_hit.end(), "limits.time") == report.limits_hit.end())
      return;
    s_.metrics.count_engine_timeout();
    if (report.decision.action < Action::quarantine) report.decision.action = Action::quarantine;
    Reason r;
    r.rule = "engine.timeout";
    r.object = report.objects.empty() ? "" : report.objects[0].path;
    r.finding = "limits.time";
    report.decision.reasons.insert(report.decision.reasons.begin(), r);
  }

  void busy(HTTPServerRequest& req, HTTPServerResponse& resp, const std::string& why) {
    s_.metrics.count_rejected_busy();
    resp.set("Retry-After", std::to_string(s_.config.retry_after_s));
    error(req, resp, 503, why);
  }

  void method_not_allowed(HTTPServerRequest& req, HTTPServerResponse& resp, const char* allow) {
    resp.set("Allow", allow);
    error(req, resp, 405, "method " + req.getMethod() + " is not allowed here");
  }

  void error(HTTPServerRequest& req, HTTPServerResponse& resp, int status, const std::string& message) {
    std::string body = "{\"error\":";
    append_json_string(body, message);
    body += ",\"status\":" + std::to_string(status) + "}";
    error_ = message;
    send_json(req, resp, status, body);
  }

  void send_json(HTTPServerRequest& req, HTTPServerResponse& resp, int status, const std::string& body) {
    send(req, resp, status, "application/json", body);
  }

  void send(HTTPServerRequest& req, HTTPServerResponse& resp, int status, const std::string& type,
            const std::string& body) {
    status_ = status;
    if (resp.sent()) return;
    // A body we did not read to the end would be taken for the next request:
    // close the connection after answering.
    bool unread_body = !body_read_ && (req.getChunkedTransferEncoding() ||
                                       (req.hasContentLength() && req.getContentLength64() > 0));
    if (unread_body || s_.stopping.load()) resp.setKeepAlive(false);
    resp.setStatus(static_cast<HTTPResponse::HTTPStatus>(status));
    resp.setContentType(type);
    resp.set("Cache-Control", "no-store");
    resp.setContentLength64(static_cast<Poco::Int64>(body.size()));
    std::ostream& out = resp.send();
    if (req.getMethod() != "HEAD") out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
    s_.metrics.count_request(status);
    if (unread_body) linger(req);
  }

  // Lingering close (as Apache does): stop sending, then read and discard
  // what the client still sends for a short while, so that closing with
  // unread data does not reset the connection before the client has read
  // our answer.
  void linger(HTTPServerRequest& req) {
    if (s_.tls) return;  // a TLS shutdown is the TLS layer's business
    try {
      auto* impl = dynamic_cast<Poco::Net::HTTPServerRequestImpl*>(&req);
      if (!impl) return;
      Poco::Net::StreamSocket& sock = impl->socket();
      sock.shutdownSend();
      sock.setReceiveTimeout(Poco::Timespan(0, 200 * 1000));
      char sink[16 * 1024];
      auto until = Clock::now() + std::chrono::seconds(2);
      uint64_t drained = 0;
      while (Clock::now() < until && drained < (64ull << 20)) {
        int n = sock.receiveBytes(sink, sizeof sink);
        if (n <= 0) break;
        drained += static_cast<uint64_t>(n);
      }
    } catch (const Poco::Exception&) {
      // the client went away: nothing more to do
    }
  }

  void log(HTTPServerRequest& req) {
    double ms = std::chrono::duration<double, std::milli>(Clock::now() - started_).count();
    std::string l = "{\"time\":\"" + now_iso8601() + "\",\"event\":\"request\",\"client\":";
    append_json_string(l, req.clientAddress().host().toString());
    l += ",\"method\":";
    append_json_string(l, req.getMethod());
    l += ",\"path\":";
    append_json_string(l, path_);
    l += ",\"status\":" + std::to_string(status_);
    l += ",\"token\":";
    if (token_id_.empty()) l += "null";
    else append_json_string(l, token_id_);
    if (!profile_.empty()) {
      l += ",\"profile\":";
      append_json_string(l, profile_);
    }
    if (size_ > 0 || !files_log_.empty()) l += ",\"size\":" + std::to_string(size_);
    auto file_fields = [&](const FileLog& f) {
      l += "\"filename\":";
      append_json_string(l, f.name);
      l += ",\"file_size\":" + std::to_string(f.size) + ",\"verdict\":\"" + f.verdict + "\",\"action\":\"" +
           f.action + "\",\"report_id\":\"" + f.report_id + "\"";
    };
    if (files_log_.size() == 1) {
      l += ',';
      file_fields(files_log_[0]);
    } else if (!files_log_.empty()) {
      l += ",\"files\":[";
      for (size_t i = 0; i < files_log_.size(); ++i) {
        l += i ? ",{" : "{";
        file_fields(files_log_[i]);
        l += '}';
      }
      l += ']';
    }
    if (!error_.empty()) {
      l += ",\"error\":";
      append_json_string(l, error_);
    }
    if (!internal_.empty()) {
      l += ",\"internal\":";
      append_json_string(l, internal_);
    }
    char d[32];
    std::snprintf(d, sizeof d, "%.3f", ms);
    l += ",\"duration_ms\":";
    l += d;
    l += '}';
    s_.write_log(l);
  }

  ApiState& s_;
  Clock::time_point started_;
  Poco::URI::QueryParameters query_;
  std::string path_;
  std::string profile_;
  std::string token_id_;
  std::string held_ids_;  // quarantine ids of the held files of this request
  std::string error_;
  std::string internal_;
  uint64_t size_ = 0;
  bool body_read_ = false;
  int status_ = 0;
  std::vector<FileLog> files_log_;
};

}  // namespace

Poco::Net::HTTPRequestHandler* ApiHandlerFactory::createRequestHandler(const HTTPServerRequest&) {
  return new ApiHandler(state_);
}

}  // namespace sandgate
