// ContentFilter: each policy action, and the never-lose rule (2xx only after
// the next hop's 2xx or a successful quarantine put).
#include "gateway/smtp/content_filter.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"
#include "tests/gateway/smtp/smtp_test_util.h"
#include "tests/gateway/test_archives.h"

using namespace sandgate;
using namespace sandgate::smtp;
using sandgate::smtp::testing::read_file;
using sandgate::smtp::testing::TempDir;

namespace {

struct FakeRelay : Relay {
  int calls = 0;
  MessageRewrite last;
  Envelope env;
  std::string path, content;  // what was sent (the file is gone afterwards)
  RelayResult result{true, Reply{250, "2.0.0 Ok: queued as ABC123"}};
  RelayResult send(const Envelope& e, const std::string& p, const MessageRewrite& rw) override {
    ++calls;
    last = rw;
    env = e;
    path = p;
    content = read_file(p);
    return result;
  }
};

struct FakeStore : QuarantineStore {
  bool fail = false;
  std::vector<QuarantineItem> items;
  std::vector<std::string> contents;
  std::optional<std::string> put(const std::string& path, QuarantineItem item,
                                 std::string* error) override {
    if (fail) {
      *error = "disk full";
      return std::nullopt;
    }
    item.id = "Q" + std::to_string(items.size() + 1);
    contents.push_back(read_file(path));
    items.push_back(item);
    return item.id;
  }
  std::optional<QuarantineItem> get(const std::string&, std::string*) override {
    return std::nullopt;
  }
  std::vector<QuarantineItem> list(const QuarantineFilter&, std::string*) override { return items; }
  std::optional<std::string> content_path(const std::string&, std::string*) override {
    return std::nullopt;
  }
  std::vector<std::pair<std::string, QuarantineState>> state_changes;
  bool set_state(const std::string& id, QuarantineState st, const std::string&,
                 std::string*) override {
    state_changes.emplace_back(id, st);
    return true;
  }
  std::optional<size_t> purge(int64_t, const std::string&, std::string*) override { return 0; }
  std::vector<AuditRecord> audit(const std::string&, std::string*) override { return {}; }
};

struct Fixture {
  TempDir dir;
  std::string spool;
  Envelope env;
  FakeRelay relay;
  FakeStore store;
  Action action = Action::pass;
  bool scan_throws = false;
  Submission seen;
  Fixture() {
    spool = (dir.path / "m.eml").string();
    std::ofstream(spool, std::ios::binary) << "Subject: offer\r\n\r\nhello\r\n";
    env.sender = "a@x.test";
    env.recipients = {{"b@y.test", {}}};
    env.client_address = "127.0.0.1";
    env.xforward.addr = "192.0.2.7";
  }
  Reply run(QuarantineStore* s) {
    ScanFunction scan = [this](const Submission& sub) {
      seen = sub;
      if (scan_throws) throw std::runtime_error("engine down");
      Report r;
      r.id = "11111111-2222-3333-4444-555555555555";
      r.decision.action = action;
      r.decision.policy_name = "default";
      r.decision.reasons.push_back({"block-exe", "mail.eml/a.exe\r\nX-Evil: 1", "type.executable"});
      return r;
    };
    ContentFilter filter(scan, relay, s, FilterOptions{});
    return filter.deliver(env, spool, 26);
  }
  Reply run() { return run(&store); }
};

}  // namespace

TEST_CASE("pass relays with the verdict headers and gives the next hop's answer") {
  Fixture f;
  Reply r = f.run();
  CHECK(r.code == 250);
  CHECK(r.text == "2.0.0 Ok: queued as ABC123");
  CHECK(f.relay.calls == 1);
  REQUIRE(f.relay.last.add_headers.size() == 2);
  CHECK(f.relay.last.add_headers[0] == "X-Sandgate-Verdict: pass (action=pass)");
  CHECK(f.relay.last.add_headers[1].rfind(
            "X-Sandgate-Report: id=11111111-2222-3333-4444-555555555555", 0) == 0);
  // Names from the message cannot inject header lines.
  CHECK(f.relay.last.add_headers[1].find('\r') == std::string::npos);
  CHECK(f.relay.last.add_headers[1].find('\n') == std::string::npos);
  CHECK(f.relay.last.subject_prefix.empty());
  CHECK(f.store.items.empty());
  // The scan saw the mail facts, with the XFORWARD client.
  CHECK(f.seen.facts.channel == "mail");
  CHECK(f.seen.facts.sender == "a@x.test");
  CHECK(f.seen.facts.recipients == std::vector<std::string>{"b@y.test"});
  CHECK(f.seen.facts.client_address == "192.0.2.7");
}

TEST_CASE("tag relays with a Subject prefix") {
  Fixture f;
  f.action = Action::tag;
  CHECK(f.run().code == 250);
  CHECK(f.relay.last.subject_prefix == "[SUSPICIOUS] ");
  CHECK(f.relay.last.add_headers[0] == "X-Sandgate-Verdict: pass (action=tag)");
}

TEST_CASE("a next hop failure is never acknowledged") {
  Fixture f;
  f.relay.result = RelayResult{false, Reply{451, "4.4.2 Error: next hop: Connection refused"}};
  CHECK(f.run().code == 451);
  // A next hop 5xx is passed on (the sender bounces; nothing silently lost).
  f.relay.result = RelayResult{false, Reply{554, "5.7.1 no thanks"}};
  CHECK(f.run().code == 554);
  // Defensive: a relay that says "not delivered" with a 2xx becomes 451.
  f.relay.result = RelayResult{false, Reply{250, "2.0.0 odd"}};
  CHECK(f.run().code == 451);
}

TEST_CASE("quarantine stores the original and answers 250 only after put succeeded") {
  Fixture f;
  f.action = Action::quarantine;
  Reply r = f.run();
  CHECK(r.code == 250);
  CHECK(r.text == "2.0.0 Ok: held in quarantine as Q1");
  CHECK(f.relay.calls == 0);
  REQUIRE(f.store.items.size() == 1);
  const auto& item = f.store.items[0];
  CHECK(item.channel == "mail");
  CHECK(item.sender == "a@x.test");
  CHECK(item.recipients == std::vector<std::string>{"b@y.test"});
  CHECK(item.client_address == "192.0.2.7");
  CHECK(item.subject == "offer");
  CHECK(item.action == "quarantine");
  CHECK(item.report_json.find("\"action\":\"quarantine\"") != std::string::npos);
  CHECK(f.store.contents[0] == "Subject: offer\r\n\r\nhello\r\n");

  f.store.fail = true;
  r = f.run();
  CHECK(r.code == 451);
  CHECK(r.text.find("disk full") != std::string::npos);
  CHECK(f.run(nullptr).code == 451);  // no store open: tempfail, never 250
}

TEST_CASE("strip that cannot locate the offending part holds the whole message, and says so") {
  Fixture f;  // not multipart, and the reason names no object of the report
  f.action = Action::strip;
  Reply r = f.run();
  CHECK(r.code == 250);
  CHECK(r.text.rfind("2.0.0 Ok: held in quarantine as Q1 (strip not possible: ", 0) == 0);
  CHECK(r.text.find("held whole") != std::string::npos);
  CHECK(r.text.find('\r') == std::string::npos);
  CHECK(f.store.items.size() == 1);
  CHECK(f.store.items[0].action == "strip");
  CHECK(f.relay.calls == 0);
}

namespace {

constexpr std::string_view kStripPolicy = R"(name: strip-filter-test
profiles:
  mail:
    default: pass
    rules:
      - {name: strip-executables, when: {type: [pe]}, action: strip}
  upload:
    default: pass
)";

// A real scan (engine + YAML policy) of a message with a text attachment and
// a base64 executable.
struct StripFixture {
  TempDir dir;
  std::string spool, message;
  Envelope env;
  FakeRelay relay;
  FakeStore store;
  std::shared_ptr<Policy> policy;
  StripFixture() {
    policy_lang::LoadResult lr = policy_lang::load_policy_text(kStripPolicy, "p.yaml", "/tmp");
    REQUIRE(lr.ok());
    policy = std::make_shared<policy_lang::YamlPolicy>(lr.policy);
    std::string pe = sandgate::testing::make_pe();
    message =
        "Subject: offer\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        "--b1\r\nContent-Type: text/plain; name=cv.txt\r\n\r\nCV as text\r\n"
        "--b1\r\nContent-Type: application/octet-stream; name=setup.exe\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n" +
        base64_lines(pe) + "--b1--\r\n";
    spool = (dir.path / "m.eml").string();
    std::ofstream(spool, std::ios::binary) << message;
    env.sender = "a@x.test";
    env.recipients = {{"b@y.test", {}}};
    env.client_address = "127.0.0.1";
  }
  static std::string base64_lines(const std::string& in) {
    static constexpr char kA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    for (size_t i = 0; i < in.size(); i += 3) {
      uint32_t v = static_cast<uint8_t>(in[i]) << 16;
      if (i + 1 < in.size()) v |= static_cast<uint8_t>(in[i + 1]) << 8;
      if (i + 2 < in.size()) v |= static_cast<uint8_t>(in[i + 2]);
      out += kA[(v >> 18) & 63];
      out += kA[(v >> 12) & 63];
      out += i + 1 < in.size() ? kA[(v >> 6) & 63] : '=';
      out += i + 2 < in.size() ? kA[v & 63] : '=';
      if (i % 57 == 54) out += "\r\n";
    }
    return out + "\r\n";
  }
  Reply run() {
    ScanFunction scan = [this](const Submission& sub) { return scan_submission(sub, *policy); };
    ContentFilter filter(scan, relay, &store, FilterOptions{});
    return filter.deliver(env, spool, message.size());
  }
};

}  // namespace

TEST_CASE("strip stores the original, relays the message with the executable replaced") {
  StripFixture f;
  Reply r = f.run();
  CHECK(r.code == 250);
  CHECK(r.text ==
        "2.0.0 Ok: queued as ABC123 (1 attachment stripped; original held in quarantine as Q1)");
  // The original, whole, in the quarantine.
  REQUIRE(f.store.items.size() == 1);
  CHECK(f.store.contents[0] == f.message);
  CHECK(f.store.items[0].action == "strip");
  // The relayed copy: everything up to the third part identical, the notice
  // in its place, the close delimiter kept.
  REQUIRE(f.relay.calls == 1);
  size_t part3 = f.message.find("Content-Type: application/octet-stream");
  CHECK(f.relay.content.substr(0, part3) == f.message.substr(0, part3));
  CHECK(f.relay.content.find("CV as text\r\n--b1\r\n") != std::string::npos);
  CHECK(f.relay.content.find("File: setup.exe") != std::string::npos);
  CHECK(f.relay.content.find("held in quarantine as\r\nQ1\r\n") != std::string::npos);
  CHECK(f.relay.content.size() > 8);
  CHECK(f.relay.content.substr(f.relay.content.size() - 8) == "--b1--\r\n");
  CHECK(f.relay.content.find("TVq") == std::string::npos);
  // The headers say what happened and where the original is.
  REQUIRE(f.relay.last.add_headers.size() == 2);
  CHECK(f.relay.last.add_headers[0] == "X-Sandgate-Verdict: quarantine (action=strip)");
  CHECK(f.relay.last.add_headers[1].find("; quarantine=Q1; reasons=strip-executables") !=
        std::string::npos);
  // The stripped copy is removed after the relay.
  CHECK(f.relay.path != f.spool);
  CHECK_FALSE(std::filesystem::exists(f.relay.path));
  CHECK(f.store.state_changes.empty());
}

TEST_CASE("strip: a next hop failure is a 451 and the held copy is marked deleted") {
  StripFixture f;
  f.relay.result = RelayResult{false, Reply{451, "4.4.2 Error: next hop: Connection refused"}};
  Reply r = f.run();
  CHECK(r.code == 451);
  REQUIRE(f.store.state_changes.size() == 1);
  CHECK(f.store.state_changes[0].first == "Q1");
  CHECK(f.store.state_changes[0].second == QuarantineState::deleted);
  // No store: never acknowledged.
  StripFixture g;
  ScanFunction scan = [&g](const Submission& sub) { return scan_submission(sub, *g.policy); };
  ContentFilter filter(scan, g.relay, nullptr, FilterOptions{});
  CHECK(filter.deliver(g.env, g.spool, g.message.size()).code == 451);
  CHECK(g.relay.calls == 0);
  // The store fails: 451, nothing relayed.
  StripFixture h;
  h.store.fail = true;
  CHECK(h.run().code == 451);
  CHECK(h.relay.calls == 0);
}

TEST_CASE("reject answers 550 5.7.1, tempfail 451, an engine error 451") {
  Fixture f;
  f.action = Action::reject;
  Reply r = f.run();
  CHECK(r.code == 550);
  CHECK(r.text.rfind("5.7.1 Message rejected by policy: block-exe (type.executable", 0) == 0);
  CHECK(r.text.find('\n') == std::string::npos);
  f.action = Action::tempfail;
  CHECK(f.run().code == 451);
  f.scan_throws = true;
  f.action = Action::pass;
  CHECK(f.run().code == 451);
  CHECK(f.relay.calls == 0);
  CHECK(f.store.items.empty());
}
