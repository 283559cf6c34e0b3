// MIME strip: messages built here are scanned by the real engine under a
// policy that strips executables; the plan and the rewrite must replace exactly
// the offending attachment, keep every other byte, and the result, scanned
// again, must hold the notice and no executable.
#include "gateway/smtp/mime_strip.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <tuple>
#include <vector>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"
#include "tests/gateway/smtp/smtp_test_util.h"
#include "tests/gateway/test_archives.h"

using namespace sandgate;
using namespace sandgate::smtp;
using sandgate::smtp::testing::read_file;
using sandgate::smtp::testing::TempDir;

namespace {

constexpr std::string_view kPolicy = R"(name: strip-test
profiles:
  mail:
    on_error: tempfail
    on_limit: quarantine
    default: pass
    rules:
      - name: strip-executables
        when: {type: [pe]}
        action: strip
      - name: strip-bin
        when: {extension: [bin]}
        action: strip
  upload:
    default: pass
)";

const Policy& strip_policy() {
  static std::unique_ptr<Policy> policy = [] {
    policy_lang::LoadResult r = policy_lang::load_policy_text(kPolicy, "strip-test.yaml", "/tmp");
    REQUIRE(r.ok());
    return std::make_unique<policy_lang::YamlPolicy>(r.policy);
  }();
  return *policy;
}

std::string base64(std::string_view in, std::string_view nl = "\r\n") {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t col = 0;
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t v = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) v |= static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[v & 63] : '=';
    if ((col += 4) >= 76) {
      out += nl;
      col = 0;
    }
  }
  if (col) out += nl;
  return out;
}

// A message file in a temporary directory, scanned as mail.
struct Scanned {
  TempDir dir;
  std::string path;
  std::string original;
  Report report;
  explicit Scanned(const std::string& message) : original(message) {
    path = (dir.path / "m.eml").string();
    std::ofstream(path, std::ios::binary) << message;
    report = scan(path);
  }
  static Report scan(const std::string& path) {
    Submission sub;
    sub.spool_path = path;
    sub.name = "mail.eml";
    sub.facts.channel = "mail";
    return scan_submission(sub, strip_policy());
  }
  ByteSourcePtr source() const {
    std::string err;
    return open_file_source(path, &err);
  }
  StripPlan plan() const { return plan_strip(source(), report); }
  // Applies the plan; returns the rewritten message.
  std::string strip(const StripPlan& plan, std::string_view qid = "q-1") const {
    std::string out_path = path + ".out";
    std::FILE* out = std::fopen(out_path.c_str(), "wb");
    REQUIRE(out != nullptr);
    std::string error;
    bool ok = write_stripped(*source(), plan, qid, out, &error);
    std::fclose(out);
    REQUIRE_MESSAGE(ok, error);
    return read_file(out_path);
  }
  // Scans a rewritten message the same way.
  Report rescan(const std::string& message) const {
    std::string p = path + ".rescan";
    std::ofstream(p, std::ios::binary) << message;
    return scan(p);
  }
};

bool has_type(const Report& r, std::string_view label) {
  for (const auto& o : r.objects)
    if (o.type.label == label) return true;
  return false;
}

const Object* find_path(const Report& r, std::string_view path) {
  for (const auto& o : r.objects)
    if (o.path == path) return &o;
  return nullptr;
}

bool has_finding(const Report& r, std::string_view id) {
  for (const auto& o : r.objects)
    if (o.has_finding(id)) return true;
  return false;
}

Report rescan_keep(const std::string& path) {
  Submission sub;
  sub.spool_path = path;
  sub.name = "mail.eml";
  sub.facts.channel = "mail";
  ScanOptions opt;
  opt.keep_bytes = true;
  return scan_submission(sub, strip_policy(), opt);
}

const std::string kPe = sandgate::testing::make_pe();

std::string two_attachments(std::string_view nl) {
  std::string m;
  auto line = [&](std::string_view s) {
    m += s;
    m += nl;
  };
  line("From: a@x.test");
  line("Subject: offer");
  line("MIME-Version: 1.0");
  line("Content-Type: multipart/mixed; boundary=\"BOUND\"");
  line("");
  line("This is a preamble.");
  line("--BOUND");
  line("Content-Type: text/plain; charset=us-ascii");
  line("");
  line("Dear candidate, two files are attached.");
  line("--BOUND");
  line("Content-Type: text/plain; name=\"letter.txt\"");
  line("Content-Disposition: attachment; filename=\"letter.txt\"");
  line("");
  line("The PDF-ish letter, kept byte for byte.");
  line("--BOUND");
  line("Content-Type: application/octet-stream; name=\"setup.exe\"");
  line("Content-Disposition: attachment; filename=\"setup.exe\"");
  line("Content-Transfer-Encoding: base64");
  line("");
  m += base64(kPe, nl);
  line("--BOUND--");
  line("An epilogue.");
  return m;
}

}  // namespace

TEST_CASE("two attachments: the executable is replaced, every other byte is kept") {
  Scanned s(two_attachments("\r\n"));
  REQUIRE(s.report.decision.action == Action::strip);
  REQUIRE(s.report.decision.reasons.size() >= 1);
  CHECK(s.report.decision.reasons[0].object == "mail.eml/setup.exe");

  StripPlan plan = s.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  REQUIRE(plan.targets.size() == 1);
  const StripTarget& t = plan.targets[0];
  CHECK(t.file_name == "setup.exe");
  CHECK(plan.suffix.empty());
  // The range is exactly the third part's entity.
  size_t part3 = s.original.find("Content-Type: application/octet-stream");
  size_t close = s.original.find("\r\n--BOUND--");
  CHECK(t.begin == part3);
  CHECK(t.end == close);

  std::string out = s.strip(plan, "0123abcd");
  // Byte for byte outside the replaced range.
  CHECK(out.substr(0, part3) == s.original.substr(0, part3));
  std::string tail = s.original.substr(close);
  CHECK(out.substr(out.size() - tail.size()) == tail);
  std::string notice = out.substr(part3, out.size() - tail.size() - part3);
  CHECK(notice == notice_part(t, "0123abcd"));
  CHECK(notice.find("File: setup.exe") != std::string::npos);
  CHECK(notice.find("strip-executables: ") != std::string::npos);
  CHECK(notice.find("0123abcd") != std::string::npos);
  CHECK(out.find("TVq") == std::string::npos);  // no base64 "MZ" left

  // Scanned again: the notice is a text part, the executable is gone.
  std::string out_path = s.path + ".again";
  std::ofstream(out_path, std::ios::binary) << out;
  Report again = rescan_keep(out_path);
  CHECK(again.decision.action == Action::pass);
  CHECK_FALSE(has_type(again, "pe"));
  const Object* letter = find_path(again, "mail.eml/letter.txt");
  REQUIRE(letter != nullptr);
  CHECK(letter->sha256 == find_path(s.report, "mail.eml/letter.txt")->sha256);
  const Object* replaced = find_path(again, "mail.eml/part3");
  REQUIRE(replaced != nullptr);
  CHECK(replaced->declared_mime == "text/plain");
  CHECK(replaced->bytes->read_string(0, 4096).find(
            "Sandgate removed an attachment from this message.\r\n\r\nFile: setup.exe\r\n") == 0);
  CHECK_FALSE(has_finding(again, "mime.malformed"));
}

TEST_CASE("LF-only messages get an LF notice; CRLF messages have no bare LF after the rewrite") {
  Scanned lf(two_attachments("\n"));
  StripPlan plan = lf.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  std::string out = lf.strip(plan);
  CHECK(out.find('\r') == std::string::npos);
  CHECK(out.find("File: setup.exe\n") != std::string::npos);

  Scanned crlf(two_attachments("\r\n"));
  std::string out2 = crlf.strip(crlf.plan());
  std::string no_crlf;
  for (size_t i = 0; i < out2.size(); ++i) {
    if (out2.compare(i, 2, "\r\n") == 0) {
      ++i;
      continue;
    }
    no_crlf += out2[i];
  }
  CHECK(no_crlf.find('\n') == std::string::npos);
  CHECK(no_crlf.find('\r') == std::string::npos);
}

TEST_CASE("nested multipart/alternative and a zip attachment holding an executable") {
  std::string zip = sandgate::testing::make_archive(
      ARCHIVE_FORMAT_ZIP, ARCHIVE_FILTER_NONE, {{"readme.txt", "hello\n"}, {"Job.pdf.exe", kPe}});
  std::string alt =
      "--ALT\r\nContent-Type: text/plain\r\n\r\nplain body\r\n"
      "--ALT\r\nContent-Type: text/html\r\n\r\n<p>html body</p>\r\n--ALT--\r\n";
  std::string m =
      "Subject: nested\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=OUT\r\n\r\n"
      "--OUT\r\nContent-Type: multipart/alternative; boundary=ALT\r\n\r\n" +
      alt +
      "--OUT\r\nContent-Type: application/zip; name=offer.zip\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64(zip) + "--OUT--\r\n";
  Scanned s(m);
  REQUIRE(s.report.decision.action == Action::strip);
  CHECK(s.report.decision.reasons[0].object == "mail.eml/offer.zip/Job.pdf.exe");
  StripPlan plan = s.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  REQUIRE(plan.targets.size() == 1);
  CHECK(plan.targets[0].file_name == "offer.zip");  // the attachment, stripped whole
  std::string out = s.strip(plan);
  CHECK(out.find(alt) != std::string::npos);  // the alternative kept byte for byte
  CHECK(out.find("(mail.eml/offer.zip/Job.pdf.exe)") != std::string::npos);
  Report again = s.rescan(out);
  CHECK(again.decision.action == Action::pass);
  CHECK_FALSE(has_type(again, "pe"));
  CHECK_FALSE(has_type(again, "zip"));
  CHECK(find_path(again, "mail.eml/part1.1") != nullptr);
  CHECK(find_path(again, "mail.eml/part1.2") != nullptr);
  CHECK(find_path(again, "mail.eml/part2") != nullptr);  // the notice
}

TEST_CASE("a missing final boundary: the part running to the end is replaced and the close added") {
  std::string m =
      "From: a@x.test\r\nMIME-Version: 1.0\r\nSubject: unclosed\r\nContent-Type: multipart/mixed; "
      "boundary=B\r\n\r\n"
      "--B\r\nContent-Type: text/plain\r\n\r\nbody\r\n"
      "--B\r\nContent-Type: application/octet-stream; name=tool.exe\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64(kPe);
  Scanned s(m);
  REQUIRE(s.report.decision.action == Action::strip);
  CHECK(has_finding(s.report, "mime.malformed"));
  StripPlan plan = s.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  CHECK(plan.suffix == "\r\n--B--\r\n");
  std::string out = s.strip(plan);
  size_t part2 = m.find("Content-Type: application/octet-stream");
  CHECK(out.substr(0, part2) == m.substr(0, part2));
  CHECK(out.size() > 9);
  CHECK(out.substr(out.size() - 9) == "\r\n--B--\r\n");
  Report again = s.rescan(out);
  CHECK(again.decision.action == Action::pass);
  CHECK_FALSE(has_type(again, "pe"));
  CHECK_FALSE(has_finding(again, "mime.malformed"));  // complete MIME now
}

TEST_CASE("quoted-printable and 7bit attachments are located by their decoded digest") {
  // Both .bin attachments (quoted-printable with soft breaks and trailing
  // blanks, and 7bit) are stripped; the text attachment between them stays.
  std::string m =
      "From: a@x.test\r\nMIME-Version: 1.0\r\nSubject: qp\r\nContent-Type: multipart/mixed; "
      "boundary=Q\r\n\r\n"
      "--Q\r\nContent-Type: application/octet-stream; name=a.bin\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "x=3Dy soft=\r\nbreak trailing   \r\nlast line\r\n"
      "--Q\r\nContent-Type: text/plain; name=a.dat\r\n\r\n"
      "keep me\r\n"
      "--Q\r\nContent-Type: application/octet-stream; name=z.bin\r\n\r\n"
      "seven bit\r\n"
      "--Q--\r\n";
  Scanned s(m);
  REQUIRE(s.report.decision.action == Action::strip);
  StripPlan plan = s.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  REQUIRE(plan.targets.size() == 2);
  CHECK(plan.targets[0].file_name == "a.bin");
  CHECK(plan.targets[1].file_name == "z.bin");
  std::string out = s.strip(plan);
  CHECK(out.find("--Q\r\nContent-Type: text/plain; name=a.dat\r\n\r\nkeep me\r\n--Q\r\n") !=
        std::string::npos);
  CHECK(out.find("soft=\r\nbreak") == std::string::npos);
  CHECK(out.find("seven bit") == std::string::npos);
}

TEST_CASE("same name, different content: the digest picks the offending one") {
  std::string m =
      "From: a@x.test\r\nMIME-Version: 1.0\r\nSubject: twins\r\nContent-Type: multipart/mixed; "
      "boundary=T\r\n\r\n"
      "--T\r\nContent-Type: application/octet-stream; name=report.dat\r\n\r\n"
      "just a report\r\n"
      "--T\r\nContent-Type: application/octet-stream; name=report.dat\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64(kPe) + "--T--\r\n";
  Scanned s(m);
  REQUIRE(s.report.decision.action == Action::strip);
  StripPlan plan = s.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  REQUIRE(plan.targets.size() == 1);
  CHECK(plan.targets[0].begin ==
        m.find("Content-Type: application/octet-stream; name=report.dat\r\n"
               "Content-Transfer-Encoding"));
  std::string out = s.strip(plan);
  CHECK(out.find("just a report") != std::string::npos);
  CHECK_FALSE(has_type(s.rescan(out), "pe"));
}

TEST_CASE("an attached message: the innermost attachment is replaced inside it") {
  std::string inner =
      "From: b@x.test\r\nMIME-Version: 1.0\r\nSubject: inner\r\nContent-Type: multipart/mixed; "
      "boundary=IN\r\n\r\n"
      "--IN\r\nContent-Type: text/plain\r\n\r\nforwarded text\r\n"
      "--IN\r\nContent-Type: application/octet-stream; name=evil.exe\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\n" +
      base64(kPe) + "--IN--";
  std::string m =
      "From: a@x.test\r\nMIME-Version: 1.0\r\nSubject: fwd\r\nContent-Type: multipart/mixed; "
      "boundary=OUT\r\n\r\n"
      "--OUT\r\nContent-Type: text/plain\r\n\r\nsee below\r\n"
      "--OUT\r\nContent-Type: message/rfc822; name=fwd.eml\r\n\r\n" +
      inner + "\r\n--OUT--\r\n";
  Scanned s(m);
  REQUIRE(s.report.decision.action == Action::strip);
  StripPlan plan = s.plan();
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  REQUIRE(plan.targets.size() == 1);
  CHECK(plan.targets[0].file_name == "evil.exe");
  CHECK(plan.targets[0].begin == m.find("Content-Type: application/octet-stream; name=evil.exe"));
  std::string out = s.strip(plan);
  CHECK(out.find("--IN\r\nContent-Type: text/plain\r\n\r\nforwarded text\r\n--IN\r\n") !=
        std::string::npos);
  Report again = s.rescan(out);
  CHECK_FALSE(has_type(again, "pe"));
  CHECK(again.decision.action == Action::pass);
}

TEST_CASE("fail closed: body text, the message itself, unknown objects") {
  SUBCASE("the offending object is the body text") {
    Scanned s(two_attachments("\r\n"));
    Report r = s.report;
    r.decision.reasons = {{"x", "mail.eml/part1", "f"}};
    StripPlan plan = plan_strip(s.source(), r);
    CHECK_FALSE(plan.ok);
    CHECK(plan.why_not.find("body text") != std::string::npos);
  }
  SUBCASE("a message that is not multipart") {
    Scanned s(
        "Subject: t\r\nContent-Type: application/octet-stream\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        base64(kPe));
    REQUIRE(s.report.decision.action == Action::strip);
    StripPlan plan = s.plan();
    CHECK_FALSE(plan.ok);
    CHECK(plan.why_not.find("not multipart") != std::string::npos);
  }
  SUBCASE("a reason naming no object, or the root") {
    Scanned s(two_attachments("\r\n"));
    Report r = s.report;
    r.decision.reasons = {{"x", "mail.eml/nothing-here", "f"}};
    CHECK_FALSE(plan_strip(s.source(), r).ok);
    r.decision.reasons = {{"x", "mail.eml", "f"}};
    StripPlan p = plan_strip(s.source(), r);
    CHECK_FALSE(p.ok);
    CHECK(p.why_not.find("message itself") != std::string::npos);
    r.decision.reasons.clear();
    CHECK_FALSE(plan_strip(s.source(), r).ok);
  }
  SUBCASE("the report's digest does not match the part (a different message)") {
    Scanned s(two_attachments("\r\n"));
    Report r = s.report;
    for (auto& o : r.objects)
      if (o.name == "setup.exe") o.sha256 = std::string(64, '0');
    StripPlan p = plan_strip(s.source(), r);
    CHECK_FALSE(p.ok);
    CHECK(p.why_not.find("cannot locate") != std::string::npos);
  }
  SUBCASE("a cyclic parent chain in a forged report") {
    Scanned s(two_attachments("\r\n"));
    Report r = s.report;
    for (auto& o : r.objects)
      if (o.name == "setup.exe") o.parent = o.index;
    CHECK_FALSE(plan_strip(s.source(), r).ok);
  }
}

TEST_CASE("layout: part numbers and names follow the unpacker's rules") {
  std::string m =
      "From sender Mon Jan  1 00:00:00 2024\r\n"
      "Content-Type: multipart/mixed; boundary=A\r\n\r\n"
      "--A\r\nContent-Type: multipart/related; boundary=R\r\n\r\n"
      "--R\r\n\r\nfirst\r\n--R\r\nContent-Type: image/png; name*=utf-8''%E2%82%ACuro.png\r\n\r\n"
      "PNG\r\n--R--\r\n"
      "--A\r\nContent-Disposition: attachment; filename=\"=?utf-8?q?caf=C3=A9?=.txt\"\r\n\r\n"
      "x\r\n--A--\r\n";
  auto src = memory_source(m);
  MimeLayout layout = scan_mime_layout(*src);
  CHECK(layout.complete);
  CHECK(layout.multipart);
  REQUIRE(layout.leaves.size() == 3);
  CHECK(layout.leaves[0].number == "1.1");
  CHECK(layout.leaves[0].name == "part1.1");
  CHECK_FALSE(layout.leaves[0].is_attachment());
  CHECK(layout.leaves[1].name == "\xE2\x82\xACuro.png");
  CHECK(layout.leaves[1].is_attachment());
  CHECK(layout.leaves[2].number == "2");
  CHECK(layout.leaves[2].name == "caf\xC3\xA9.txt");
  CHECK(m.substr(layout.leaves[2].body_begin,
                 layout.leaves[2].body_end - layout.leaves[2].body_begin) == "x");
  CHECK(layout.open_boundaries.empty());

  MimeLayoutOptions small;
  small.max_parts = 2;
  CHECK_FALSE(scan_mime_layout(*src, small).complete);
}

namespace {

// A report made from the layout itself: one object per leaf, with the digest
// the engine would have computed; reasons for the first n_offending.
Report report_from_layout(const ByteSourcePtr& src, size_t n_offending) {
  MimeLayout layout = scan_mime_layout(*src);
  Report r;
  Object root;
  root.path = root.name = "mail.eml";
  r.objects.push_back(root);
  for (const MimeLeaf& leaf : layout.leaves) {
    LeafDigest d = leaf_digest(src, leaf);
    Object o;
    o.index = static_cast<int>(r.objects.size());
    o.parent = 0;
    o.depth = 1;
    o.name = leaf.name;
    o.path = "mail.eml/" + leaf.name;
    o.size = d.size;
    o.sha256 = d.sha256;
    if (r.decision.reasons.size() < n_offending)
      r.decision.reasons.push_back({"rule", o.path, "finding"});
    r.objects.push_back(o);
  }
  r.decision.action = Action::strip;
  return r;
}

std::string many_parts(size_t n) {
  std::string m = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=M\r\n\r\n";
  for (size_t i = 0; i < n; ++i)
    m += "--M\r\nContent-Type: application/octet-stream; name=f" + std::to_string(i) +
         ".bin\r\n\r\ncontent " + std::to_string(i) + "\r\n";
  return m + "--M--\r\n";
}

}  // namespace

TEST_CASE("work is bounded: many offending parts are replaced, too many hold the message") {
  auto src = memory_source(many_parts(1200));
  StripPlan plan = plan_strip(src, report_from_layout(src, 900));
  REQUIRE_MESSAGE(plan.ok, plan.why_not);
  CHECK(plan.targets.size() == 900);
  for (size_t i = 1; i < plan.targets.size(); ++i)
    CHECK(plan.targets[i - 1].end <= plan.targets[i].begin);
  StripPlan too_many = plan_strip(src, report_from_layout(src, 1100));
  CHECK_FALSE(too_many.ok);
  CHECK(too_many.why_not == "too many offending objects");

  // Identical attachments under one name: every copy goes, each hashed once.
  std::string same = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=S\r\n\r\n";
  for (int i = 0; i < 500; ++i)
    same += "--S\r\nContent-Type: application/x-msdownload; name=a.exe\r\n\r\nMZ\r\n";
  same += "--S--\r\n";
  auto src2 = memory_source(same);
  Report r = report_from_layout(src2, 500);
  StripPlan p2 = plan_strip(src2, r);
  REQUIRE_MESSAGE(p2.ok, p2.why_not);
  CHECK(p2.targets.size() == 500);
}

TEST_CASE("a notice never starts a line with '-' or '.', whatever the file name") {
  // A name that a soft line break would cut right before "--B" must not
  // become a delimiter line of the enclosing multipart.
  for (size_t pad = 0; pad < 160; ++pad) {
    StripTarget t;
    t.file_name = std::string(pad, 'A') + "--B";
    t.reasons = {"rule: f (mail.eml/" + std::string(pad, 'x') + ".--B)"};
    std::string part = notice_part(t, "id");
    size_t pos = 0;
    while (pos < part.size()) {
      size_t eol = part.find("\r\n", pos);
      if (eol == std::string::npos) eol = part.size();
      std::string_view line(part.data() + pos, eol - pos);
      CHECK(line.size() <= 76);
      if (!line.empty()) {
        CHECK(line[0] != '-');
        CHECK(line[0] != '.');
      }
      pos = eol + 2;
    }
  }
  // The notice text decodes back to the name.
  StripTarget t;
  t.file_name = "na\xC3\xAFve = -.exe";
  std::string part = notice_part(t, "");
  CHECK(part.find("File: na=C3=AFve =3D -.exe") != std::string::npos);
}

namespace {

// A part as either side sees it: its name, decoded size and SHA-256.
using PartKey = std::tuple<std::string, uint64_t, std::string>;

std::vector<PartKey> unpacker_parts(const Report& r) {
  std::vector<PartKey> parts;
  for (const Object& o : r.objects)
    if (o.parent == 0) parts.emplace_back(o.name, o.size, o.sha256);
  std::sort(parts.begin(), parts.end());
  return parts;
}

std::vector<PartKey> layout_parts(const ByteSourcePtr& src) {
  std::vector<PartKey> parts;
  for (const MimeLeaf& leaf : scan_mime_layout(*src).leaves) {
    LeafDigest d = leaf_digest(src, leaf);
    parts.emplace_back(leaf.name, d.size, d.sha256);
  }
  std::sort(parts.begin(), parts.end());
  return parts;
}

// Part 2 is a multipart without parts whose preamble is an executable; with
// `closed` it has its own close delimiter and an epilogue.
std::string empty_multipart_message(bool closed) {
  std::string m =
      "From: a@x.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n"
      "--A\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
      "--A\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n" +
      kPe + "\r\n";
  if (closed) m += "--B--\r\nthe epilogue of B\r\n";
  return m + "--A\r\nContent-Type: text/plain; name=notes.txt\r\n\r\nnotes\r\n--A--\r\n";
}

}  // namespace

TEST_CASE("layout and unpacker agree on the parts of malformed and unusual messages") {
  // The strip path locates parts by the unpacker's names and digests; both
  // walk the message with one state machine (unpack/mime/mime_walk.h), so
  // every part the scan saw is a leaf of the layout and no other.
  const std::vector<std::string> messages = {
      two_attachments("\r\n"),
      two_attachments("\n"),
      empty_multipart_message(true),
      empty_multipart_message(false),
      // The root multipart has no part at all: its preamble is part1.
      "Content-Type: multipart/mixed; boundary=Z\r\n\r\nonly a preamble\r\n--Z--\r\n",
      "Content-Type: multipart/mixed; boundary=Z\r\n\r\nonly a preamble, never closed\r\n",
      // A part ended inside its header block; a header line that is no field.
      "Content-Type: multipart/mixed; boundary=H\r\n\r\n--H\r\nContent-Type: text/plain\r\n"
      "--H\r\nContent-Type: text/plain; name=a.txt\r\nnot a header line\r\nbody\r\n--H--\r\n",
      // multipart/digest parts default to message/rfc822.
      "Content-Type: multipart/digest; boundary=D\r\n\r\n--D\r\n\r\nSubject: inner\r\n\r\n"
      "inner body\r\n--D\r\nContent-Type: text/plain\r\n\r\nplain\r\n--D--\r\n",
      // An encoded multipart and one without a boundary are read as one part.
      "Content-Type: multipart/mixed; boundary=E\r\n\r\n--E\r\n"
      "Content-Type: multipart/mixed; boundary=F\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "LS1GDQpDb250ZW50LVR5cGU6IHRleHQvcGxhaW4NCg0KeA0KLS1GLS0NCg==\r\n--E\r\n"
      "Content-Type: multipart/alternative\r\n\r\nno boundary here\r\n--E--\r\n",
      // Nested, the inner one never closed; an mbox separator first.
      "From sender Mon Jan  1 00:00:00 2024\nContent-Type: multipart/mixed; boundary=O\n\n--O\n"
      "Content-Type: multipart/alternative; boundary=I\n\n--I\n\ninner\n--O\n"
      "Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt\n\nx\n--O--\n",
      // Not multipart at all.
      "Subject: plain\r\n\r\njust a body\r\n",
  };
  for (const std::string& m : messages) {
    CAPTURE(m.substr(0, 120));
    Scanned s(m);
    std::vector<PartKey> scanned = unpacker_parts(s.report);
    REQUIRE_FALSE(scanned.empty());
    CHECK(layout_parts(s.source()) == scanned);
  }
}

TEST_CASE("a multipart without parts: its preamble is located and replaced like an attachment") {
  for (bool closed : {true, false}) {
    CAPTURE(closed);
    std::string m = empty_multipart_message(closed);
    Scanned s(m);
    REQUIRE(s.report.decision.action == Action::strip);
    REQUIRE(find_path(s.report, "mail.eml/part2") != nullptr);
    CHECK(find_path(s.report, "mail.eml/part2")->type.label == "pe");
    StripPlan plan = s.plan();
    REQUIRE_MESSAGE(plan.ok, plan.why_not);
    REQUIRE(plan.targets.size() == 1);
    const StripTarget& t = plan.targets[0];
    // The whole of part 2: its header block, the preamble and (closed) its
    // close delimiter and epilogue, up to the line break before "--A".
    size_t begin = m.find("Content-Type: multipart/mixed; boundary=B");
    size_t end = m.find("\r\n--A\r\nContent-Type: text/plain; name=notes.txt");
    CHECK(t.begin == begin);
    CHECK(t.end == end);
    std::string out = s.strip(plan);
    CHECK(out.substr(0, begin) == m.substr(0, begin));
    CHECK(out.substr(out.size() - (m.size() - end)) == m.substr(end));
    CHECK(out.find("--B") == std::string::npos);
    Report again = s.rescan(out);
    CHECK(again.decision.action == Action::pass);
    CHECK_FALSE(has_type(again, "pe"));
    CHECK_FALSE(has_finding(again, "mime.malformed"));
    REQUIRE(find_path(again, "mail.eml/notes.txt") != nullptr);
    CHECK(find_path(again, "mail.eml/notes.txt")->sha256 ==
          find_path(s.report, "mail.eml/notes.txt")->sha256);
  }
}
