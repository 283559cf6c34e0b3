// Prometheus text exposition of the service metrics (see metrics.h).
// Histogram buckets are cumulative in the output (le="..." counts every
// observation <= the bound), with the mandatory +Inf bucket, _sum and _count.
#include "gateway/http/metrics.h"

#include <charconv>

namespace sandgate {

namespace {

std::string number(double v) {
  // Shortest text that reads back as the same double ("0.005", not "0.0050000000000000001").
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

}  // namespace

const std::vector<double>& Metrics::duration_buckets() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                     0.25,  0.5,    1,     2.5,  5,     10,   30};
  return b;
}

Metrics::Metrics() : bucket_counts_(duration_buckets().size() + 1, 0) {}

std::string Metrics::escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

void Metrics::count_request(int status) {
  std::lock_guard lock(mu_);
  ++requests_by_status_[status];
}

void Metrics::count_scan(const std::string& verdict, const std::string& profile, double seconds,
                         uint64_t bytes) {
  std::lock_guard lock(mu_);
  ++scans_[{verdict, profile}];
  const auto& b = duration_buckets();
  size_t i = 0;
  while (i < b.size() && seconds > b[i]) ++i;
  ++bucket_counts_[i];
  duration_sum_ += seconds;
  ++duration_count_;
  bytes_scanned_ += bytes;
}

std::string Metrics::render(const Gauges& g) const {
  std::string o;
  auto head = [&](const char* name, const char* type, const char* help) {
    o += "# HELP ";
    o += name;
    o += ' ';
    o += help;
    o += "\n# TYPE ";
    o += name;
    o += ' ';
    o += type;
    o += '\n';
  };
  std::lock_guard lock(mu_);
  head("sandgate_http_requests_total", "counter", "HTTP requests answered, by status code.");
  for (const auto& [status, n] : requests_by_status_)
    o += "sandgate_http_requests_total{code=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  head("sandgate_scans_total", "counter", "Files scanned, by verdict and policy profile.");
  for (const auto& [key, n] : scans_)
    o += "sandgate_scans_total{verdict=\"" + escape_label(key.first) + "\",profile=\"" +
         escape_label(key.second) + "\"} " + std::to_string(n) + "\n";
  head("sandgate_scan_duration_seconds", "histogram", "Wall time of one file's scan.");
  uint64_t cumulative = 0;
  const auto& b = duration_buckets();
  for (size_t i = 0; i < b.size(); ++i) {
    cumulative += bucket_counts_[i];
    o += "sandgate_scan_duration_seconds_bucket{le=\"" + number(b[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  cumulative += bucket_counts_.back();
  o += "sandgate_scan_duration_seconds_bucket{le=\"+Inf\"} " + std::to_string(cumulative) + "\n";
  o += "sandgate_scan_duration_seconds_sum " + number(duration_sum_) + "\n";
  o += "sandgate_scan_duration_seconds_count " + std::to_string(duration_count_) + "\n";
  head("sandgate_scanned_bytes_total", "counter", "Bytes of submitted files scanned.");
  o += "sandgate_scanned_bytes_total " + std::to_string(bytes_scanned_) + "\n";
  head("sandgate_http_in_flight", "gauge", "Admitted /v1/scan requests (receiving, waiting or scanning).");
  o += "sandgate_http_in_flight " + std::to_string(g.in_flight) + "\n";
  head("sandgate_http_in_flight_limit", "gauge", "Admitted /v1/scan requests beyond which 503 is answered.");
  o += "sandgate_http_in_flight_limit " + std::to_string(g.max_in_flight) + "\n";
  head("sandgate_scan_queue_depth", "gauge", "Requests with a spooled body waiting for a scan worker.");
  o += "sandgate_scan_queue_depth " + std::to_string(g.queue_depth) + "\n";
  head("sandgate_http_rejected_busy_total", "counter", "Requests answered 503 because the service was full.");
  o += "sandgate_http_rejected_busy_total " + std::to_string(rejected_busy_.load()) + "\n";
  head("sandgate_policy_loaded", "gauge", "1 when a valid policy is loaded.");
  o += "sandgate_policy_loaded " + std::to_string(g.policy_loaded) + "\n";
  head("sandgate_policy_reloads_total", "counter", "Successful policy reloads.");
  o += "sandgate_policy_reloads_total " + std::to_string(g.policy_reloads) + "\n";
  head("sandgate_policy_reload_failures_total", "counter", "Policy reloads refused because of errors.");
  o += "sandgate_policy_reload_failures_total " + std::to_string(reload_failures_.load()) + "\n";
  head("sandgate_engine_errors_total", "counter", "Scans in which the engine failed on some object.");
  o += "sandgate_engine_errors_total " + std::to_string(engine_errors_.load()) + "\n";
  head("sandgate_engine_timeouts_total", "counter", "Scans stopped by their time limit.");
  o += "sandgate_engine_timeouts_total " + std::to_string(engine_timeouts_.load()) + "\n";
  if (workers_alive_.load() >= 0) {
    head("sandgate_worker_crashes_total", "counter",
         "Submissions lost to a scan worker that crashed, passed its deadline or ran out of memory.");
    for (const char* kind : {"crash", "timeout", "memory"}) {
      auto it = worker_failures_.find(kind);
      o += std::string("sandgate_worker_crashes_total{kind=\"") + kind + "\"} " +
           std::to_string(it == worker_failures_.end() ? 0 : it->second) + "\n";
    }
    head("sandgate_workers_alive", "gauge", "Scan worker processes running (idle or busy).");
    o += "sandgate_workers_alive " + std::to_string(workers_alive_.load()) + "\n";
  }
  if (smtp_enabled_.load()) {
    head("sandgate_smtp_messages_total", "counter",
         "Mail transactions answered after DATA, by the policy's action (error: not scanned) and the reply class.");
    for (const auto& [key, n] : smtp_messages_)
      o += "sandgate_smtp_messages_total{action=\"" + escape_label(key.first) + "\",reply=\"" + key.second +
           "\"} " + std::to_string(n) + "\n";
    head("sandgate_smtp_sessions_total", "counter", "SMTP connections accepted (refused ones included).");
    o += "sandgate_smtp_sessions_total " + std::to_string(smtp_sessions_.load()) + "\n";
    head("sandgate_smtp_sessions_refused_total", "counter",
         "SMTP connections answered 421 at once (too many connections, or shutting down).");
    o += "sandgate_smtp_sessions_refused_total " + std::to_string(smtp_refused_.load()) + "\n";
    head("sandgate_smtp_sessions_active", "gauge", "SMTP connections open now.");
    o += "sandgate_smtp_sessions_active " + std::to_string(smtp_active_.load()) + "\n";
  }
  return o;
}

void Metrics::count_smtp_message(const std::string& action, int reply_code) {
  const int cls = reply_code / 100;
  const std::string reply = cls >= 2 && cls <= 5 ? std::to_string(cls) + "xx" : "other";
  std::lock_guard lock(mu_);
  ++smtp_messages_[{action, reply}];
}

void Metrics::count_worker_failure(const std::string& kind) {
  std::lock_guard lock(mu_);
  ++worker_failures_[kind];
}

}  // namespace sandgate
