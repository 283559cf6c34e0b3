// Engine tests: the object tree, hashes, limits and fail-closed behaviour, on
// archives written by libarchive at test time.
#include <doctest/doctest.h>
#include <openssl/sha.h>

#include <cstdio>
#include <fcntl.h>
#include <regex>
#include <set>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/engine.h"
#include "gateway/uuid.h"
#include "policies/builtin_policy.h"
#include "test_archives.h"

using namespace sandgate;
using namespace sandgate::testing;
using namespace std::string_literals;

namespace {

std::string sha256_hex(const std::string& s) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), md);
  std::string out;
  char buf[3];
  for (unsigned char c : md) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

Report scan_bytes(const std::string& name, const std::string& bytes, Limits limits = {}) {
  std::string path = write_temp(name, bytes);
  Submission sub;
  sub.spool_path = path;
  sub.name = name;
  Report r = scan_submission(sub, BuiltinPolicy(limits));
  std::remove(path.c_str());
  return r;
}

const Object* find(const Report& r, const std::string& path) {
  for (const auto& o : r.objects)
    if (o.path == path) return &o;
  return nullptr;
}

bool has(const Object* o, const std::string& id) { return o && o->has_finding(id); }

}  // namespace

TEST_CASE("a tar holding a disguised executable is unpacked, typed, hashed and quarantined") {
  std::string pe = make_pe();
  std::string text = "Dear candidate, please find the offer attached.\n";
  std::string tar = make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE,
                                 {{"letter.txt", text}, {"docs/Job.pdf.exe", pe}});
  Report r = scan_bytes("offer.tar", tar);
  REQUIRE(r.objects.size() == 3);
  CHECK(r.objects[0].path == "offer.tar");
  CHECK(r.objects[0].type.label == "tar");
  CHECK(r.objects[0].sha256 == sha256_hex(tar));
  CHECK(r.objects[1].path == "offer.tar/letter.txt");
  CHECK(r.objects[1].depth == 1);
  CHECK(r.objects[1].parent == 0);
  CHECK(r.objects[1].sha256 == sha256_hex(text));
  CHECK(r.objects[1].type.label == "text");
  const Object* exe = find(r, "offer.tar/docs/Job.pdf.exe");
  REQUIRE(exe);
  CHECK(exe->type.label == "pe");
  CHECK(exe->size == pe.size());
  CHECK(exe->sha256 == sha256_hex(pe));
  CHECK(exe->md5.size() == 32);
  CHECK(exe->sha1.size() == 40);
  CHECK(has(exe, "type.executable"));
  CHECK(has(exe, "name.double_extension"));
  CHECK_FALSE(r.decision.verdict_pass());
  bool named = false;
  for (const auto& reason : r.decision.reasons)
    named |= reason.object == exe->path && reason.finding == "type.executable";
  CHECK(named);
}

TEST_CASE("nested containers are unpacked to the leaves in pre-order") {
  std::string inner = make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE,
                                   {{"a.txt", "alpha\n"}, {"b.txt", "beta\n"}});
  std::string outer = make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_GZIP,
                                   {{"in.zip", inner}, {"c.txt", "gamma\n"}});
  Report r = scan_bytes("x.tar.gz", outer);
  std::vector<std::string> paths;
  for (const auto& o : r.objects) paths.push_back(o.path + "@" + std::to_string(o.depth));
  std::vector<std::string> want = {"x.tar.gz@0", "x.tar.gz/x.tar@1", "x.tar.gz/x.tar/in.zip@2",
                                   "x.tar.gz/x.tar/in.zip/a.txt@3",
                                   "x.tar.gz/x.tar/in.zip/b.txt@3", "x.tar.gz/x.tar/c.txt@2"};
  CHECK(paths == want);
  CHECK(r.objects[0].type.label == "gzip");
  CHECK(r.objects[2].type.label == "zip");
  CHECK(r.decision.verdict_pass());
  CHECK(r.limits_hit.empty());
}

TEST_CASE("the depth limit stops unpacking with a finding") {
  std::string level = "leaf\n";
  level = make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, {{"l.txt", level}});
  for (int i = 0; i < 4; ++i)
    level = make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, {{"n.zip", level}});
  Limits lim;
  lim.max_depth = 2;
  Report r = scan_bytes("deep.zip", level, lim);
  CHECK(r.objects.size() == 3);
  CHECK(has(&r.objects[2], "limits.depth"));
  CHECK(r.limits_hit == std::vector<std::string>{"limits.depth"});
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("the object count limit stops unpacking") {
  Entries many;
  for (int i = 0; i < 50; ++i) many.push_back({"f" + std::to_string(i) + ".txt", "x\n"});
  Limits lim;
  lim.max_objects = 10;
  Report r = scan_bytes("many.zip", make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, many), lim);
  CHECK(r.objects.size() == 10);
  CHECK(has(&r.objects[0], "limits.objects"));
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("an object over the size limit is cut and flagged") {
  std::string big(3 << 20, 'A');
  Limits lim;
  lim.max_object_bytes = 1 << 20;
  Report r = scan_bytes("big.tar", make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE,
                                                {{"big.txt", big}, {"after.txt", "after\n"}}),
                        lim);
  const Object* o = find(r, "big.tar/big.txt");
  REQUIRE(o);
  CHECK(o->size == (1u << 20));
  CHECK(o->truncated);
  CHECK(has(o, "limits.object_bytes"));
  CHECK(find(r, "big.tar/after.txt"));  // the sibling is still scanned
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("a high-ratio stream is stopped while decompressing") {
  std::string zeros(64 << 20, '\0');
  std::string gz = make_archive(ARCHIVE_FORMAT_RAW, ARCHIVE_FILTER_GZIP, {{"z", zeros}});
  zeros.clear();
  Limits lim;
  lim.max_ratio = 50;
  lim.ratio_slack_bytes = 1 << 20;
  Report r = scan_bytes("zeros.gz", gz, lim);
  CHECK(has(&r.objects[0], "limits.ratio"));
  REQUIRE(r.objects.size() == 2);
  CHECK(r.objects[1].size <= static_cast<uint64_t>(50 * gz.size()) + (64 << 10));
  CHECK(r.objects[1].truncated);
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("the total bytes limit ends the whole scan") {
  Entries e;
  for (int i = 0; i < 8; ++i) e.push_back({"p" + std::to_string(i), std::string(512 << 10, 'a' + i)});
  Limits lim;
  lim.max_total_bytes = 1 << 20;
  Report r = scan_bytes("t.tar", make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, e), lim);
  CHECK(r.limits_hit == std::vector<std::string>{"limits.total_bytes"});
  CHECK(r.objects.size() < 9);
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("a truncated container is an unpack error; what was readable is kept") {
  Entries e = {{"first.txt", std::string(100000, 'f')}, {"second.txt", std::string(100000, 's')}};
  std::string tar = make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE, e);
  Report r = scan_bytes("cut.tar", tar.substr(0, 150000));
  const Object* first = find(r, "cut.tar/first.txt");
  REQUIRE(first);
  CHECK(first->size == 100000);
  CHECK_FALSE(has(first, "unpack.error"));
  CHECK(has(find(r, "cut.tar/second.txt"), "unpack.error"));
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("an unreadable submission fails closed") {
  Submission sub;
  sub.spool_path = "/nonexistent/sandgate/file";
  Report r = scan_submission(sub, BuiltinPolicy());
  REQUIRE(r.objects.size() == 1);
  CHECK(has(&r.objects[0], "engine.error"));
  CHECK_FALSE(r.decision.verdict_pass());
}

TEST_CASE("spilled children (over 1 MiB) keep exact bytes and hashes") {
  std::string big;
  for (int i = 0; i < (3 << 20); ++i) big.push_back(static_cast<char>((i * 7) & 0xff));
  Report r = scan_bytes("spill.tar", make_archive(ARCHIVE_FORMAT_TAR_USTAR, ARCHIVE_FILTER_NONE,
                                                  {{"big.bin", big}}));
  const Object* o = find(r, "spill.tar/big.bin");
  REQUIRE(o);
  CHECK(o->size == big.size());
  CHECK(o->sha256 == sha256_hex(big));
}

TEST_CASE("report ids are distinct version 4 UUIDs") {
  const std::regex v4("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = random_uuid();
    CHECK(std::regex_match(id, v4));
    seen.insert(id);
  }
  CHECK(seen.size() == 1000);
}

TEST_CASE("a forked child never repeats the ids its parent will hand out") {
  // The ids come from a per-thread buffer of random bytes: a scan worker is
  // a fork of the front and must not reuse what the front had drawn.
  (void)random_uuid();  // the parent's buffer now holds unused bytes
  int pipefd[2];
  REQUIRE(::pipe(pipefd) == 0);
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    std::string ids;
    for (int i = 0; i < 4; ++i) ids += random_uuid();
    (void)!::write(pipefd[1], ids.data(), ids.size());
    ::_exit(0);
  }
  ::close(pipefd[1]);
  std::string from_child(4 * 36, '\0');
  size_t got = 0;
  while (got < from_child.size()) {
    ssize_t n = ::read(pipefd[0], from_child.data() + got, from_child.size() - got);
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  REQUIRE(got == from_child.size());
  std::set<std::string> ids;
  for (int i = 0; i < 4; ++i) ids.insert(from_child.substr(static_cast<size_t>(i) * 36, 36));
  for (int i = 0; i < 4; ++i) ids.insert(random_uuid());
  CHECK(ids.size() == 8);
}

TEST_CASE("a submission given as an open descriptor scans like its path") {
  std::string zip = make_archive(ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, {{"Job.pdf.exe", make_pe()}});
  std::string path = write_temp("fd-submission.zip", zip);
  BuiltinPolicy policy;
  Submission by_path;
  by_path.spool_path = path;
  by_path.name = "offer.zip";
  Report a = scan_submission(by_path, policy);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  Submission by_fd = by_path;
  by_fd.spool_path = "/nonexistent";  // the descriptor wins
  by_fd.spool_fd = fd;
  Report b = scan_submission(by_fd, policy);
  // The engine read a duplicate: ours is still open and at offset 0.
  CHECK(::lseek(fd, 0, SEEK_CUR) == 0);
  ::close(fd);
  REQUIRE(a.objects.size() == b.objects.size());
  for (size_t i = 0; i < a.objects.size(); ++i) {
    CHECK(a.objects[i].path == b.objects[i].path);
    CHECK(a.objects[i].sha256 == b.objects[i].sha256);
  }
  CHECK(a.decision.verdict_pass() == b.decision.verdict_pass());
  CHECK_FALSE(b.decision.verdict_pass());
  CHECK(a.id != b.id);
  std::remove(path.c_str());
}

TEST_CASE("channel mail: the message is unpacked whatever its bytes look like") {
  // A header section no text check accepts (a NUL in a field) still makes a
  // message an MTA handed over: the root is typed "eml" and unpacked, so the
  // executable attached to it is seen.
  std::string m = "From: a@x.test\r\nX-Junk: \0\x01\r\nSubject: offer\r\n"s +
                  "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n"
                  "--A\r\nContent-Type: application/octet-stream; name=\"Invoice.pdf.exe\"\r\n\r\n" +
                  make_pe() + "\r\n--A--\r\n";
  std::string path = write_temp("mail.eml", m);
  Submission sub;
  sub.spool_path = path;
  sub.name = "mail.eml";
  Report upload = scan_submission(sub, BuiltinPolicy());
  CHECK(upload.objects[0].type.label != "eml");  // sniffed: not a message
  sub.facts.channel = "mail";
  Report mail = scan_submission(sub, BuiltinPolicy());
  std::remove(path.c_str());
  CHECK(mail.objects[0].type.label == "eml");
  const Object* exe = find(mail, "mail.eml/Invoice.pdf.exe");
  REQUIRE(exe != nullptr);
  CHECK(exe->type.label == "pe");
  CHECK(mail.decision.action != Action::pass);

  // Attached as message/rfc822, the same message is unpacked too: the
  // declared type counts where the content shows none.
  std::string outer = "From: b@y.test\r\nTo: c@z.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
                      "Content-Type: multipart/mixed; boundary=O\r\n\r\n--O\r\n"
                      "Content-Type: message/rfc822\r\n\r\n" +
                      m + "\r\n--O--\r\n";
  Report fwd = scan_bytes("fwd.eml", outer);
  const Object* inner = find(fwd, "fwd.eml/part1");
  REQUIRE(inner != nullptr);
  CHECK(inner->type.label == "eml");
  const Object* exe2 = find(fwd, "fwd.eml/part1/Invoice.pdf.exe");
  REQUIRE(exe2 != nullptr);
  CHECK(exe2->type.label == "pe");
  // A declaration never hides what the content is.
  std::string liar = "From: b@y.test\r\nTo: c@z.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n"
                     "Content-Type: multipart/mixed; boundary=O\r\n\r\n--O\r\n"
                     "Content-Type: message/rfc822\r\n\r\n" +
                     make_pe() + "\r\n--O--\r\n";
  Report lie = scan_bytes("lie.eml", liar);
  REQUIRE(find(lie, "lie.eml/part1") != nullptr);
  CHECK(find(lie, "lie.eml/part1")->type.label == "pe");
}

TEST_CASE("a file named .html is read as a page whatever precedes its tags") {
  // Browsers render offer.html as HTML; sniffing reads the start only. A page
  // of plain text or a NUL before a smuggling script once made it "text" or
  // "data", and the HTML analyzer never saw the script.
  const std::string page =
      "<html><body><script>var b=atob(\"TVqQAAMAAAAEAAAA\");"
      "var blob=new Blob([b],{type:'application/octet-stream'});"
      "var a=document.createElement('a');a.href=URL.createObjectURL(blob);"
      "a.download='Invoice.pdf.exe';a.click();</script></body></html>\n";
  std::string padding;
  while (padding.size() < 3000) padding += "Dear candidate, please read the offer below.\n";
  for (const std::string& bytes : {padding + page, "\0"s + page}) {
    Report r = scan_bytes("offer.html", bytes);
    CHECK(r.objects[0].type.label == "html");
    CHECK(has(&r.objects[0], "html.smuggling"));
    // The same bytes under another name keep the type their content shows.
    Report other = scan_bytes("offer.txt", bytes);
    CHECK(other.objects[0].type.label != "html");
  }
  // A name never hides a type the content shows.
  Report pe = scan_bytes("offer.html", make_pe());
  CHECK(pe.objects[0].type.label == "pe");
}
