// The scan engine. Builds the object tree depth-first: each object is typed,
// analysed, then unpacked; every child is processed completely (and its bytes
// released) before the next sibling is read, so scratch space and memory stay
// bounded by the limits, not by the submission.
//
// Limits are enforced while bytes are produced (ChildSink::write), not after:
// a bomb stops at the first block past a limit.
#include "gateway/engine.h"
#include "unpack/hex.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>


#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <exception>
#include <set>

#include "analyzers/analyzer.h"
#include "analyzers/name_util.h"
#include "analyzers/pe/code_signing.h"
#include "analyzers/yara/yara_rules.h"
#include "gateway/uuid.h"
#include "policies/language/yaml_policy.h"
#include "unpack/type_detect.h"
#include "unpack/unpacker.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"engine.error", Severity::high, "the engine failed on this object: it was not fully inspected"},
    {"limits.depth", Severity::medium, "a container is nested deeper than the depth limit"},
    {"limits.objects", Severity::medium, "the submission holds more objects than the limit"},
    {"limits.total_bytes", Severity::medium, "the unpacked bytes exceed the total limit"},
    {"limits.object_bytes", Severity::medium, "one unpacked object exceeds the size limit"},
    {"limits.ratio", Severity::medium, "a container expands beyond the compression ratio limit"},
    {"limits.time", Severity::medium, "the scan ran out of time"},
});

namespace {

using Clock = std::chrono::steady_clock;

// Incremental SHA-256, SHA-1 and MD5 in one pass.
// SHA-1 and MD5 serve look-ups in threat intelligence, which know files, not
// the parts inside a document: parts of OOXML/ODF documents get SHA-256 only
// (MD5 is the slowest of the three and would cost a third of the scan).
class Hashes {
 public:
  explicit Hashes(bool all = true) : count_(all ? 3 : 1) {
    static const EVP_MD* const kAlgorithms[3] = {EVP_sha256(), EVP_sha1(), EVP_md5()};
    for (int i = 0; i < count_; ++i) {
      ctx_[i] = EVP_MD_CTX_new();
      EVP_DigestInit_ex(ctx_[i], kAlgorithms[i], nullptr);
    }
  }
  ~Hashes() {
    for (int i = 0; i < count_; ++i) EVP_MD_CTX_free(ctx_[i]);
  }
  Hashes(const Hashes&) = delete;
  Hashes& operator=(const Hashes&) = delete;
  void update(const void* data, size_t n) {
    for (int i = 0; i < count_; ++i) EVP_DigestUpdate(ctx_[i], data, n);
  }
  void finish(Object& obj) {
    obj.sha256 = hex(ctx_[0]);
    if (count_ == 3) {
      obj.sha1 = hex(ctx_[1]);
      obj.md5 = hex(ctx_[2]);
    }
  }

 private:
  static std::string hex(EVP_MD_CTX* c) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_DigestFinal_ex(c, md, &n);
    return hex_lower(md, n);
  }
  int count_;
  EVP_MD_CTX* ctx_[3] = {nullptr, nullptr, nullptr};
};

bool is_document_container(std::string_view label) { return label == "ooxml" || label == "odf"; }

std::string join_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}

// Extensions browsers open as HTML from the file system or a download.
bool renders_as_html(std::string_view name) {
  static constexpr std::string_view kExtensions[] = {"html", "htm", "xhtml", "xht", "shtml", "shtm"};
  std::string ext = last_extension(leaf_name(name));
  return std::find(std::begin(kExtensions), std::end(kExtensions), ext) != std::end(kExtensions);
}

struct ScanState {
  Limits limits;
  Clock::time_point deadline;
  ScanOptions options;
  std::deque<Object> objects;  // deque: references stay valid while children are appended
  std::vector<std::unique_ptr<Analyzer>> analyzers;
  uint64_t total_bytes = 0;
  bool stopped = false;  // a submission-wide limit was hit
  // The root is an RFC 5322 message whatever its bytes look like (channel
  // "mail": what an MTA handed over). Typed "eml" without sniffing, so that
  // bytes no text check accepts (a NUL in a preamble or a binary body) cannot
  // make a mail an opaque "data" object that is never unpacked.
  bool root_is_message = false;
  std::set<std::string> limits_seen;
  std::vector<std::string> limits_hit;
  // Archive password candidates from the messages of this submission (see
  // UnpackContext::add_password_candidates); bounded and de-duplicated.
  static constexpr size_t kMaxPasswordCandidates = 20;
  static constexpr size_t kMaxPasswordBytes = 64;
  std::vector<PasswordCandidate> passwords;

  // Checked for every block a child receives (thousands per mail: a MIME
  // decoder writes line by line), so it reads the coarse monotonic clock: the
  // same epoch as steady_clock, at most one kernel tick (a few ms) behind, and
  // a few ns per read instead of ~20.
  bool out_of_time() {
    if (stopped) return true;
    struct timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    if (Clock::time_point(std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)) <
        deadline)
      return false;
    hit_limit(0, "limits.time", "scan exceeded " + std::to_string(limits.max_seconds) + " s");
    stopped = true;
    return true;
  }

  // Records a limit finding on object idx (once per object and id).
  void hit_limit(size_t idx, const std::string& id, std::string message) {
    Object& obj = objects[idx];
    if (!obj.has_finding(id)) obj.findings.push_back(make_finding(id, std::move(message)));
    if (limits_seen.insert(id).second) limits_hit.push_back(id);
  }

  void process(size_t idx);
};

// Where a child's bytes go while they are produced: memory up to a threshold,
// then an unlinked scratch file. Also hashes and enforces the byte limits.
class ChildSink final : public ChildWriter {
 public:
  // 4 MiB keeps the parts of ordinary documents (a DOCX's document.xml, its
  // images) in memory: spilling them cost a write and a read per part, a
  // sixth of a 2 MB DOCX scan (bench/office_bench.sh). Memory per scan stays
  // bounded: bytes are released as each object is done, so at most the
  // ancestors of the current object are held (depth x 4 MiB).
  static constexpr size_t kMemoryLimit = 4 << 20;
  static constexpr size_t kReserveLimit = 1 << 20;

  ChildSink(ScanState& state, size_t parent, ChildInfo info, uint64_t* container_output,
            bool* container_stopped, const uint64_t* container_consumed)
      : state_(state),
        parent_(parent),
        info_(std::move(info)),
        container_output_(container_output),
        container_stopped_(container_stopped),
        container_consumed_(container_consumed),
        hashes_(!is_document_container(state.objects[parent].type.label)) {
    // One allocation for a small child instead of a string grown by doubling.
    // Capped at 1 MiB: the declared size is the container's claim, and a
    // bomb of many entries each claiming megabytes must not cost a large
    // allocation per entry before a byte is produced.
    if (info_.declared_size > 0)
      memory_.reserve(static_cast<size_t>(
          std::min<int64_t>(info_.declared_size, static_cast<int64_t>(kReserveLimit))));
  }

  ~ChildSink() override {
    if (fd_ >= 0) ::close(fd_);
  }

  bool write(const void* data, size_t n) override {
    if (blocked_) return false;
    if (state_.out_of_time()) return block();
    const Limits& lim = state_.limits;
    uint64_t room = lim.max_object_bytes - size_;
    bool cut = false;
    if (n > room) {
      n = static_cast<size_t>(room);
      cut = true;
    }
    if (state_.total_bytes + n > lim.max_total_bytes) {
      state_.hit_limit(parent_, "limits.total_bytes",
                       "unpacked bytes exceed " + std::to_string(lim.max_total_bytes));
      state_.stopped = true;
      truncated_ = true;
      return block();
    }
    uint64_t produced = *container_output_ + n;
    const Object& container = state_.objects[parent_];
    // Judge against what the unpacker has consumed so far when it says (a
    // stream), else against the whole container.
    uint64_t input = container.size;
    if (*container_consumed_ > 0)
      input = std::min(input, std::max<uint64_t>(*container_consumed_, 64 << 10));
    if (produced > lim.ratio_slack_bytes &&
        static_cast<double>(produced) > lim.max_ratio * static_cast<double>(input)) {
      state_.hit_limit(parent_, "limits.ratio",
                       "expands beyond " + std::to_string(static_cast<int>(lim.max_ratio)) +
                           "x its " + std::to_string(container.size) + " bytes");
      *container_stopped_ = true;
      truncated_ = true;
      return block();
    }
    // The whole submission is held to the ratio too: a recursive bomb (42.zip)
    // has a modest ratio at each level but not overall.
    uint64_t total_after = state_.total_bytes + n;
    const Object& root = state_.objects[0];
    if (total_after > lim.ratio_slack_bytes &&
        static_cast<double>(total_after) > lim.max_ratio * static_cast<double>(root.size)) {
      state_.hit_limit(0, "limits.ratio",
                       "the submission expands beyond " +
                           std::to_string(static_cast<int>(lim.max_ratio)) + "x its size");
      state_.stopped = true;
      truncated_ = true;
      return block();
    }
    if (!append(data, n)) return block();
    *container_output_ = produced;
    state_.total_bytes += n;
    if (cut) {
      truncated_ = true;
      findings_.push_back(make_finding(
          "limits.object_bytes", "object cut at " + std::to_string(lim.max_object_bytes) + " bytes"));
      if (state_.limits_seen.insert("limits.object_bytes").second)
        state_.limits_hit.push_back("limits.object_bytes");
      return block();
    }
    return true;
  }

  void add_finding(Finding f) override { findings_.push_back(std::move(f)); }

  void finish() override {
    if (finished_) return;
    finished_ = true;
    Object child;
    child.parent = static_cast<int>(parent_);
    const Object& parent = state_.objects[parent_];
    child.depth = parent.depth + 1;
    child.name = info_.name;
    child.path = join_path(parent.path, info_.name);
    child.declared_mime = info_.declared_mime;
    child.encrypted = info_.encrypted;
    child.truncated = truncated_;
    child.size = size_;
    hashes_.finish(child);
    child.findings = std::move(findings_);
    if (fd_ >= 0) {
      std::string err;
      child.bytes = open_fd_source(err);
      if (!child.bytes) child.findings.push_back(make_finding("engine.error", "scratch file: " + err));
    } else {
      child.bytes = memory_source(std::move(memory_));
    }
    if (!child.bytes) child.bytes = memory_source({});
    state_.objects.push_back(std::move(child));
    state_.process(state_.objects.size() - 1);
    // Back in the parent's unpacker.
    if (ScanProgress* progress = state_.options.progress) {
      const Object& parent = state_.objects[parent_];
      progress->at(parent.path, "unpacker", parent.type.label);
    }
  }

 private:
  bool block() {
    blocked_ = true;
    return false;
  }

  bool append(const void* data, size_t n) {
    hashes_.update(data, n);
    size_ += n;
    if (fd_ < 0 && memory_.size() + n <= kMemoryLimit) {
      memory_.append(static_cast<const char*>(data), n);
      return true;
    }
    if (fd_ < 0 && !spill()) return false;
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        findings_.push_back(make_finding("engine.error", "cannot write scratch file",
                                         std::strerror(errno)));
        return false;
      }
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  bool spill() {
    std::string dir = state_.options.scratch_dir;
    if (dir.empty()) {
      const char* tmp = ::getenv("TMPDIR");
      dir = tmp && *tmp ? tmp : "/tmp";
    }
    std::string tmpl = dir + "/sandgate-XXXXXX";
    fd_ = ::mkostemp(tmpl.data(), O_CLOEXEC);
    if (fd_ < 0) {
      findings_.push_back(make_finding("engine.error", "cannot create scratch file in " + dir,
                                       std::strerror(errno)));
      return false;
    }
    ::unlink(tmpl.c_str());  // the open descriptor keeps it; nothing is left behind
    std::string pending = std::move(memory_);
    memory_.clear();
    const char* p = pending.data();
    size_t n = pending.size();
    while (n > 0) {
      ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      p += w;
      n -= static_cast<size_t>(w);
    }
    return true;
  }

  ByteSourcePtr open_fd_source(std::string& err) {
    // Re-open through /proc so the source owns its own descriptor.
    std::string path = "/proc/self/fd/" + std::to_string(fd_);
    return open_file_source(path, &err);
  }

  ScanState& state_;
  size_t parent_;
  ChildInfo info_;
  uint64_t* container_output_;
  bool* container_stopped_;
  const uint64_t* container_consumed_;
  Hashes hashes_;
  std::string memory_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool blocked_ = false;
  bool truncated_ = false;
  bool finished_ = false;
  std::vector<Finding> findings_;
};

class Context final : public UnpackContext {
 public:
  Context(ScanState& state, size_t idx) : state_(state), idx_(idx) {}

  std::unique_ptr<ChildWriter> begin_child(ChildInfo info) override {
    if (should_stop()) return nullptr;
    if (state_.objects.size() >= state_.limits.max_objects) {
      state_.hit_limit(idx_, "limits.objects",
                       "more than " + std::to_string(state_.limits.max_objects) + " objects");
      state_.stopped = true;
      return nullptr;
    }
    return std::make_unique<ChildSink>(state_, idx_, std::move(info), &output_, &stopped_,
                                       &consumed_);
  }

  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override {
    auto child = begin_child(std::move(info));
    if (!child) return false;
    SourceStream in(std::move(bytes));
    for (;;) {
      auto chunk = in.next_chunk();
      if (chunk.empty()) break;
      if (!child->write(chunk.data(), chunk.size())) break;
    }
    child->finish();
    return !should_stop();
  }

  void add_finding(Finding f) override {
    Object& obj = state_.objects[idx_];
    if (f.id.starts_with("limits.") && state_.limits_seen.insert(f.id).second)
      state_.limits_hit.push_back(f.id);
    obj.findings.push_back(std::move(f));
  }

  bool should_stop() const override { return stopped_ || state_.out_of_time(); }
  void note_input_consumed(uint64_t offset) override { consumed_ = std::max(consumed_, offset); }
  const Limits& limits() const override { return state_.limits; }
  double seconds_left() const override {
    return std::chrono::duration<double>(state_.deadline - Clock::now()).count();
  }

  void add_password_candidates(std::vector<std::string> passwords, std::string source) override {
    for (auto& p : passwords) {
      if (state_.passwords.size() >= ScanState::kMaxPasswordCandidates) return;
      if (p.empty() || p.size() > ScanState::kMaxPasswordBytes) continue;
      bool seen = std::any_of(state_.passwords.begin(), state_.passwords.end(),
                              [&](const PasswordCandidate& c) { return c.password == p; });
      if (!seen) state_.passwords.push_back({std::move(p), source});
    }
  }
  std::vector<PasswordCandidate> password_candidates() const override { return state_.passwords; }

  bool account_output(uint64_t n) override {
    output_ += n;
    const Object& obj = state_.objects[idx_];
    if (output_ > state_.limits.ratio_slack_bytes &&
        static_cast<double>(output_) > state_.limits.max_ratio * static_cast<double>(obj.size)) {
      state_.hit_limit(idx_, "limits.ratio", "expands beyond the ratio limit");
      stopped_ = true;
      return false;
    }
    return true;
  }

 private:
  ScanState& state_;
  size_t idx_;
  uint64_t output_ = 0;
  uint64_t consumed_ = 0;
  bool stopped_ = false;
};

void ScanState::process(size_t idx) {
  Object& obj = objects[idx];
  obj.index = static_cast<int>(idx);
  ScanProgress* progress = options.progress;
  if (progress) progress->at(obj.path, "type detection", {});
  try {
    if (idx == 0 && root_is_message) {
      obj.type.label = "eml";
      obj.type.mime = "message/rfc822";
    } else {
      obj.type = detect_type(*obj.bytes);
      // Content the sniffers recognise nothing in, declared a message by its
      // container (an attached message/rfc822 with a NUL in its header
      // section): unpacked as one. Only as a fallback: a declaration never
      // hides a type the content shows.
      if (obj.type.label == "data" && obj.declared_mime == "message/rfc822") {
        obj.type.label = "eml";
        obj.type.mime = "message/rfc822";
      }
      // A browser renders a file named .html as a page whatever precedes its
      // tags (a page of plain text, a NUL), where sniffing reads only the
      // start. Content that shows no other type is typed html by such a name,
      // so that the HTML analyzer and the script unpacker read it.
      if ((obj.type.label == "data" || obj.type.label == "text") && renders_as_html(obj.name)) {
        obj.type.label = "html";
        obj.type.mime = "text/html";
      }
    }
  } catch (const std::exception& e) {
    obj.findings.push_back(make_finding("engine.error", "type detection failed", e.what()));
  }
  if (obj.encrypted && obj.size == 0) obj.type = TypeInfo{};
  for (auto& analyzer : analyzers) {
    if (progress) progress->at(obj.path, "analyzer", analyzer->name());
    try {
      analyzer->analyze(obj);
    } catch (const std::exception& e) {
      obj.findings.push_back(make_finding(
          "engine.error", std::string("analyzer ") + std::string(analyzer->name()) + " failed",
          e.what()));
    }
  }
  auto unpacker = UnpackerRegistry::instance().create(obj.type.label);
  if (unpacker && !obj.encrypted) {
    if (obj.depth >= limits.max_depth) {
      hit_limit(idx, "limits.depth",
                "not unpacked: nested " + std::to_string(obj.depth) + " levels deep");
    } else if (obj.truncated) {
      obj.findings.push_back(make_finding("unpack.error", "container was cut short by a limit"));
    } else if (!out_of_time()) {
      if (progress) progress->at(obj.path, "unpacker", unpacker->name());
      Context ctx(*this, idx);
      try {
        unpacker->unpack(objects[idx], ctx);
      } catch (const std::exception& e) {
        objects[idx].findings.push_back(
            make_finding("unpack.error", std::string(unpacker->name()) + " failed", e.what()));
      } catch (...) {
        objects[idx].findings.push_back(
            make_finding("unpack.error", std::string(unpacker->name()) + " failed"));
      }
    }
  }
  if (!options.keep_bytes) objects[idx].bytes.reset();
}

std::string base_name(const std::string& path) {
  auto slash = path.find_last_of('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

Report scan_submission(const Submission& submission, const Policy& policy,
                       const ScanOptions& options) {
  auto started = Clock::now();
  Report report;
  report.id = random_uuid();

  ScanState state;
  state.limits = policy.limits_for(submission.facts);
  state.deadline = started + std::chrono::milliseconds(
                                 static_cast<int64_t>(state.limits.max_seconds * 1000.0));
  state.options = options;
  state.root_is_message = submission.facts.channel == "mail";
  state.analyzers = AnalyzerRegistry::instance().create_all();
  // The YARA analyzer scans with the rules of the policy this scan runs on.
  // Only the YAML policy language has YARA rules, so they are found here
  // rather than through a new Policy method; the scope ends with the scan.
  std::shared_ptr<const YaraRules> yara_rules;
  const auto* yaml = dynamic_cast<const policy_lang::YamlPolicy*>(&policy);
  if (yaml) yara_rules = yaml->compiled().yara_rules;
  YaraScanScope yara_scope(std::move(yara_rules), submission.facts.channel);
  // Likewise the code-signing anchors of the policy's `codesign` section;
  // without one, the environment's (SANDGATE_CODESIGN_ANCHORS) apply.
  if (yaml && yaml->compiled().codesign) {
    const policy_lang::CodesignTrustConfig& c = *yaml->compiled().codesign;
    CodeSignTrust trust;
    trust.use_system_bundle = c.system_bundle;
    trust.anchor_pems = c.anchor_pems;
    apply_policy_codesign_trust(&trust);
  } else {
    apply_policy_codesign_trust(nullptr);
  }

  Object root;
  root.name = submission.name.empty() ? base_name(submission.spool_path) : submission.name;
  root.path = root.name;
  root.declared_mime = submission.facts.declared_mime;
  std::string error;
  root.bytes = submission.spool_fd >= 0 ? open_fd_source(submission.spool_fd, &error)
                                         : open_file_source(submission.spool_path, &error);
  if (!root.bytes) {
    root.findings.push_back(make_finding("engine.error", "cannot read submission", error));
    state.objects.push_back(std::move(root));
  } else {
    root.size = root.bytes->size();
    Hashes hashes;
    if (const unsigned char* v = root.bytes->view()) {
      hashes.update(v, static_cast<size_t>(root.size));  // mapped: no copy
    } else {
      SourceStream in(root.bytes);
      for (auto chunk = in.next_chunk(1 << 20); !chunk.empty(); chunk = in.next_chunk(1 << 20))
        hashes.update(chunk.data(), chunk.size());
    }
    hashes.finish(root);
    state.objects.push_back(std::move(root));
    state.process(0);
  }

  report.objects.assign(std::make_move_iterator(state.objects.begin()),
                        std::make_move_iterator(state.objects.end()));
  report.limits_hit = std::move(state.limits_hit);
  report.decision = policy.decide(report.objects, submission.facts);
  report.duration_ms =
      std::chrono::duration<double, std::milli>(Clock::now() - started).count();
  return report;
}

}  // namespace sandgate
