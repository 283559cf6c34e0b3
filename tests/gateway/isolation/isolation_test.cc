// The confined worker pool (gateway/isolation): reports come back identical
// to in-process scans; planted faults (armed by SANDGATE_TEST_FAULT, see
// worker_pool.cc) are contained with the right engine.* reason and the
// profile's on_error decision; workers are confined (rlimits, seccomp,
// unprivileged), replaced after jobs_per_worker and follow policy reloads.
// Also report_from_json, the inverse of report_to_json.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <archive.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "gateway/config.h"
#include "gateway/http/metrics.h"
#include "gateway/serve.h"
#include "gateway/isolation/sandbox.h"
#include "gateway/isolation/worker_pool.h"
#include "gateway/isolation/wire.h"
#include "gateway/report_json.h"
#include "policies/language/policy_store.h"
#include "tests/gateway/test_archives.h"

using namespace sandgate;
using sandgate::testing::make_archive;
using sandgate::testing::make_pe;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

// A directory with a small policy (1 s time limit, so hangs are quick).
struct Fixture {
  fs::path dir;
  fs::path policy;
  Fixture() {
    char tmpl[] = "/tmp/sandgate-iso-test-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    dir = tmpl;
    ::chmod(dir.c_str(), 0755);
    policy = dir / "policy.yaml";
    write_policy("isolation-test");
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  void write_policy(const std::string& name) {
    std::ofstream(policy) << "name: " << name << R"(
limits:
  seconds: 1
profiles:
  mail:
    on_error: tempfail
    on_limit: quarantine
    default: pass
    rules:
      - name: executables
        when: {finding: type.executable}
        action: quarantine
  upload:
    on_error: quarantine
    on_limit: quarantine
    default: pass
    rules:
      - name: executables
        when: {finding: type.executable}
        action: quarantine
)";
  }
  std::string file(const std::string& name, const std::string& bytes) {
    fs::path p = dir / name;
    std::ofstream(p, std::ios::binary) << bytes;
    ::chmod(p.c_str(), 0600);
    return p.string();
  }
  WorkerPoolOptions options(int workers = 2) const {
    WorkerPoolOptions o;
    o.workers = workers;
    o.grace_seconds = 1;
    o.limits.address_space_bytes = 512ull << 20;
    o.scratch_root = (dir / "scratch").string();
    return o;
  }
};

Submission submission(const std::string& path, const std::string& name, const std::string& channel = "upload") {
  Submission s;
  s.spool_path = path;
  s.name = name;
  s.facts.channel = channel;
  s.facts.file_name = name;
  return s;
}

bool has_finding(const Report& r, const std::string& id) {
  for (const auto& o : r.objects)
    if (o.has_finding(id)) return true;
  return false;
}

std::string finding_evidence(const Report& r, const std::string& id) {
  for (const auto& o : r.objects)
    for (const auto& f : o.findings)
      if (f.id == id) return f.evidence;
  return {};
}

bool has_reason(const Report& r, const std::string& rule, const std::string& finding) {
  for (const auto& x : r.decision.reasons)
    if (x.rule == rule && x.finding == finding) return true;
  return false;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct FaultArmed {
  FaultArmed() { ::setenv("SANDGATE_TEST_FAULT", "1", 1); }
  ~FaultArmed() { ::unsetenv("SANDGATE_TEST_FAULT"); }
};

// A report with every field set: nested objects, facts, findings, limits.
Report sample_report() {
  Report r;
  r.id = "0b6c1a4e-0000-4000-8000-000000000001";
  r.decision.action = Action::quarantine;
  r.decision.reasons = {{"block-executables", "offer.zip/Job.pdf.exe", "type.executable"},
                        {"on_error", "offer.zip", "unpack.error"}};
  r.decision.policy_name = "default";
  r.decision.profile = "mail";
  r.decision.policy_sha256 = std::string(64, 'a');
  auto add = [&](int depth, const std::string& path, const std::string& name) {
    Object o;
    o.index = static_cast<int>(r.objects.size());
    o.depth = depth;
    o.path = path;
    o.name = name;
    r.objects.push_back(o);
    return &r.objects.back();
  };
  Object* root = add(0, "offer.eml", "offer.eml");
  root->size = 12345;
  root->sha256 = std::string(64, '1');
  root->sha1 = std::string(40, '2');
  root->md5 = std::string(32, '3');
  root->type = {"message/rfc822", "eml"};
  root->facts["mail.from"] = "a@example.org \"quoted\"\n";
  Object* zip = add(1, "offer.eml/offer.zip", "offer.zip");
  zip->encrypted = true;
  zip->declared_mime = "application/zip";
  zip->findings.push_back({"unpack.error", Severity::medium, "bad entry", "offset 12"});
  Object* exe = add(2, "offer.eml/offer.zip/Job.pdf.exe", "Job.pdf.exe");
  exe->truncated = true;
  exe->findings.push_back({"type.executable", Severity::high, "an executable", ""});
  exe->findings.push_back({"name.double_extension", Severity::critical, "Job.pdf.exe \xe2\x80\xae", ""});
  add(1, "offer.eml/note.txt", "note.txt");
  add(2, "offer.eml/note.txt/x", "");  // a second subtree under another parent
  r.objects[0].parent = -1;
  r.objects[1].parent = 0;
  r.objects[2].parent = 1;
  r.objects[3].parent = 0;
  r.objects[4].parent = 3;
  r.limits_hit = {"limits.depth", "limits.ratio"};
  r.duration_ms = 12.25;

  return r;
}

// Every field of back equals r's (parent and index rebuilt by the reader).
void check_same_report(const Report& back, const Report& r) {
  CHECK(back.id == r.id);
  CHECK(back.decision.action == Action::quarantine);
  CHECK_FALSE(back.decision.verdict_pass());
  REQUIRE(back.decision.reasons.size() == 2);
  CHECK(back.decision.reasons[0].object == "offer.zip/Job.pdf.exe");
  CHECK(back.decision.profile == "mail");
  CHECK(back.decision.policy_sha256 == r.decision.policy_sha256);
  REQUIRE(back.objects.size() == r.objects.size());
  for (size_t i = 0; i < r.objects.size(); ++i) {
    CAPTURE(i);
    const Object& a = r.objects[i];
    const Object& b = back.objects[i];
    CHECK(b.index == a.index);
    CHECK(b.parent == a.parent);
    CHECK(b.depth == a.depth);
    CHECK(b.path == a.path);
    CHECK(b.name == a.name);
    CHECK(b.size == a.size);
    CHECK(b.sha256 == a.sha256);
    CHECK(b.sha1 == a.sha1);
    CHECK(b.md5 == a.md5);
    CHECK(b.type.mime == a.type.mime);
    CHECK(b.type.label == a.type.label);
    CHECK(b.declared_mime == a.declared_mime);
    CHECK(b.encrypted == a.encrypted);
    CHECK(b.truncated == a.truncated);
    CHECK(b.facts == a.facts);
    REQUIRE(b.findings.size() == a.findings.size());
    for (size_t k = 0; k < a.findings.size(); ++k) {
      CHECK(b.findings[k].id == a.findings[k].id);
      CHECK(b.findings[k].severity == a.findings[k].severity);
      CHECK(b.findings[k].message == a.findings[k].message);
      CHECK(b.findings[k].evidence == a.findings[k].evidence);
    }
  }
  CHECK(back.limits_hit == r.limits_hit);
  CHECK(back.duration_ms == doctest::Approx(12.25));
}

}  // namespace

TEST_CASE("report_from_json inverts report_to_json") {
  const Report r = sample_report();
  const std::string json = report_to_json(r);
  Report back;
  std::string error;
  REQUIRE_MESSAGE(report_from_json(json, back, &error), error);
  CHECK(report_to_json(back) == json);
  check_same_report(back, r);
}

TEST_CASE("report_from_json refuses what is not a report, without throwing") {
  Report r;
  std::string error;
  for (const char* bad : {"", "{", "[]", "{}", "null", "{\"action\":\"pass\"}",
                          "{\"action\":\"maybe\",\"reasons\":[],\"policy\":{},\"objects\":[],\"limits\":{\"hit\":[]}}",
                          "{\"action\":\"pass\",\"reasons\":[],\"policy\":{},\"objects\":[{\"path\":\"a\",\"depth\":2,"
                          "\"type\":{},\"findings\":[]}],\"limits\":{\"hit\":[]}}",
                          "{\"action\":\"pass\",\"reasons\":[1],\"policy\":{},\"objects\":[],\"limits\":{\"hit\":[]}}",
                          "{\"action\":\"pass\",\"reasons\":[],\"policy\":{},\"objects\":[],\"limits\":{\"hit\":[7]}}"}) {
    CAPTURE(bad);
    error.clear();
    CHECK_FALSE(report_from_json(bad, r, &error));
    CHECK_FALSE(error.empty());
  }
}

TEST_CASE("report_from_wire inverts report_to_wire, and the JSON printed from either is the same") {
  const Report r = sample_report();
  const std::string wire = isolation::report_to_wire(r);
  Report back;
  std::string error;
  REQUIRE_MESSAGE(isolation::report_from_wire(wire, back, &error), error);
  check_same_report(back, r);
  CHECK(report_to_json(back) == report_to_json(r));
  CHECK(isolation::report_to_wire(back) == wire);
}

TEST_CASE("report_from_wire refuses every truncation, forged counts and out-of-range values") {
  const std::string wire = isolation::report_to_wire(sample_report());
  Report r;
  std::string error;
  for (size_t n = 0; n < wire.size(); ++n) {
    CAPTURE(n);
    error.clear();
    CHECK_FALSE(isolation::report_from_wire(std::string_view(wire).substr(0, n), r, &error));
    CHECK_FALSE(error.empty());
  }
  CHECK_FALSE(isolation::report_from_wire(wire + '\0', r, &error));
  CHECK(error == "trailing bytes after the report");

  // A minimal report: magic, id "", action, no reasons, three empty policy
  // strings, `objects` objects, then limits and duration.
  auto minimal = [](uint8_t action, uint32_t objects, const std::string& object_bytes, double duration) {
    std::string w;
    auto u32 = [&](uint32_t v) { for (int i = 0; i < 4; ++i) w += static_cast<char>((v >> (8 * i)) & 0xff); };
    u32(0x31524753);
    u32(0);
    w += static_cast<char>(action);
    u32(0);
    u32(0), u32(0), u32(0);
    u32(objects);
    w += object_bytes;
    u32(0);
    uint64_t bits;
    std::memcpy(&bits, &duration, sizeof bits);
    for (int i = 0; i < 8; ++i) w += static_cast<char>((bits >> (8 * i)) & 0xff);
    return w;
  };
  REQUIRE(isolation::report_from_wire(minimal(0, 0, "", 1.0), r, &error));
  CHECK(r.objects.empty());
  CHECK_FALSE(isolation::report_from_wire(minimal(6, 0, "", 1.0), r, &error));
  CHECK(error == "unknown action");
  CHECK_FALSE(isolation::report_from_wire(minimal(0, 0xffffffffu, "", 1.0), r, &error));
  CHECK(error == "a count larger than the message");
  CHECK_FALSE(isolation::report_from_wire(minimal(0, 0, "", std::nan("")), r, &error));
  CHECK(error == "duration out of range");
  // One object: eight empty strings, then depth, size, flags, no facts, no findings.
  auto object = [](uint32_t depth, uint8_t flags) {
    std::string o(8 * 4, '\0');
    for (int i = 0; i < 4; ++i) o += static_cast<char>((depth >> (8 * i)) & 0xff);
    o += std::string(8, '\0');
    o += static_cast<char>(flags);
    o += std::string(8, '\0');
    return o;
  };
  REQUIRE(isolation::report_from_wire(minimal(4, 2, object(0, 3) + object(1, 0), 1.0), r, &error));
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[1].parent == 0);
  CHECK(r.objects[0].encrypted);
  CHECK(r.objects[0].truncated);
  CHECK_FALSE(isolation::report_from_wire(minimal(0, 1, object(1, 0), 1.0), r, &error));
  CHECK(error == "the objects are not in pre-order");
  CHECK_FALSE(isolation::report_from_wire(minimal(0, 2, object(0, 0) + object(2, 0), 1.0), r, &error));
  CHECK(error == "the objects are not in pre-order");
  CHECK_FALSE(isolation::report_from_wire(minimal(0, 1, object(0, 4), 1.0), r, &error));
  CHECK(error == "unknown object flags");
  CHECK_FALSE(isolation::report_from_wire(report_to_json(sample_report()), r, &error));
  CHECK(error == "not a report");
}

TEST_CASE("a job travels to the worker whole, and a malformed one is refused") {
  Submission sub;
  sub.name = "message.eml";
  sub.facts.channel = "mail";
  sub.facts.profile = "mail";
  sub.facts.sender = "a@example.org";
  sub.facts.recipients = {"b@example.org", "c@example.org"};
  sub.facts.client_address = "::1";
  sub.facts.file_name = "x\ny";
  sub.facts.declared_mime = "message/rfc822";
  const std::string wire = isolation::job_to_wire(sub, 31.5);
  Submission back;
  double seconds = 0;
  REQUIRE(isolation::job_from_wire(wire, back, seconds));
  CHECK(seconds == 31.5);
  CHECK(back.name == sub.name);
  CHECK(back.facts.channel == "mail");
  CHECK(back.facts.profile == "mail");
  CHECK(back.facts.sender == sub.facts.sender);
  CHECK(back.facts.recipients == sub.facts.recipients);
  CHECK(back.facts.client_address == "::1");
  CHECK(back.facts.file_name == "x\ny");
  CHECK(back.facts.declared_mime == "message/rfc822");
  for (size_t n = 0; n < wire.size(); ++n) {
    Submission s;
    CHECK_FALSE(isolation::job_from_wire(std::string_view(wire).substr(0, n), s, seconds));
  }
  CHECK_FALSE(isolation::job_from_wire(wire + 'x', back, seconds));
  CHECK_FALSE(isolation::job_from_wire(isolation::job_to_wire(sub, -1), back, seconds));
}

TEST_CASE("a scan in a worker gives the same report as in-process") {
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPool pool(fx.options(1), store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);

  std::vector<std::string> files = {
      fx.file("hello.txt", "hello, world\n"),
      fx.file("offer.zip", make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE,
                                        {{"Job.pdf.exe", make_pe()}, {"notes/readme.txt", "read me"}})),
      fx.file("nested.tar.gz", make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_GZIP,
                                            {{"inner.zip", make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE,
                                                                        {{"a.txt", "aaaa"}})}})),
  };
  for (const auto& path : files) {
    CAPTURE(path);
    Submission sub = submission(path, fs::path(path).filename().string());
    Report in = scan_submission(sub, *store.current());
    Report iso = pool.scan(sub);
    CHECK(iso.decision.action == in.decision.action);
    CHECK(iso.decision.policy_sha256 == in.decision.policy_sha256);
    REQUIRE(iso.objects.size() == in.objects.size());
    for (size_t i = 0; i < in.objects.size(); ++i) {
      CHECK(iso.objects[i].path == in.objects[i].path);
      CHECK(iso.objects[i].parent == in.objects[i].parent);
      CHECK(iso.objects[i].sha256 == in.objects[i].sha256);
      CHECK(iso.objects[i].type.label == in.objects[i].type.label);
      CHECK(iso.objects[i].findings.size() == in.objects[i].findings.size());
    }
  }
  // A disk image the confined 7zz reads (unpack/image/sevenzip_fs.cc): the
  // worker's filter lets it fork, exec and run 7zz.
  if (fs::exists("/usr/sbin/mkntfs") && fs::exists("/usr/sbin/ntfscp") && fs::exists("/usr/bin/7zz")) {
    const std::string img = (fx.dir / "n.img").string();
    const std::string exe = fx.file("pe.exe", make_pe());
    fs::resize_file(fx.file("n.img", ""), 8 << 20);
    REQUIRE(std::system(("/usr/sbin/mkntfs -q -F -Q " + img + " >/dev/null 2>&1").c_str()) == 0);
    REQUIRE(std::system(("/usr/sbin/ntfscp " + img + " " + exe + " Invoice.pdf.exe >/dev/null 2>&1").c_str()) == 0);
    Submission sub = submission(img, "n.img");
    Report in = scan_submission(sub, *store.current());
    Report iso = pool.scan(sub);
    CAPTURE(report_to_json(iso));
    CHECK(iso.decision.action == Action::quarantine);
    CHECK(iso.decision.action == in.decision.action);
    REQUIRE(iso.objects.size() == in.objects.size());
    CHECK(iso.objects.size() >= 2);
    for (size_t i = 0; i < in.objects.size(); ++i) CHECK(iso.objects[i].path == in.objects[i].path);
    CHECK_FALSE(has_finding(iso, "engine.crash"));
    CHECK_FALSE(has_finding(iso, "unpack.error"));
  }
  // The zip's executable was seen inside the worker.
  Report zip = pool.scan(submission(files[1], "offer.zip"));
  CHECK(zip.decision.action == Action::quarantine);
  CHECK(has_finding(zip, "type.executable"));
  CHECK(pool.stats().crashes == 0);
  // The submission file is given back to its owner after the scan.
  struct stat st {};
  REQUIRE(::stat(files[1].c_str(), &st) == 0);
  CHECK(st.st_uid == ::geteuid());
}

TEST_CASE("a large signed PE is verified inside a worker, on its second thread") {
  // Over 256 KiB of digest, the Authenticode signature is parsed and
  // verified on a helper thread while the worker hashes the file
  // (analyzers/pe/authenticode.h): the seccomp filter must let the worker
  // start that thread, and the verdict must be the in-process one.
  if (std::system("command -v osslsigncode >/dev/null && command -v openssl >/dev/null") != 0) {
    MESSAGE("osslsigncode or openssl missing: skipped");
    return;
  }
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPool pool(fx.options(1), store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  // make_pe's one section grown to 512 KiB of code-like bytes.
  std::string pe = make_pe();
  const uint32_t body = 512u << 10;
  const size_t sec = 0x98 + 0xf0;
  testing::put32(pe, sec + 8, body);
  testing::put32(pe, sec + 16, body);
  testing::put32(pe, 0x98 + 56, 0x1000 + body);
  pe.resize(0x200);
  for (uint32_t i = 0; i < body; ++i) pe.push_back(static_cast<char>((i * 2654435761u) >> 26));
  fx.file("big.exe", pe);
  const std::string d = fx.dir.string();
  REQUIRE(std::system(("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem "
                       "-out c.pem -days 30 -subj /CN=Sandgate-Isolation-Test >/dev/null 2>&1 && "
                       "osslsigncode sign -certs c.pem -key k.pem -in big.exe -out signed.exe "
                       ">/dev/null 2>&1").c_str()) == 0);
  Submission sub = submission(d + "/signed.exe", "signed.exe");
  Report in = scan_submission(sub, *store.current());
  Report iso = pool.scan(sub);
  CAPTURE(report_to_json(iso));
  CHECK(has_finding(in, "pe.authenticode.untrusted"));  // self-signed: not an anchor
  CHECK(has_finding(iso, "pe.authenticode.untrusted"));
  CHECK_FALSE(has_finding(iso, "engine.crash"));
  CHECK(pool.stats().crashes == 0);
  REQUIRE(iso.objects.size() == in.objects.size());
  for (size_t i = 0; i < in.objects.size(); ++i)
    CHECK(iso.objects[i].findings.size() == in.objects[i].findings.size());
}

TEST_CASE("planted faults are contained: the right reason, on_error, the worker replaced") {
  FaultArmed armed;
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  Metrics metrics;
  WorkerPool pool(fx.options(2), store, &metrics);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  const std::string clean = fx.file("clean.txt", "nothing to see\n");

  struct Case {
    const char* kind;
    const char* finding;
    const char* evidence;
  };
  for (Case c : {Case{"crash", "engine.crash", "SIGSEGV"}, Case{"abort", "engine.crash", "SIGABRT"},
                 Case{"syscall", "engine.crash", "seccomp"}, Case{"alloc", "engine.memory", "bad_alloc"},
                 Case{"hang", "engine.timeout", "killed"}}) {
    CAPTURE(c.kind);
    // Without RLIMIT_AS (sanitizer builds) an allocation fault would eat the
    // machine's memory before failing: not planted there.
    if (std::string(c.kind) == "alloc" && !address_space_limited()) continue;
    for (const char* channel : {"upload", "mail"}) {
      CAPTURE(channel);
      // The marker in the bytes (as in a mail body) or in the name.
      const std::string path =
          fx.file(std::string("f-") + c.kind + ".txt", std::string("x sandgate-test-fault-") + c.kind + " y\n");
      auto t0 = Clock::now();
      Report r = pool.scan(submission(path, "upload.txt", channel));
      double secs = std::chrono::duration<double>(Clock::now() - t0).count();
      CHECK(secs < 10);
      CHECK(has_finding(r, c.finding));
      CHECK(finding_evidence(r, c.finding).find(c.evidence) != std::string::npos);
      const Action on_error = std::string(channel) == "mail" ? Action::tempfail : Action::quarantine;
      CHECK(r.decision.action == on_error);
      CHECK(has_reason(r, "on_error", c.finding));
      CHECK(r.decision.policy_name == "isolation-test");
      REQUIRE(r.objects.size() == 1);
      CHECK(r.objects[0].path == "upload.txt");
      CHECK(r.objects[0].sha256.size() == 64);
      // The service goes on: a normal scan right after succeeds.
      Report ok = pool.scan(submission(clean, "clean.txt", channel));
      CHECK(ok.decision.action == Action::pass);
      CHECK_FALSE(has_finding(ok, c.finding));
    }
  }
  auto s = pool.stats();
  CHECK(s.crashes == 6);
  CHECK(s.memory == (address_space_limited() ? 2u : 0u));
  CHECK(s.timeouts == 2);
  CHECK(s.alive <= 2);
  // The pool refills itself in the background: both workers idle and ready
  // again without another job asking for one.
  for (int i = 0; i < 600 && pool.idle_worker_pids().size() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK(pool.idle_worker_pids().size() == 2);
  CHECK(pool.stats().alive == 2);
  const std::string text = metrics.render({});
  CHECK(text.find("sandgate_worker_crashes_total{kind=\"crash\"} 6") != std::string::npos);
  CHECK(text.find("sandgate_worker_crashes_total{kind=\"timeout\"} 2") != std::string::npos);
  if (address_space_limited())
    CHECK(text.find("sandgate_worker_crashes_total{kind=\"memory\"} 2") != std::string::npos);
  CHECK(text.find("sandgate_workers_alive ") != std::string::npos);
}

TEST_CASE("a fault inside a nested object names that object and the stage") {
  FaultArmed armed;
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPool pool(fx.options(1), store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  for (const char* kind : {"crash", "hang"}) {
    CAPTURE(kind);
    // The marker is only in the entry's name, compressed (so the check of
    // the submission's own bytes before the scan does not see it): the
    // worker reaches it inside the archive.
    const std::string entry = std::string("cv-sandgate-test-fault-") + kind + ".txt";
    const std::string tgz = fx.file(std::string("nested-") + kind + ".tar.gz",
                                    make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_GZIP,
                                                 {{"letter.txt", "Dear candidate\n"}, {entry, "text\n"}}));
    Report r = pool.scan(submission(tgz, "offer.tar.gz", "upload"));
    const char* finding = std::string(kind) == "crash" ? "engine.crash" : "engine.timeout";
    REQUIRE(has_finding(r, finding));
    const std::string evidence = finding_evidence(r, finding);
    CHECK_MESSAGE(evidence.find("while scanning offer.tar.gz/") != std::string::npos, evidence);
    CHECK_MESSAGE(evidence.find("/" + entry + " (type detection)") != std::string::npos, evidence);
    CHECK(r.decision.action == Action::quarantine);
  }
  // A fault in the submission itself, before any object: no name is claimed.
  Report r = pool.scan(submission(fx.file("f.txt", "sandgate-test-fault-crash\n"), "upload.txt", "upload"));
  REQUIRE(has_finding(r, "engine.crash"));
  CHECK(finding_evidence(r, "engine.crash").find("while scanning") == std::string::npos);
}

TEST_CASE("a hanging scan does not hold up a concurrent clean scan") {
  FaultArmed armed;
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPool pool(fx.options(2), store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  const std::string hang = fx.file("hang.txt", "sandgate-test-fault-hang");
  const std::string clean = fx.file("clean.txt", "clean\n");
  auto hung = std::async(std::launch::async, [&] { return pool.scan(submission(hang, "hang.txt")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    Report r = pool.scan(submission(clean, "clean.txt"));
    CHECK(std::chrono::duration<double>(Clock::now() - t0).count() < 1.0);
    CHECK(r.decision.action == Action::pass);
  }
  Report h = hung.get();
  CHECK(has_finding(h, "engine.timeout"));
  CHECK(h.decision.action == Action::quarantine);
}

TEST_CASE("workers are confined: rlimits, no new privileges, seccomp, not root") {
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPoolOptions o = fx.options(1);
  o.limits.address_space_bytes = 300ull << 20;
  o.limits.open_files = 64;
  WorkerPool pool(o, store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  auto pids = pool.idle_worker_pids();
  REQUIRE(pids.size() == 1);
  const std::string proc = "/proc/" + std::to_string(pids[0]);
  const std::string limits = read_text(proc + "/limits");
  CAPTURE(limits);
  if (address_space_limited())
    CHECK(limits.find("Max address space         314572800            314572800") != std::string::npos);
  CHECK(limits.find("Max open files            64                   64") != std::string::npos);
  CHECK(limits.find("Max core file size        0                    0") != std::string::npos);
  const std::string status = read_text(proc + "/status");
  CAPTURE(status);
  CHECK(status.find("NoNewPrivs:\t1") != std::string::npos);
  CHECK(status.find("Seccomp:\t2") != std::string::npos);
  if (::geteuid() == 0) CHECK(status.find("Uid:\t0") == std::string::npos);
}

TEST_CASE("the seccomp filter kills a process that creates a socket, and allows scanning") {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    std::string err;
    if (!install_seccomp_filter(&err)) ::_exit(3);
    // Allowed: files and memory.
    int fd = ::open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0) ::_exit(4);
    ::close(fd);
    (void)::socket(AF_UNIX, SOCK_STREAM, 0);
    ::_exit(0);  // not reached: the filter kills the process
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGSYS);
}

TEST_CASE("a worker is replaced after jobs_per_worker jobs") {
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPoolOptions o = fx.options(1);
  o.jobs_per_worker = 2;
  WorkerPool pool(o, store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  const std::string clean = fx.file("clean.txt", "clean\n");
  auto first = pool.idle_worker_pids();
  REQUIRE(first.size() == 1);
  CHECK(pool.scan(submission(clean, "a")).decision.action == Action::pass);
  CHECK(pool.idle_worker_pids() == first);
  CHECK(pool.scan(submission(clean, "b")).decision.action == Action::pass);
  CHECK(pool.idle_worker_pids().empty());  // retired after its second job
  CHECK(pool.scan(submission(clean, "c")).decision.action == Action::pass);
  auto second = pool.idle_worker_pids();
  REQUIRE(second.size() == 1);
  CHECK(second[0] != first[0]);
  CHECK(pool.stats().spawned == 2);
  // The retired worker is gone (reaped by the zygote).
  for (int i = 0; i < 50 && ::kill(first[0], 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(::kill(first[0], 0) != 0);
}

TEST_CASE("a policy reload reaches the workers") {
  Fixture fx;
  policy_lang::PolicyStore store(fx.policy.string());
  REQUIRE(store.ok());
  WorkerPool pool(fx.options(2), store);
  std::string error;
  REQUIRE_MESSAGE(pool.start(&error), error);
  const std::string clean = fx.file("clean.txt", "clean\n");
  Report before = pool.scan(submission(clean, "clean.txt"));
  CHECK(before.decision.policy_name == "isolation-test");
  const std::string old_sha = before.decision.policy_sha256;

  fx.write_policy("isolation-test-v2");
  auto rr = store.reload_now();
  REQUIRE(rr.swapped);
  for (int i = 0; i < 3; ++i) {  // every worker, not just one
    Report after = pool.scan(submission(clean, "clean.txt"));
    CHECK(after.decision.policy_name == "isolation-test-v2");
    CHECK(after.decision.policy_sha256 == store.current()->compiled().sha256);
    CHECK(after.decision.policy_sha256 != old_sha);
  }
}

TEST_CASE("the isolation section of the service config") {
  auto r = parse_service_config(
      "isolation:\n  workers: 3\n  memory: 512MiB\n  jobs_per_worker: 50\n  user: daemon\n  enabled: true\n",
      "s.yaml", "");
  REQUIRE(r.config);
  CHECK(r.config->isolation.enabled);
  CHECK(r.config->isolation.workers == 3);
  CHECK(r.config->isolation.memory_bytes == (512ull << 20));
  CHECK(r.config->isolation.jobs_per_worker == 50);
  CHECK(r.config->isolation.user == "daemon");

  auto d = parse_service_config("{}", "d.yaml", "");
  REQUIRE(d.config);
  CHECK(d.config->isolation.enabled);  // on by default in serve
  CHECK(d.config->isolation.workers == 0);

  auto bad = parse_service_config("isolation:\n  workers: -1\n  memory: 1MiB\n  jobs: 3\n", "b.yaml", "");
  CHECK_FALSE(bad.config);
  REQUIRE(bad.errors.size() == 3);
  CHECK(bad.errors[0].rfind("b.yaml:2:12: workers", 0) == 0);
  CHECK(bad.errors[1].rfind("b.yaml:3:11: memory must be at least", 0) == 0);
  CHECK(bad.errors[2].rfind("b.yaml:4:3: unknown key 'jobs'", 0) == 0);

  ServiceConfig c;
  std::ostringstream err;
  REQUIRE(build_serve_config({"--no-isolation", "--data-dir", "/tmp/x"}, c, err));
  CHECK_FALSE(c.isolation.enabled);
  CHECK(c.data_dir == "/tmp/x");
  REQUIRE(build_serve_config({"--data-dir", "/tmp/x"}, c, err));
  CHECK(c.isolation.enabled);
}
