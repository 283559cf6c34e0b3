// Tests for the archive unpacker's use of the confined 7zz on encrypted 7z:
// the password candidates open it, and no 7zz run outlives the scan's time
// (UnpackContext::seconds_left); and of the ARJ unpacker, which reads ARJ
// with it. The 7z is made with 7zz and the ARJ with arj at test time; the
// tests are skipped where 7zz is not installed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "tests/unpack/mime/mime_test_util.h"
#include "unpack/confined_7zz.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace sandgate {
namespace {

// A context whose scan has `left` seconds to go.
class TimedContext : public testing::RecordingContext {
 public:
  double left = 30.0;
  double seconds_left() const override { return left; }
};

// Writes `files` (name, bytes) into a scratch directory, runs `command` there
// (which must make `archive`), and returns the archive's bytes.
std::string make_with_tool(const std::vector<std::pair<std::string, std::string>>& files,
                           const std::string& command, const std::string& archive) {
  char tmpl[] = "/tmp/sandgate-7zz-test-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  std::string dir = tmpl;
  for (const auto& [name, bytes] : files) std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
  std::string cmd = "cd " + dir + " && " + command + " >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  std::ifstream f(dir + "/" + archive, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  std::system(("rm -rf " + dir).c_str());
  return ss.str();
}

// An encrypted 7z (data and names) of one file, made by 7zz; "" without 7zz.
std::string encrypted_7z(const std::string& password) {
  std::string tool = sevenzip::find_tool();
  if (tool.empty()) return {};
  return make_with_tool({{"Invoice.pdf.exe", "MZ" + std::string(4000, 'x')}},
                        tool + " a -bd -p" + password + " -mhe=on a.7z Invoice.pdf.exe", "a.7z");
}

// Unpacks `bytes`, which must be typed `label`, with that label's unpacker.
void unpack_as(const std::string& label, const std::string& bytes, TimedContext& ctx) {
  Object obj;
  obj.name = "archive." + label;
  obj.type = detect_type(*memory_source(bytes));
  REQUIRE(obj.type.label == label);
  obj.size = bytes.size();
  obj.bytes = memory_source(bytes);
  auto u = UnpackerRegistry::instance().create(label);
  REQUIRE(u != nullptr);
  u->unpack(obj, ctx);
}

void unpack_7z(const std::string& bytes, TimedContext& ctx) { unpack_as("7z", bytes, ctx); }

TEST_CASE("a candidate opens an encrypted 7z while the scan has time") {
  std::string z = encrypted_7z("Secret123");
  if (z.empty()) return;  // no 7zz here
  TimedContext ctx;
  ctx.passwords = {{"Secret123", "the subject"}};
  unpack_7z(z, ctx);
  CHECK(ctx.has_finding("archive.encrypted.opened"));
  REQUIRE(ctx.child("Invoice.pdf.exe") != nullptr);
  CHECK(ctx.child("Invoice.pdf.exe")->bytes.substr(0, 2) == "MZ");
}

TEST_CASE("no 7zz run starts once the scan's time is up: the archive stays encrypted") {
  std::string z = encrypted_7z("Secret123");
  if (z.empty()) return;
  TimedContext ctx;
  ctx.passwords = {{"Secret123", "the subject"}};
  ctx.left = 0.0;
  auto t0 = std::chrono::steady_clock::now();
  unpack_7z(z, ctx);
  double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  CHECK_FALSE(ctx.has_finding("archive.encrypted.opened"));
  CHECK(ctx.has_finding("archive.encrypted"));
  CHECK(ctx.child("Invoice.pdf.exe") == nullptr);
  CHECK(took < 1.0);
}

TEST_CASE("a 7zz run gets what is left of the scan, at most the whole limit") {
  TimedContext ctx;
  ctx.limit_values.max_seconds = 30;
  ctx.left = 2.5;
  CHECK(sevenzip::run_budget(ctx) == doctest::Approx(2.5));
  ctx.left = 100;
  CHECK(sevenzip::run_budget(ctx) == doctest::Approx(30));
  ctx.limit_values.max_seconds = 0.2;  // a limit under a second still allows one
  CHECK(sevenzip::run_budget(ctx) == doctest::Approx(1.0));
  ctx.left = -0.5;
  CHECK(sevenzip::run_budget(ctx) == 0.0);
}

// An ARJ archive of `files` (name, bytes), made by Debian's arj at test time.
std::string make_arj(const std::vector<std::pair<std::string, std::string>>& files) {
  REQUIRE_MESSAGE(std::system("command -v arj >/dev/null 2>&1") == 0,
                  "arj is not installed (deploy/setup.sh installs it)");
  std::string names;
  for (const auto& file : files) names += " '" + file.first + "'";
  return make_with_tool(files, "arj a -y a.arj" + names, "a.arj");
}

void unpack_arj(const std::string& bytes, TimedContext& ctx) { unpack_as("arj", bytes, ctx); }

TEST_CASE("ARJ: every file is a child, read by the confined 7zz") {
  if (sevenzip::find_tool().empty()) return;  // no 7zz here
  std::string exe = "MZ" + std::string(20000, '\x90');
  std::string arj = make_arj({{"Invoice.pdf.exe", exe}, {"readme.txt", "hello\n"}});
  TimedContext ctx;
  unpack_arj(arj, ctx);
  CHECK_FALSE(ctx.has_finding("unpack.error"));
  REQUIRE(ctx.child("Invoice.pdf.exe") != nullptr);
  CHECK(ctx.child("Invoice.pdf.exe")->bytes == exe);
  REQUIRE(ctx.child("readme.txt") != nullptr);
  CHECK(ctx.child("readme.txt")->bytes == "hello\n");
}

TEST_CASE("ARJ: a damaged archive is an error, and what was readable is kept") {
  if (sevenzip::find_tool().empty()) return;
  std::string arj = make_arj({{"a.txt", std::string(3000, 'a')}, {"b.txt", std::string(3000, 'b')}});
  for (size_t cut : {arj.size() / 2, arj.size() - 10, size_t{40}}) {
    CAPTURE(cut);
    TimedContext ctx;
    unpack_arj(arj.substr(0, cut), ctx);
    CHECK(ctx.has_finding("unpack.error"));
  }
  // Past the limits: nothing is extracted.
  TimedContext small;
  small.limit_values.max_objects = 1;
  unpack_arj(arj, small);
  CHECK(small.has_finding("unpack.error"));
  CHECK(small.children.empty());
}

}  // namespace
}  // namespace sandgate
