// Hot reload: a valid edit takes effect, an invalid edit is refused while the
// old policy keeps serving, holders of the old version keep a consistent
// policy, included list files are watched, and SIGHUP-style requests work.
#include "policies/language/policy_store.h"

#include <doctest/doctest.h>

#include <chrono>
#include <thread>

#include "tests/policies/language/test_util.h"

using namespace sandgate;
using namespace sandgate::policy_lang;
using namespace sandgate::policy_test;

namespace {

std::string policy_with(const std::string& exe_action) {
  return "name: reload\n"
         "lists:\n  blocked: {kind: sha256, file: lists/blocked.txt}\n"
         "profiles:\n  upload:\n    rules:\n"
         "      - {name: blocked, when: {sha256: {list: blocked}}, action: reject}\n"
         "      - {name: exes, when: {type: pe}, action: " +
         exe_action + "}\n";
}

std::vector<Object> exe() {
  std::vector<Object> v{make_object(0, -1, 0, "a.exe", "pe")};
  v[0].sha256 = std::string(64, 'b');
  return v;
}

// Waits up to 5 s for cond.
template <class F>
bool eventually(F cond) {
  for (int i = 0; i < 100; ++i) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

// Rewrites a file so that its stamp surely changes (size differs or mtime moves).
void rewrite(const TempDir& dir, const std::string& rel, const std::string& text) {
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  dir.write(rel, text);
}

}  // namespace

TEST_CASE("reload: valid edit swaps, invalid edit is refused, old holders stay consistent") {
  TempDir dir;
  dir.write("lists/blocked.txt", "# empty\n");
  std::string path = dir.write("policy.yaml", policy_with("quarantine"));
  std::vector<std::string> log;
  PolicyStore store(path, [&](const std::string& l) { log.push_back(l); });
  REQUIRE(store.ok());
  auto v1 = store.current();
  CHECK(v1->decide(exe(), {}).action == Action::quarantine);
  std::string sha1 = v1->compiled().sha256;

  // A valid edit takes effect.
  rewrite(dir, "policy.yaml", policy_with("tag"));
  ReloadResult r = store.reload_now();
  CHECK(r.swapped);
  CHECK(r.diagnostics.empty());
  auto v2 = store.current();
  CHECK(v2->decide(exe(), {}).action == Action::tag);
  CHECK(v2->decide(exe(), {}).policy_sha256 != sha1);
  CHECK(store.generation() == 1);
  // The holder of the old version still decides with the old one.
  CHECK(v1->decide(exe(), {}).action == Action::quarantine);
  CHECK(v1->decide(exe(), {}).policy_sha256 == sha1);

  // An invalid edit is refused; the running version keeps serving.
  rewrite(dir, "policy.yaml", policy_with("quarantne"));
  r = store.reload_now();
  CHECK_FALSE(r.swapped);
  REQUIRE(r.diagnostics.size() == 1);
  CHECK(r.diagnostics[0].message.find("did you mean 'quarantine'?") != std::string::npos);
  CHECK(r.diagnostics[0].line == 8);
  CHECK(store.current() == v2);
  CHECK(store.current()->decide(exe(), {}).action == Action::tag);
  CHECK(store.generation() == 1);
  REQUIRE(log.size() >= 2);
  bool logged = false;
  for (const auto& l : log) logged |= l.find("NOT reloaded") != std::string::npos;
  CHECK(logged);

  // Reloading unchanged content is not a new version.
  rewrite(dir, "policy.yaml", policy_with("tag"));
  r = store.reload_now();
  CHECK(r.unchanged);
  CHECK_FALSE(r.swapped);
  CHECK(store.current() == v2);
}

TEST_CASE("reload: the watcher notices the policy file and included list files") {
  TempDir dir;
  dir.write("lists/blocked.txt", "# empty\n");
  std::string path = dir.write("policy.yaml", policy_with("quarantine"));
  PolicyStore store(path, [](const std::string&) {});
  REQUIRE(store.ok());
  store.start_watching(std::chrono::milliseconds(50));

  // An edit of an included list file takes effect on its own.
  rewrite(dir, "lists/blocked.txt", "# now blocked\n" + std::string(64, 'b') + "\n");
  CHECK(eventually([&] { return store.current()->decide(exe(), {}).action == Action::reject; }));
  CHECK(store.generation() == 1);

  // A broken list file is refused; the policy keeps blocking.
  rewrite(dir, "lists/blocked.txt", "not a hash at all\n");
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  CHECK(store.current()->decide(exe(), {}).action == Action::reject);
  CHECK(store.generation() == 1);

  // Fixing it (and editing the policy) is picked up again.
  rewrite(dir, "lists/blocked.txt", "# empty again\n");
  CHECK(eventually([&] { return store.generation() == 2; }));
  CHECK(store.current()->decide(exe(), {}).action == Action::quarantine);
  rewrite(dir, "policy.yaml", policy_with("strip"));
  CHECK(eventually([&] { return store.current()->decide(exe(), {}).action == Action::strip; }));
  store.stop_watching();
}

TEST_CASE("reload: request_reload (the SIGHUP path) is served by the watcher") {
  TempDir dir;
  dir.write("lists/blocked.txt", "# empty\n");
  std::string path = dir.write("policy.yaml", policy_with("quarantine"));
  PolicyStore store(path, [](const std::string&) {});
  // A poll interval far longer than the test: only the request can trigger it.
  store.start_watching(std::chrono::hours(1));
  rewrite(dir, "policy.yaml", policy_with("reject"));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(store.current()->decide(exe(), {}).action == Action::quarantine);
  store.request_reload();
  CHECK(eventually([&] { return store.current()->decide(exe(), {}).action == Action::reject; }));
}

TEST_CASE("reload: concurrent readers always see a complete policy") {
  TempDir dir;
  dir.write("lists/blocked.txt", "# empty\n");
  std::string path = dir.write("policy.yaml", policy_with("quarantine"));
  PolicyStore store(path, [](const std::string&) {});
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, reads{0};
  std::thread reader([&] {
    while (!stop) {
      auto p = store.current();
      Decision d = p->decide(exe(), {});
      // Each version is internally consistent: its action matches its identity.
      bool q = d.action == Action::quarantine, t = d.action == Action::tag;
      if (!(q || t) || d.policy_sha256 != p->compiled().sha256) ++bad;
      ++reads;
    }
  });
  for (int i = 0; i < 20; ++i) {
    dir.write("policy.yaml", policy_with(i % 2 ? "quarantine" : "tag"));
    store.reload_now();
  }
  stop = true;
  reader.join();
  CHECK(bad == 0);
  CHECK(reads > 0);
}

TEST_CASE("a store whose first load fails reports the errors and serves nothing") {
  TempDir dir;
  std::string path = dir.write("policy.yaml", "name: x\nprofiles: [1, 2]\n");
  PolicyStore store(path, [](const std::string&) {});
  CHECK_FALSE(store.ok());
  REQUIRE(store.initial_diagnostics().size() == 1);
  CHECK(store.initial_diagnostics()[0].line == 2);
  CHECK(store.initial_diagnostics()[0].column == 11);
}
