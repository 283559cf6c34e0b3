// Unit tests of the policy language: globs, sizes, networks, each condition,
// each action, severity ordering, first-match semantics, on_error/on_limit,
// profile selection, included list files and the policy's identity.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "policies/language/matcher.h"
#include "tests/policies/language/test_util.h"

using namespace sandgate;
using namespace sandgate::policy_lang;
using namespace sandgate::policy_test;

namespace {

const char* kLists = R"(
lists:
  blocked: {kind: sha256, file: lists/blocked.txt}
  senders: {kind: address, file: lists/senders.txt}
  nets: {kind: network, entries: ["10.0.0.0/8", "2001:db8::/32"]}
  signers: {kind: thumbprint, entries: ["AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd"]}
  subjects: {kind: subject, entries: ["CN=Evil Corp"]}
)";

void write_lists(const TempDir& dir) {
  dir.write("lists/blocked.txt",
            "# block\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty\n");
  dir.write("lists/senders.txt", "example.com\nboss@partner.org\n");
}

// True when the condition `when` (YAML flow text) matches objects[idx].
bool matches(const std::string& when, const std::vector<Object>& objects, size_t idx,
             SubmissionFacts facts = {}, std::string* witness = nullptr) {
  TempDir dir;
  write_lists(dir);
  auto p = compile(dir, std::string("name: t\n") + kLists +
                            "profiles:\n  upload:\n    rules:\n      - name: probe\n"
                            "        when: " +
                            when +
                            "\n        action: quarantine\n"
                            "  mail:\n    rules: []\n");
  Explanation e = p->explain(objects, facts);
  REQUIRE(e.objects.size() == objects.size());
  bool m = e.objects[idx].deciding_rule == 0;
  if (m && witness) *witness = e.objects[idx].rules[0].witness;
  return m;
}

std::vector<Object> tree() {
  // 0 mail.eml -> 1 offer.zip -> 2 Job.pdf.exe ; 0 -> 3 cv.PDF
  std::vector<Object> v;
  v.push_back(make_object(0, -1, 0, "mail.eml", "eml", "message/rfc822"));
  v.push_back(make_object(1, 0, 1, "mail.eml/offer.zip", "zip", "application/zip"));
  v.push_back(make_object(2, 1, 2, "mail.eml/offer.zip/Job.pdf.exe", "pe",
                          "application/vnd.microsoft.portable-executable"));
  v.push_back(make_object(3, 0, 1, "mail.eml/cv.PDF", "pdf", "application/pdf"));
  v[2].size = 4096;
  v[2].findings.push_back(finding("type.executable", Severity::high));
  v[2].findings.push_back(finding("name.double_extension", Severity::high));
  v[1].encrypted = true;
  v[3].sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
  v[3].facts["signer.subject"] = "CN=Evil Corp";
  v[3].facts["signer.thumbprint"] = "aabbccddeeff00112233445566778899AABBCCDD";
  v[3].facts["signer.valid"] = "false";
  v[3].facts["office.has_macros"] = "true";
  return v;
}

}  // namespace

TEST_CASE("glob: wildcards, classes, case, escapes and bad patterns") {
  std::string err;
  auto g = Glob::compile("*.pdf.exe", true, &err);
  REQUIRE(g);
  CHECK(g->match("Job.PDF.exe"));
  CHECK_FALSE(g->match("Job.pdf.exe.txt"));
  auto c = Glob::compile("file[0-9]?.[!t]xt", false, &err);
  REQUIRE(c);
  CHECK(c->match("file7a.bxt"));
  CHECK_FALSE(c->match("file7a.txt"));
  CHECK_FALSE(c->match("fileXa.bxt"));
  auto e = Glob::compile("a\\*b", false, &err);
  REQUIRE(e);
  CHECK(e->match("a*b"));
  CHECK_FALSE(e->match("axb"));
  CHECK(Glob::compile("office.*", false, &err)->match("office.vba.autoexec"));
  CHECK_FALSE(Glob::compile("[abc", false, &err));
  CHECK_FALSE(Glob::compile("abc\\", false, &err));
  CHECK_FALSE(Glob::compile("[z-a]", false, &err));
  // Pathological pattern stays fast (no exponential backtracking).
  auto slow = Glob::compile("*a*a*a*a*a*a*a*a*b", false, &err);
  CHECK_FALSE(slow->match(std::string(5000, 'a')));
}

TEST_CASE("sizes, networks, addresses and did-you-mean") {
  std::string err;
  CHECK(parse_size("512MiB", &err) == 512ull << 20);
  CHECK(parse_size("1GB", &err) == 1000000000ull);
  CHECK(parse_size("10 KiB", &err) == 10240ull);
  CHECK(parse_size("4096", &err) == 4096ull);
  CHECK(parse_size("1.5KiB", &err) == 1536ull);
  CHECK_FALSE(parse_size("12 parsecs", &err));
  CHECK(err.find("unknown size unit 'parsecs'") != std::string::npos);
  CHECK_FALSE(parse_size("MiB", &err));
  CHECK_FALSE(parse_size("99999999TiB", &err));

  NetworkSet nets;
  nets.networks.push_back(*parse_cidr("10.0.0.0/8"));
  nets.networks.push_back(*parse_cidr("2001:db8::/32"));
  nets.networks.push_back(*parse_cidr("192.168.1.7"));
  CHECK(nets.contains("10.200.3.4"));
  CHECK_FALSE(nets.contains("11.0.0.1"));
  CHECK(nets.contains("2001:db8:1::5"));
  CHECK_FALSE(nets.contains("2001:db9::5"));
  CHECK(nets.contains("192.168.1.7"));
  CHECK_FALSE(nets.contains("192.168.1.8"));
  CHECK_FALSE(parse_cidr("10.0.0.0/33"));
  CHECK_FALSE(parse_cidr("not-an-ip"));

  AddressSet a;
  a.domains.insert("example.com");
  a.addresses.insert("boss@partner.org");
  CHECK(a.matches("HR@Example.COM"));
  CHECK(a.matches("x@mail.example.com"));
  CHECK(a.matches("<Boss@partner.org>"));
  CHECK_FALSE(a.matches("other@partner.org"));
  CHECK_FALSE(a.matches("x@notexample.com"));

  std::string_view actions[] = {"pass", "tag", "strip", "tempfail", "quarantine", "reject"};
  CHECK(closest_match("quarantne", actions) == "quarantine");
  CHECK(closest_match("rejcet", actions) == "reject");
  CHECK(closest_match("banana", actions).empty());
}

TEST_CASE("object conditions: type, mime, extension, name, size, depth, inside") {
  auto t = tree();
  CHECK(matches("{type: pe}", t, 2));
  CHECK(matches("{type: [elf, pe]}", t, 2));
  CHECK_FALSE(matches("{type: pe}", t, 3));
  CHECK(matches("{mime: 'application/vnd.*'}", t, 2));
  CHECK_FALSE(matches("{mime: 'application/vnd.*'}", t, 1));
  CHECK(matches("{extension: pdf}", t, 3));  // cv.PDF: case-insensitive
  CHECK(matches("{extension: .exe}", t, 2));
  CHECK_FALSE(matches("{extension: pdf}", t, 2));  // Job.pdf.exe ends in exe
  CHECK(matches("{name: '*.pdf.exe'}", t, 2));
  CHECK_FALSE(matches("{name: '*.pdf.exe'}", t, 3));
  CHECK(matches("{size: '> 4KB'}", t, 2));
  CHECK(matches("{size: '>= 4KiB'}", t, 2));
  CHECK_FALSE(matches("{size: '> 4KiB'}", t, 2));
  CHECK(matches("{size: 100}", t, 3));
  CHECK(matches("{depth: 0}", t, 0));
  CHECK(matches("{depth: '>= 2'}", t, 2));
  CHECK_FALSE(matches("{depth: '>= 2'}", t, 1));
  std::string w;
  CHECK(matches("{inside: zip}", t, 2, {}, &w));
  CHECK(w == "inside=zip");
  CHECK(matches("{inside: eml}", t, 2));  // any ancestor, not only the parent
  CHECK_FALSE(matches("{inside: zip}", t, 3));
  CHECK_FALSE(matches("{inside: eml}", t, 0));  // the root is inside nothing
}

TEST_CASE("object conditions: finding, fact, encrypted, sha256, signer") {
  auto t = tree();
  std::string w;
  CHECK(matches("{finding: type.executable}", t, 2, {}, &w));
  CHECK(w == "type.executable");
  CHECK(matches("{finding: 'name.*'}", t, 2, {}, &w));
  CHECK(w == "name.double_extension");
  CHECK_FALSE(matches("{finding: type.executable}", t, 3));
  CHECK(matches("{finding: {id: 'type.*', severity: high}}", t, 2));
  CHECK_FALSE(matches("{finding: {id: 'type.*', severity: critical}}", t, 2));
  CHECK(matches("{finding: {severity: medium}}", t, 2));
  CHECK_FALSE(matches("{finding: {severity: info}}", t, 3));  // no findings at all
  CHECK(matches("{fact: {key: office.has_macros, value: 'true'}}", t, 3, {}, &w));
  CHECK(w == "office.has_macros=true");
  CHECK(matches("{fact: {key: office.has_macros}}", t, 3));
  CHECK_FALSE(matches("{fact: {key: office.has_macros, value: 'false'}}", t, 3));
  CHECK(matches("{encrypted: true}", t, 1));
  CHECK_FALSE(matches("{encrypted: true}", t, 2));
  CHECK(matches("{encrypted: false}", t, 2));
  CHECK(matches("{sha256: {list: blocked}}", t, 3));  // list file, case-insensitive
  CHECK_FALSE(matches("{sha256: {list: blocked}}", t, 2));
  CHECK(matches("{sha256: [E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855]}", t,
                3));
  CHECK(matches("{signer: {subject: 'CN=Evil*'}}", t, 3));
  CHECK(matches("{signer: {subject: {list: subjects}}}", t, 3));
  CHECK(matches("{signer: {thumbprint: {list: signers}}}", t, 3));
  CHECK(matches("{signer: {thumbprint: {list: signers}, valid: false}}", t, 3));
  CHECK_FALSE(matches("{signer: {thumbprint: {list: signers}, valid: true}}", t, 3));
  CHECK(matches("{signer: {present: true}}", t, 3));
  CHECK(matches("{signer: {present: false}}", t, 2));
}

TEST_CASE("submission conditions: channel, profile, sender, recipient, client") {
  auto t = tree();
  SubmissionFacts f;
  f.channel = "upload";
  f.sender = "alice@mail.example.com";
  f.recipients = {"bob@corp.test", "boss@partner.org"};
  f.client_address = "10.1.2.3";
  CHECK(matches("{channel: upload}", t, 0, f));
  CHECK_FALSE(matches("{channel: mail}", t, 0, f));
  CHECK(matches("{profile: upload}", t, 0, f));
  CHECK_FALSE(matches("{profile: mail}", t, 0, f));
  CHECK(matches("{sender: {list: senders}}", t, 0, f));
  CHECK(matches("{sender: [example.com]}", t, 0, f));
  CHECK_FALSE(matches("{sender: [partner.org]}", t, 0, f));
  std::string w;
  CHECK(matches("{recipient: {list: senders}}", t, 0, f, &w));
  CHECK(w == "recipient=boss@partner.org");
  CHECK_FALSE(matches("{recipient: [x@y.z]}", t, 0, f));
  CHECK(matches("{client: {list: nets}}", t, 0, f));
  CHECK(matches("{client: ['10.1.0.0/16']}", t, 0, f));
  f.client_address = "192.0.2.1";
  CHECK_FALSE(matches("{client: {list: nets}}", t, 0, f));
  SubmissionFacts none;  // no sender: a sender condition never holds
  CHECK_FALSE(matches("{sender: {list: senders}}", t, 0, none));
}

TEST_CASE("combinators all, any, not and implicit all") {
  auto t = tree();
  CHECK(matches("{all: [{type: pe}, {inside: zip}]}", t, 2));
  CHECK_FALSE(matches("{all: [{type: pe}, {inside: iso9660}]}", t, 2));
  CHECK(matches("{any: [{type: elf}, {inside: zip}]}", t, 2));
  CHECK_FALSE(matches("{any: [{type: elf}, {type: macho}]}", t, 2));
  CHECK(matches("{not: {type: pe}}", t, 3));
  CHECK_FALSE(matches("{not: {type: pe}}", t, 2));
  CHECK(matches("{type: pe, inside: zip}", t, 2));
  CHECK_FALSE(matches("{type: pe, inside: iso9660}", t, 2));
  // The witness of an `all` prefers the finding that matched.
  std::string w;
  CHECK(matches("{all: [{type: pe}, {finding: 'name.*'}]}", t, 2, {}, &w));
  CHECK(w == "name.double_extension");
}

namespace {

// A policy whose upload profile has one rule per action, selected by name.
const char* kActionPolicy = R"(name: actions
profiles:
  upload:
    rules:
      - {name: do-pass, when: {name: pass.bin}, action: pass}
      - {name: do-tag, when: {name: tag.bin}, action: tag}
      - {name: do-strip, when: {name: strip.bin}, action: strip}
      - {name: do-tempfail, when: {name: tempfail.bin}, action: tempfail}
      - {name: do-quarantine, when: {name: quarantine.bin}, action: quarantine}
      - {name: do-reject, when: {name: reject.bin}, action: reject}
)";

Decision decide_names(const YamlPolicy& p, const std::vector<std::string>& names) {
  std::vector<Object> objs;
  objs.push_back(make_object(0, -1, 0, "root.zip", "zip"));
  for (size_t i = 0; i < names.size(); ++i)
    objs.push_back(make_object(static_cast<int>(i + 1), 0, 1, "root.zip/" + names[i], "data"));
  return p.decide(objs, SubmissionFacts{});
}

}  // namespace

TEST_CASE("each action, and the verdict delivers only for pass and tag") {
  TempDir dir;
  auto p = compile(dir, kActionPolicy);
  struct Case {
    const char* name;
    Action action;
    bool delivers;
  } cases[] = {{"pass.bin", Action::pass, true},
               {"tag.bin", Action::tag, true},
               {"strip.bin", Action::strip, false},
               {"tempfail.bin", Action::tempfail, false},
               {"quarantine.bin", Action::quarantine, false},
               {"reject.bin", Action::reject, false}};
  for (const auto& c : cases) {
    CAPTURE(c.name);
    Decision d = decide_names(*p, {c.name});
    CHECK(d.action == c.action);
    CHECK(d.verdict_pass() == c.delivers);
    if (c.action != Action::pass) {
      REQUIRE(d.reasons.size() == 1);
      CHECK(d.reasons[0].rule == std::string("do-") + std::string(action_name(c.action)));
      CHECK(d.reasons[0].object == std::string("root.zip/") + c.name);
      CHECK(d.reasons[0].finding == std::string("name=") + c.name);
    } else {
      CHECK(d.reasons.empty());
    }
  }
}

TEST_CASE("severity ordering: the most severe object action wins, its reasons kept") {
  TempDir dir;
  auto p = compile(dir, kActionPolicy);
  CHECK(decide_names(*p, {"tag.bin", "strip.bin"}).action == Action::strip);
  CHECK(decide_names(*p, {"tempfail.bin", "strip.bin"}).action == Action::tempfail);
  CHECK(decide_names(*p, {"tempfail.bin", "quarantine.bin"}).action == Action::quarantine);
  Decision d = decide_names(*p, {"reject.bin", "quarantine.bin", "tag.bin", "reject.bin"});
  CHECK(d.action == Action::reject);
  REQUIRE(d.reasons.size() == 2);  // both rejected objects, not the others
  CHECK(d.reasons[0].rule == "do-reject");
  CHECK(d.reasons[1].rule == "do-reject");
  CHECK(decide_names(*p, {"pass.bin", "other.bin"}).action == Action::pass);
}

TEST_CASE("first matching rule decides; pass is an allow-list; default applies otherwise") {
  TempDir dir;
  auto p = compile(dir, R"(name: order
profiles:
  upload:
    default: tag
    rules:
      - {name: allow-known, when: {name: 'known*'}, action: pass}
      - {name: exes, when: {type: pe}, action: quarantine}
      - {name: exes-again, when: {type: pe}, action: reject}
)");
  std::vector<Object> objs{make_object(0, -1, 0, "known.exe", "pe")};
  Decision d = p->decide(objs, {});
  CHECK(d.action == Action::pass);  // allow-listed before the exe rule
  objs[0] = make_object(0, -1, 0, "setup.exe", "pe");
  d = p->decide(objs, {});
  CHECK(d.action == Action::quarantine);  // the first of the two exe rules
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "exes");
  CHECK(d.reasons[0].finding == "type=pe");
  Explanation e = p->explain(objs, {});
  REQUIRE(e.objects.size() == 1);
  CHECK(e.objects[0].rules.size() == 2);  // the third rule was never tried
  CHECK(e.objects[0].deciding_rule == 1);
  CHECK_FALSE(e.objects[0].rules[0].matched);
  objs[0] = make_object(0, -1, 0, "notes.txt", "text");
  d = p->decide(objs, {});
  CHECK(d.action == Action::tag);  // no rule matched: the profile default
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "default");
}

TEST_CASE("on_error and on_limit fail closed, even without or against a matching rule") {
  TempDir dir;
  auto p = compile(dir, R"(name: failclosed
profiles:
  mail:
    on_error: tempfail
    on_limit: quarantine
    rules:
      - {name: allow-all, when: {name: 'allowed*'}, action: pass}
  upload:
    on_error: quarantine
    on_limit: reject
    rules: []
)");
  std::vector<Object> objs{make_object(0, -1, 0, "m.eml", "eml"),
                           make_object(1, 0, 1, "m.eml/part", "data")};
  objs[1].findings.push_back(finding("unpack.error"));
  SubmissionFacts mail;
  mail.channel = "mail";
  Decision d = p->decide(objs, mail);
  CHECK(d.action == Action::tempfail);
  REQUIRE(d.reasons.size() == 1);
  CHECK(d.reasons[0].rule == "on_error");
  CHECK(d.reasons[0].object == "m.eml/part");
  CHECK(d.reasons[0].finding == "unpack.error");
  // An allow-list rule does not let an engine error through.
  objs[1].path = "m.eml/allowed.bin";
  objs[1].name = "allowed.bin";
  CHECK(p->decide(objs, mail).action == Action::tempfail);
  SubmissionFacts upload;
  CHECK(p->decide(objs, upload).action == Action::quarantine);
  // Limits.
  objs[1].findings = {finding("limits.depth")};
  CHECK(p->decide(objs, mail).action == Action::quarantine);
  d = p->decide(objs, upload);
  CHECK(d.action == Action::reject);
  CHECK(d.reasons[0].rule == "on_limit");
  CHECK(d.reasons[0].finding == "limits.depth");
  objs[1].findings = {finding("engine.error"), finding("limits.time")};
  CHECK(p->decide(objs, mail).action == Action::quarantine);  // max(tempfail, quarantine)
  objs[1].findings = {finding("unpack.unsupported")};
  CHECK(p->decide(objs, upload).action == Action::quarantine);
  // No objects at all is an engine failure too.
  CHECK(p->decide({}, upload).action == Action::quarantine);
}

TEST_CASE("profile selection, unknown profiles, limits per profile, decision identity") {
  TempDir dir;
  std::string text = R"(name: ident
limits:
  depth: 7
  total_bytes: 2GiB
profiles:
  mail:
    rules: [{name: all-mail, action: tag}]
  upload:
    limits: {depth: 3, object_bytes: 5MB}
    rules: [{name: all-upload, action: strip}]
  strict:
    rules: [{name: all-strict, action: reject}]
)";
  auto p = compile(dir, text);
  std::vector<Object> objs{make_object(0, -1, 0, "a", "data")};
  SubmissionFacts f;
  f.channel = "mail";
  Decision d = p->decide(objs, f);
  CHECK(d.action == Action::tag);
  CHECK(d.profile == "mail");
  CHECK(d.policy_name == "ident");
  // With no included files the identity is exactly sha256(file bytes).
  CHECK(d.policy_sha256 == p->compiled().sha256);
  CHECK(d.policy_sha256.size() == 64);
  f.profile = "strict";  // an explicit profile wins over the channel
  CHECK(p->decide(objs, f).action == Action::reject);
  f.profile = "nope";  // unknown: fail closed (mail retries)
  d = p->decide(objs, f);
  CHECK(d.action == Action::tempfail);
  CHECK(d.reasons[0].rule == "policy");
  f.channel = "upload";
  CHECK(p->decide(objs, f).action == Action::quarantine);
  f.profile.clear();
  CHECK(p->decide(objs, f).action == Action::strip);
  Limits l = p->limits_for(f);
  CHECK(l.max_depth == 3);
  CHECK(l.max_object_bytes == 5000000ull);
  CHECK(l.max_total_bytes == 2ull << 30);  // inherited from the top level
  f.channel = "mail";
  CHECK(p->limits_for(f).max_depth == 7);
  CHECK(p->limits_for(f).max_object_bytes == Limits{}.max_object_bytes);
}

TEST_CASE("archive_passwords: replaces the default list in every profile; bad entries are positioned errors") {
  TempDir dir;
  auto p = compile(dir, R"(name: pw
archive_passwords: [infected, "Partner-2026!", "1234"]
profiles:
  mail: {rules: []}
  upload: {limits: {depth: 3}, rules: []}
)");
  SubmissionFacts f;
  f.channel = "mail";
  CHECK(p->limits_for(f).archive_passwords == std::vector<std::string>{"infected", "Partner-2026!", "1234"});
  f.channel = "upload";
  CHECK(p->limits_for(f).archive_passwords.size() == 3);
  CHECK(p->limits_for(f).max_depth == 3);
  // Absent: the engine's default list; []: none.
  auto q = compile(dir, "name: q\nprofiles:\n  mail: {rules: []}\n");
  CHECK(q->limits_for(f).archive_passwords == Limits{}.archive_passwords);
  CHECK_FALSE(Limits{}.archive_passwords.empty());
  auto e = compile(dir, "name: e\narchive_passwords: []\nprofiles:\n  mail: {rules: []}\n");
  CHECK(e->limits_for(f).archive_passwords.empty());

  auto errors = [&](const std::string& value) {
    auto r = load_policy_file(dir.write("bad.yaml", "name: b\narchive_passwords: " + value +
                                                        "\nprofiles:\n  mail: {rules: []}\n"));
    CHECK_FALSE(r.ok());
    return diagnostics_text(r);
  };
  CHECK(errors("infected").find("bad.yaml:2:20: 'archive_passwords' must be a list of strings") !=
        std::string::npos);
  CHECK(errors("[a, \"\", b]").find("bad.yaml:2:24: an archive password must be 1 to 128 bytes") !=
        std::string::npos);
  CHECK(errors("[a, b, a]").find("bad.yaml:2:27: archive password 'a' is listed twice") != std::string::npos);
  CHECK(errors("[a, {x: 1}]").find("bad.yaml:2:24: 'archive_passwords entry' must be a string") !=
        std::string::npos);
  std::string many = "[";
  for (int i = 0; i < 33; ++i) many += (i ? ", p" : "p") + std::to_string(i);
  CHECK(errors(many + "]").find("holds 33 passwords; at most 32") != std::string::npos);
  CHECK(errors("[" + std::string(129, 'x') + "]").find("1 to 128 bytes") != std::string::npos);
}

TEST_CASE("policy sha256 is the file's, and covers included list files") {
  TempDir dir;
  std::string text = "name: s\nprofiles:\n  upload:\n    rules: []\n";
  auto p = compile(dir, text);
  // The same bytes loaded from memory give the same identity.
  auto r1 = load_policy_text(text, "x.yaml", dir.path());
  REQUIRE(r1.ok());
  CHECK(r1.policy->sha256 == p->compiled().sha256);
  // What `sha256sum policy.yaml` prints.
  CHECK(p->compiled().sha256 == "42c634abe6abcfe095c49de8e5b286725f2f942ef74ab14cccb26db225c0abfe");

  dir.write("lists/b.txt", "# none yet\n");
  std::string with_list =
      "name: s\nlists:\n  b: {kind: sha256, file: lists/b.txt}\n"
      "profiles:\n  upload:\n    rules:\n"
      "      - {name: blocked, when: {sha256: {list: b}}, action: reject}\n";
  auto a = compile(dir, with_list);
  CHECK(a->compiled().included_files.size() == 1);
  std::vector<Object> objs{make_object(0, -1, 0, "f", "data")};
  objs[0].sha256 = std::string(64, 'a');
  CHECK(a->decide(objs, {}).action == Action::pass);
  dir.write("lists/b.txt", "# now blocked\n" + std::string(64, 'A') + "\n");
  auto b = compile(dir, with_list);
  CHECK(b->decide(objs, {}).action == Action::reject);
  CHECK(a->compiled().sha256 != b->compiled().sha256);  // same policy text, new list
}

TEST_CASE("include files: missing and malformed list files are positioned errors") {
  TempDir dir;
  dir.write("lists/bad.txt", "# header\n\n   10.0.0.0/8\n   300.1.1.1/8\n");
  auto r = load_policy_file(dir.write("p.yaml", R"(name: inc
lists:
  nets: {kind: network, file: lists/bad.txt}
  gone: {kind: address, file: lists/missing.txt}
profiles:
  upload: {rules: []}
)"));
  CHECK_FALSE(r.ok());
  std::string all = diagnostics_text(r);
  CAPTURE(all);
  REQUIRE(r.diagnostics.size() == 2);
  CHECK(r.diagnostics[0].format() == dir.file("p.yaml") +
                                         ":4:31: cannot read list file 'lists/missing.txt': "
                                         "No such file or directory");
  CHECK(r.diagnostics[1].file == dir.file("lists/bad.txt"));
  CHECK(r.diagnostics[1].line == 4);
  CHECK(r.diagnostics[1].column == 4);
  // The watcher must see both files, the missing one included.
  CHECK(r.files.size() == 3);
}
