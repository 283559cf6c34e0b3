// Tests for unpack/archive/rar5_headers: which RAR 5 entries are encrypted,
// on archives written by tests/e2e/rar_writer.py (the committed fuzz seeds;
// libarchive reads the writer's plain archives back, tests/e2e), and on every
// truncation and single-byte corruption of them.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "unpack/archive/rar5_headers.h"

#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

namespace sandgate {
namespace {

std::string seed(const std::string& name) {
  std::ifstream f(std::string(RAR5_SEEDS) + "/" + name, std::ios::binary);
  REQUIRE(f.good());
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

Rar5Encryption walk(const std::string& bytes, size_t max_blocks = 1000) {
  return read_rar5_encryption(*memory_source(bytes), max_blocks);
}

TEST_CASE("a plain RAR 5 has no encrypted entries") {
  auto r = walk(seed("plain.rar"));
  CHECK(r.rar5);
  CHECK_FALSE(r.damaged);
  CHECK_FALSE(r.headers_encrypted);
  CHECK(r.encrypted_files.empty());
  CHECK(r.blocks == 4);  // main, two files, end
}

TEST_CASE("file encryption records name the encrypted entries") {
  auto r = walk(seed("encrypted.rar"));
  CHECK(r.rar5);
  CHECK_FALSE(r.damaged);
  CHECK(r.encrypted_files == std::set<std::string>{"cv.pdf", "note.txt"});
}

TEST_CASE("an archive encryption header means encrypted headers") {
  auto r = walk(seed("encrypted_headers.rar"));
  CHECK(r.headers_encrypted);
  CHECK(r.encrypted_files.empty());
  CHECK(r.blocks == 1);
}

TEST_CASE("not RAR 5: nothing is claimed") {
  CHECK_FALSE(walk("Rar!\x1a\x07\x00 rar 4 signature").rar5);
  CHECK_FALSE(walk("").rar5);
  CHECK_FALSE(walk("PK\x03\x04").rar5);
}

TEST_CASE("the block limit bounds the walk") {
  auto r = walk(seed("encrypted.rar"), 2);  // main and the first file only
  CHECK(r.blocks == 2);
  CHECK(r.encrypted_files == std::set<std::string>{"cv.pdf"});
}

TEST_CASE("every truncation: a finding, never a crash; complete headers still count") {
  const std::string full = seed("encrypted.rar");
  const size_t first_data_end = full.find("note.txt");  // inside the second file header
  REQUIRE(first_data_end != std::string::npos);
  for (size_t n = 0; n < full.size(); ++n) {
    auto r = walk(full.substr(0, n));
    CHECK(r.encrypted_files.size() <= 2);
    // Once the whole first file (header and data) is there, it is reported.
    if (n >= first_data_end) CHECK(r.encrypted_files.count("cv.pdf") == 1);
  }
}

TEST_CASE("every single-byte corruption: no crash, and a damaged header stops the walk") {
  for (const char* name : {"plain.rar", "encrypted.rar", "encrypted_headers.rar"}) {
    const std::string full = seed(name);
    for (size_t i = 8; i < full.size(); ++i) {
      std::string bad = full;
      bad[i] = static_cast<char>(bad[i] ^ 0x5a);
      auto r = walk(bad);
      CHECK(r.rar5);
      CHECK(r.encrypted_files.size() <= 2);
    }
  }
}

}  // namespace
}  // namespace sandgate
