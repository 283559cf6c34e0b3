// Mach-O tests: thin and fat binaries built byte by byte (no Apple toolchain
// here), unsigned vs ad-hoc vs CMS-signed (the CMS made with `openssl cms` at
// test time), and truncation at every byte.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "analyzers/analyzer.h"
#include "analyzers/macho/macho_parser.h"
#include "analyzers/pe/code_signing.h"

using namespace sandgate;

namespace {

void be32(std::string& s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s.push_back(char(v >> (8 * i)));
}
void le32(std::string& s, uint32_t v) {
  for (int i = 0; i < 4; ++i) s.push_back(char(v >> (8 * i)));
}

// A CodeDirectory version 0x20200 with an identifier and a team id.
std::string code_directory(uint32_t flags, const std::string& ident, const std::string& team) {
  std::string body;
  uint32_t ident_off = 52, team_off = team.empty() ? 0 : uint32_t(52 + ident.size() + 1);
  uint32_t len = uint32_t(52 + ident.size() + 1 + (team.empty() ? 0 : team.size() + 1));
  be32(body, 0xfade0c02);
  be32(body, len);
  be32(body, 0x20200);
  be32(body, flags);
  be32(body, len);  // hashOffset: no slots
  be32(body, ident_off);
  be32(body, 0);  // nSpecialSlots
  be32(body, 0);  // nCodeSlots
  be32(body, 0);  // codeLimit
  body += char(32);  // hashSize
  body += char(2);   // hashType sha256
  body += char(0);
  body += char(12);
  be32(body, 0);  // spare2
  be32(body, 0);  // scatterOffset
  be32(body, team_off);
  body += ident + '\0';
  if (!team.empty()) body += team + '\0';
  return body;
}

std::string super_blob(const std::string& cd, const std::string& cms, const std::string& ent) {
  std::vector<std::pair<uint32_t, std::string>> blobs = {{0, cd}};
  if (!ent.empty()) {
    std::string e;
    be32(e, 0xfade7171);
    be32(e, uint32_t(8 + ent.size()));
    blobs.push_back({5, e + ent});
  }
  if (!cms.empty()) {
    std::string w;
    be32(w, 0xfade0b01);
    be32(w, uint32_t(8 + cms.size()));
    blobs.push_back({0x10000, w + cms});
  }
  uint32_t off = uint32_t(12 + 8 * blobs.size());
  std::string index, data;
  for (auto& [type, b] : blobs) {
    be32(index, type);
    be32(index, off + uint32_t(data.size()));
    data += b;
  }
  std::string s;
  be32(s, 0xfade0cc0);
  be32(s, uint32_t(12 + index.size() + data.size()));
  be32(s, uint32_t(blobs.size()));
  return s + index + data;
}

// A thin 64-bit little-endian executable: header, LC_UUID, optional
// LC_CODE_SIGNATURE pointing at `signature` placed at 0x100.
std::string thin64(const std::string& signature, uint32_t cpu = 0x0100000c) {
  std::string cmds;
  le32(cmds, 0x1b);  // LC_UUID
  le32(cmds, 24);
  cmds += std::string(16, '\x11');
  if (!signature.empty()) {
    le32(cmds, 0x1d);
    le32(cmds, 16);
    le32(cmds, 0x100);
    le32(cmds, uint32_t(signature.size()));
  }
  std::string h;
  le32(h, 0xfeedfacf);
  le32(h, cpu);
  le32(h, 0);
  le32(h, 2);  // MH_EXECUTE
  le32(h, signature.empty() ? 1 : 2);
  le32(h, uint32_t(cmds.size()));
  le32(h, 0);
  le32(h, 0);
  std::string f = h + cmds;
  f.resize(0x100, '\0');
  return f + signature;
}

std::string fat(const std::vector<std::string>& slices) {
  std::string f;
  be32(f, 0xcafebabe);
  be32(f, uint32_t(slices.size()));
  uint32_t off = 0x1000;
  std::string body;
  for (size_t i = 0; i < slices.size(); ++i) {
    be32(f, i == 0 ? 0x01000007 : 0x0100000c);
    be32(f, 0);
    be32(f, off + uint32_t(body.size()));
    be32(f, uint32_t(slices[i].size()));
    be32(f, 12);
    body += slices[i];
    body.resize((body.size() + 0xfff) & ~size_t(0xfff), '\0');
  }
  f.resize(0x1000, '\0');
  return f + body;
}

Object analyze(const std::string& bytes) {
  Object o;
  o.name = o.path = "hello";
  o.type.label = "macho";
  o.bytes = memory_source(bytes);
  for (auto& a : AnalyzerRegistry::instance().create_all())
    if (a->name() == "macho") a->analyze(o);
  return o;
}

int count(const Object& o, const std::string& id) {
  int n = 0;
  for (auto& f : o.findings) n += f.id == id;
  return n;
}

std::string fact(const Object& o, const std::string& k) {
  auto it = o.facts.find(k);
  return it == o.facts.end() ? std::string() : it->second;
}

std::string sh(const std::string& cmd) {
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(pclose(p) == 0);
  return out;
}

}  // namespace

TEST_CASE("ad-hoc signed and unsigned thin binaries are told apart") {
  std::string adhoc = thin64(super_blob(code_directory(0x2, "com.example.hello", ""), "", ""));
  Object a = analyze(adhoc);
  CHECK(a.has_finding("macho.adhoc"));
  CHECK_FALSE(a.has_finding("macho.unsigned"));
  CHECK_FALSE(a.has_finding("macho.malformed"));
  CHECK(fact(a, "macho.identifier") == "com.example.hello");
  CHECK(fact(a, "macho.cpu") == "arm64");
  CHECK(fact(a, "signer.subject").empty());

  Object u = analyze(thin64(""));
  CHECK(u.has_finding("macho.unsigned"));
  CHECK_FALSE(u.has_finding("macho.adhoc"));
  CHECK_FALSE(u.has_finding("macho.malformed"));
}

TEST_CASE("each slice of a fat binary is analyzed") {
  std::string adhoc = thin64(super_blob(code_directory(0x2, "com.example.fat", ""), "", ""), 0x01000007);
  std::string f = fat({adhoc, thin64("")});
  MachoInfo info = parse_macho(*memory_source(f));
  REQUIRE(info.fat);
  REQUIRE(info.slices.size() == 2);
  CHECK(info.slices[0].signature.adhoc());
  CHECK_FALSE(info.slices[1].signature.present);
  Object o = analyze(f);
  CHECK(count(o, "macho.adhoc") == 1);
  CHECK(count(o, "macho.unsigned") == 1);
  CHECK(fact(o, "macho.slices") == "2");
}

TEST_CASE("a CMS signature names the signer, its team and entitlements") {
  char tmpl[] = "/tmp/sandgate-macho-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  std::string d = tmpl;
  std::string cd = code_directory(0x0, "com.example.signed", "ABCDE12345");
  { std::ofstream(d + "/cd.bin", std::ios::binary) << cd; }
  sh("cd " + d + " && openssl req -x509 -newkey rsa:2048 -nodes -keyout k.pem -out c.pem -days 30 "
     "-subj '/CN=Developer ID Application: Test Person (ABCDE12345)/OU=ABCDE12345' 2>/dev/null && "
     "openssl cms -sign -binary -md sha256 -in cd.bin -signer c.pem -inkey k.pem -outform DER "
     "-out cms.der");
  std::ifstream in(d + "/cms.der", std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string cms = ss.str();
  REQUIRE(cms.size() > 100);
  std::string ent = "<plist><dict><key>com.apple.security.get-task-allow</key><true/></dict></plist>";
  std::string bin = thin64(super_blob(cd, cms, ent));

  CodeSignTrust t;
  t.use_system_bundle = false;
  set_codesign_trust(t);
  Object o = analyze(bin);
  CHECK(o.has_finding("macho.signed"));
  CHECK(o.has_finding("macho.signature.untrusted"));
  CHECK(o.has_finding("macho.entitlements"));
  CHECK(fact(o, "macho.team_id") == "ABCDE12345");
  CHECK(fact(o, "signer.subject").find("Developer ID Application: Test Person (ABCDE12345)") !=
        std::string::npos);
  CHECK(fact(o, "signer.valid") == "false");

  t.anchor_files = {d + "/c.pem"};
  set_codesign_trust(t);
  Object trusted = analyze(bin);
  CHECK(trusted.has_finding("macho.signed"));
  CHECK_FALSE(trusted.has_finding("macho.signature.untrusted"));
  CHECK(fact(trusted, "signer.valid") == "true");

  // The CodeDirectory changed after signing: the CMS no longer matches.
  std::string forged = bin;
  auto at = forged.find("com.example.signed");
  REQUIRE(at != std::string::npos);
  forged[at] = 'C';
  Object f = analyze(forged);
  CHECK(f.has_finding("macho.signature.invalid"));
  CHECK_FALSE(f.has_finding("macho.signed"));
  CHECK(fact(f, "signer.valid") == "false");
  set_codesign_trust(CodeSignTrust{});
  sh("rm -rf " + d);
}

TEST_CASE("truncation at every byte is a finding, never a crash") {
  std::string signed_bin = thin64(super_blob(code_directory(0x2, "com.example.hello", "TEAM"), "", ""));
  for (size_t n = 0; n < signed_bin.size(); ++n) {
    CAPTURE(n);
    Object o = analyze(signed_bin.substr(0, n));
    CHECK(o.has_finding("macho.malformed"));
    CHECK_FALSE(o.has_finding("macho.adhoc"));
  }
  std::string f = fat({signed_bin, thin64("")});
  MachoInfo whole = parse_macho(*memory_source(f));
  REQUIRE(whole.slices.size() == 2);
  uint64_t end = whole.slices[1].offset + whole.slices[1].size;  // then alignment padding
  for (size_t n = 0; n < end; n += 7) {
    CAPTURE(n);
    Object o = analyze(f.substr(0, n));
    CHECK(o.has_finding("macho.malformed"));
  }
  // Corrupted counts and offsets.
  uint32_t seed = 99;
  for (int i = 0; i < 2000; ++i) {
    seed = seed * 1103515245u + 12345u;
    std::string c = i % 2 ? signed_bin : f;
    size_t pos = (seed >> 8) % c.size();
    c[pos] = char(seed >> 3);
    analyze(c);
  }
}
