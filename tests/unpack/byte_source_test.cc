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
  // A chunk never exceeds what is left, whatever the maximum asked for.
  SourceStream tail(src, 99990);
  auto last = tail.next_chunk(1 << 20);
  CHECK(last.size() == 10);
  CHECK(tail.next_chunk(1 << 20).empty());
  SourceStream past(src, 200000);
  CHECK(past.next_chunk().empty());
  std::remove(path.c_str());
  CHECK_FALSE(open_file_source(path, &err));
  CHECK(err.find(path) != std::string::npos);
  CHECK_FALSE(open_file_source("/tmp", &err));
}

TEST_CASE("view gives the same bytes as read_at without a copy, where it can") {
  auto mem = memory_source("0123456789");
  REQUIRE(mem->view());
  CHECK(std::string(reinterpret_cast<const char*>(mem->view()), 10) == "0123456789");
  auto slice = slice_source(mem, 3, 4);
  REQUIRE(slice->view());
  CHECK(std::string(reinterpret_cast<const char*>(slice->view()), 4) == "3456");

  std::string path = "/tmp/sandgate-bs-view.bin";
  std::string content;
  for (int i = 0; i < 300000; ++i) content.push_back(static_cast<char>((i * 7) & 0xff));
  {
    std::ofstream f(path, std::ios::binary);
    f << content;
  }
  std::string err;
  auto file = open_file_source(path, &err);
  REQUIRE(file);
  const unsigned char* v = file->view();
  REQUIRE(v);
  CHECK(file->view() == v);  // mapped once
  CHECK(std::string(reinterpret_cast<const char*>(v), content.size()) == content);
  auto fslice = slice_source(file, 1000, 50);
  CHECK(std::string(reinterpret_cast<const char*>(fslice->view()), 50) == content.substr(1000, 50));

  // A file under the mapping threshold (a copy is cheaper) and one over the
  // limit have no view: callers read.
  { std::ofstream(path + ".empty", std::ios::binary) << content.substr(0, 1000); }
  auto small = open_file_source(path + ".empty", &err);
  REQUIRE(small);
  CHECK(small->size() == 1000);
  CHECK(small->view() == nullptr);
  CHECK(small->read_string(0, 1000) == content.substr(0, 1000));
  {
    std::ofstream f(path + ".big", std::ios::binary);
    f.seekp(static_cast<std::streamoff>(ByteSource::kMaxMappedFile));
    f.put('x');
  }
  auto big = open_file_source(path + ".big", &err);
  REQUIRE(big);
  CHECK(big->view() == nullptr);
  CHECK(big->read_string(ByteSource::kMaxMappedFile, 1) == "x");
  std::remove(path.c_str());
  std::remove((path + ".empty").c_str());
  std::remove((path + ".big").c_str());
}

TEST_CASE("severity names round-trip") {
  for (auto s : {Severity::info, Severity::low, Severity::medium, Severity::high, Severity::critical})
    CHECK(parse_severity(severity_name(s)) == s);
  CHECK_FALSE(parse_severity("severe"));
}
