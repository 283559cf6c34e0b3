// http_load: an open-loop load generator for POST /v1/scan, to measure latency
// at a fixed request rate (the "p99 at half the peak rate" target).
//
// Why our own: Debian 12 has no wrk2, and `hey -q` paces each of its workers
// with its own ticker, all started together, so N workers send N requests in
// the same instant every 1/q seconds: a burst generator, not a fixed rate.
// Here request k is due at start + k/rate, requests are spread round-robin
// over keep-alive connections, and latency is measured from the time a request
// was due, not from when a busy connection got round to sending it (so a
// stalled server cannot hide its stalls: no coordinated omission).
//
//   http_load URL FILE RATE [CONNECTIONS=32] [SECONDS=10]
// Prints requests, errors, achieved rate and latency p50/p90/p99/p99.9/max.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

namespace {

using Clock = std::chrono::steady_clock;

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: http_load URL FILE RATE [CONNECTIONS=32] [SECONDS=10]\n");
    return 2;
  }
  Poco::URI uri(argv[1]);
  std::ifstream in(argv[2], std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "http_load: cannot read %s\n", argv[2]);
    return 2;
  }
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const double rate = std::atof(argv[3]);
  const int conns = argc > 4 ? std::atoi(argv[4]) : 32;
  const double seconds = argc > 5 ? std::atof(argv[5]) : 10;
  if (rate <= 0 || conns <= 0 || seconds <= 0) {
    std::fprintf(stderr, "http_load: RATE, CONNECTIONS and SECONDS must be positive\n");
    return 2;
  }
  const auto total = static_cast<long>(rate * seconds);
  const auto interval = std::chrono::duration<double>(1.0 / rate);
  const auto start = Clock::now() + std::chrono::milliseconds(200);

  std::mutex mu;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<size_t>(total));
  std::atomic<long> errors{0};

  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
      session.setKeepAlive(true);
      session.setTimeout(Poco::Timespan(30, 0));
      std::vector<double> mine;
      for (long k = c; k < total; k += conns) {
        auto due = start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(k));
        std::this_thread::sleep_until(due);
        try {
          Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, uri.getPathAndQuery(),
                                     Poco::Net::HTTPMessage::HTTP_1_1);
          req.setContentType("application/octet-stream");
          req.setContentLength(static_cast<std::streamsize>(body.size()));
          req.setKeepAlive(true);
          session.sendRequest(req) << body;
          Poco::Net::HTTPResponse resp;
          std::istream& rs = session.receiveResponse(resp);
          std::string sink;
          Poco::StreamCopier::copyToString(rs, sink);
          if (resp.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) errors.fetch_add(1);
        } catch (const Poco::Exception&) {
          errors.fetch_add(1);
          session.reset();
        }
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - due).count());
      }
      std::lock_guard lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  std::printf("requests %zu errors %ld rate %.0f/s (asked %.0f/s) latency ms p50 %.1f p90 %.1f p99 %.1f "
              "p99.9 %.1f max %.1f\n",
              latencies_ms.size(), errors.load(), static_cast<double>(latencies_ms.size()) / elapsed, rate,
              percentile(latencies_ms, 0.5), percentile(latencies_ms, 0.9), percentile(latencies_ms, 0.99),
              percentile(latencies_ms, 0.999), latencies_ms.empty() ? 0.0 : latencies_ms.back());
  return errors.load() == 0 ? 0 : 1;
}
