// Shared helpers of the SMTP intake tests: a temporary spool directory and a
// DeliveryHandler that records what it was given.
#pragma once

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "gateway/smtp/smtp_session.h"

namespace sandgate::smtp::testing {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    char tmpl[] = "/tmp/sandgate-smtp-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline std::string read_file(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct RecordingHandler : DeliveryHandler {
  struct Delivered {
    Envelope envelope;
    std::string content;
    uint64_t size;
    std::string spool_path;
  };
  std::vector<Delivered> messages;
  Reply answer{250, "2.0.0 Ok: queued"};
  std::function<Reply()> answer_fn;
  Reply deliver(const Envelope& e, const std::string& spool, uint64_t size) override {
    messages.push_back({e, read_file(spool), size, spool});
    if (answer_fn) return answer_fn();
    return answer;
  }
};

}  // namespace sandgate::smtp::testing
