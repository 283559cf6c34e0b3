// Limits: the bounds every scan runs under. Values come from the policy; the
// defaults here are the engine's own and are what `sandgate scan` uses without one.
// Hitting any of them is a finding "limits.<name>", never a silent stop.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sandgate {

struct Limits {
  int max_depth = 12;                              // container nesting below the root
  uint64_t max_objects = 10000;                    // objects in one submission's tree
  uint64_t max_total_bytes = 1024ull << 20;        // unpacked bytes, all objects together
  uint64_t max_object_bytes = 256ull << 20;        // one unpacked object
  double max_ratio = 100.0;                        // unpacked bytes / container bytes
  uint64_t ratio_slack_bytes = 8ull << 20;         // ratio is only judged past this much output
  double max_seconds = 30.0;                       // wall time for one submission
  // Not a bound but travels with them: the passwords tried on encrypted
  // archives after the candidates found in the message itself (the policy's
  // `archive_passwords`; these are the ones malware samples and lures are
  // commonly shared with). Each costs a short probe per encrypted archive.
  std::vector<std::string> archive_passwords = {"infected", "malware", "virus", "1234", "123456", "password"};
};

}  // namespace sandgate
