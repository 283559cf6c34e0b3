// Test helpers for the MIME unpacker suites: a recording UnpackContext and
// independent reference encoders (base64, uuencode) for building messages.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "unpack/mime/mime_unpacker.h"
#include "unpack/unpacker.h"

namespace sandgate::testing {

struct RecordedChild {
  ChildInfo info;
  std::string bytes;
  std::vector<Finding> findings;
  int finish_calls = 0;
  bool from_slice = false;

  bool has_finding(std::string_view id) const {
    return std::any_of(findings.begin(), findings.end(),
                       [&](const Finding& f) { return f.id == id; });
  }
};

class RecordingContext : public UnpackContext {
 public:
  std::vector<RecordedChild> children;
  std::vector<Finding> findings;
  Limits limit_values;
  size_t max_children = static_cast<size_t>(-1);  // begin_child/emit_child refuse past this
  size_t max_child_bytes = static_cast<size_t>(-1);
  int open_writers = 0;
  int max_open_writers = 0;

  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override;
  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override;
  void add_finding(Finding f) override { findings.push_back(std::move(f)); }
  bool should_stop() const override { return stopped; }
  const Limits& limits() const override { return limit_values; }
  bool account_output(uint64_t) override { return true; }
  // Password candidates are kept in the order given, with their source.
  void add_password_candidates(std::vector<std::string> p, std::string source) override {
    for (auto& x : p) passwords.push_back({std::move(x), source});
  }
  std::vector<PasswordCandidate> password_candidates() const override { return passwords; }
  std::vector<PasswordCandidate> passwords;

  bool has_finding(std::string_view id) const {
    return std::any_of(findings.begin(), findings.end(),
                       [&](const Finding& f) { return f.id == id; });
  }
  const RecordedChild* child(std::string_view name) const {
    for (const auto& c : children)
      if (c.info.name == name) return &c;
    return nullptr;
  }
  bool stopped = false;
};

// Runs the MIME unpacker on message and returns what it produced.
std::unique_ptr<RecordingContext> unpack_message(std::string message, MimeOptions options = {},
                                                 Limits limits = {});

std::string base64_encode(std::string_view data, size_t line_length = 76);
std::string uuencode(std::string_view data, std::string_view name);
// Replaces "\n" by "\r\n".
std::string crlf(std::string_view lf_text);

}  // namespace sandgate::testing
