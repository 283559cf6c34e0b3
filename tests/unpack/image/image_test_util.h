// Helpers for the disk-image tests: a scratch directory, running the real
// Debian tools that build fixtures, and byte patching.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate::test {

class Scratch {
 public:
  Scratch() {
    char tmpl[] = "/tmp/sandgate-image-test-XXXXXX";
    if (!::mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
  }
  ~Scratch() { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
};

// Runs a shell command in dir; throws with the command on failure.
inline void sh(const std::string& dir, const std::string& cmd) {
  std::string full = "cd '" + dir + "' && (" + cmd + ") >/dev/null 2>&1";
  if (std::system(full.c_str()) != 0) throw std::runtime_error("fixture command failed: " + cmd);
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void spit(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline void put_le(std::string& s, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[off + i] = char((v >> (8 * i)) & 0xFF);
}
inline void put_be(std::string& s, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) s[off + i] = char((v >> (8 * (n - 1 - i))) & 0xFF);
}

inline std::string pattern(size_t n, int seed) {
  std::string s(n, '\0');
  uint32_t x = 2463534242u + uint32_t(seed);
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = char(x);
  }
  return s;
}

inline bool has_finding(const std::vector<Finding>& fs, std::string_view id) {
  for (const auto& f : fs)
    if (f.id == id) return true;
  return false;
}

}  // namespace sandgate::test
