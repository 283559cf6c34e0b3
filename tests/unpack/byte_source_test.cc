#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

using namespace sandgate;

TEST_CASE("memory source reads are clipped to its size") {
  auto src = memory_source("hello world");
  CHECK(src->size() == 11);
  char buf[32];
  CHECK(src->read_at(6, buf, sizeof buf) == 5);
  CHECK(std::string(buf, 5) == "world");
  CHECK(src->read_at(11, buf, 1) == 0);
  CHECK(src->read_at(1000, buf, 1) == 0);
  CHECK(src->read_string(4, 3) == "o w");
}

TEST_CASE("slices are windows clipped to the base") {
  auto base = memory_source("0123456789");
  auto s = slice_source(base, 3, 4);
  CHECK(s->size() == 4);
  CHECK(s->read_string(0, 100) == "3456");
  auto past = slice_source(base, 8, 100);
  CHECK(past->size() == 2);
  auto beyond = slice_source(base, 50, 5);
  CHECK(beyond->size() == 0);
}

TEST_CASE("file source reads a regular file and refuses the rest") {
  std::string path = "/tmp/sandgate-bs-test.bin";
  {
    std::ofstream f(path, std::ios::binary);
    for (int i = 0; i < 100000; ++i) f.put(static_cast<char>(i & 0xff));
  }
  std::string err;
  auto src = open_file_source(path, &err);
  REQUIRE(src);
  CHECK(src->size() == 100000);
  CHECK(static_cast<unsigned char>(src->read_string(99999, 10)[0]) == (99999 & 0xff));
  SourceStream in(src);
  uint64_t total = 0;
  for (auto c = in.next_chunk(4096); !c.empty(); c = in.next_chunk(4096)) total += c.size();
  CHECK(total == 100000);
  std::remove(path.c_str());
  CHECK_FALSE(open_file_source(path, &err));
  CHECK(err.find(path) != std::string::npos);
  CHECK_FALSE(open_file_source("/tmp", &err));
}

TEST_CASE("severity names round-trip") {
  for (auto s : {Severity::info, Severity::low, Severity::medium, Severity::high, Severity::critical})
    CHECK(parse_severity(severity_name(s)) == s);
  CHECK_FALSE(parse_severity("severe"));
}
