// Binary job and report messages (see wire.h).
#include "gateway/isolation/wire.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "unpack/cursor.h"

namespace sandgate::isolation {

namespace {

// Smallest encoded size of each list element: a count is accepted only when
// that many elements could fit in what is left, so a forged count cannot make
// the reader reserve or loop more than the input allows.
constexpr size_t kMinString = 4;
constexpr size_t kMinReason = 3 * kMinString;
constexpr size_t kMinFact = 2 * kMinString;
constexpr size_t kMinFinding = 3 * kMinString + 1;
constexpr size_t kMinObject = 8 * kMinString + 4 + 8 + 1 + 4 + 4;

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    u64(bits);
  }
  void str(std::string_view s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }

 private:
  std::string& out_;
};

// Reads through unpack/cursor.h's ByteCursor and keeps the first reason a
// message was refused; every read after that returns zero or empty.
class Reader {
 public:
  explicit Reader(std::string_view in) : cur_(in) {}
  bool ok() const { return error_ == nullptr; }
  const char* error() const { return error_; }
  bool at_end() const { return cur_.remaining() == 0; }
  void fail(const char* why) {
    if (!error_) error_ = why;
  }

  uint8_t u8() { return checked(cur_.u8()); }
  uint32_t u32() { return checked(cur_.u32le()); }
  uint64_t u64() { return checked(cur_.u64le()); }
  double f64() {
    uint64_t bits = u64();
    double v;
    std::memcpy(&v, &bits, sizeof v);
    return v;
  }
  std::string str() {
    uint32_t n = u32();
    std::string_view v = cur_.bytes(n);
    return checked(1) ? std::string(v) : std::string();
  }
  // A list count whose elements, at min_size bytes each, fit in what is left.
  uint32_t count(size_t min_size) {
    uint32_t n = u32();
    if (ok() && n > cur_.remaining() / min_size) {
      fail("a count larger than the message");
      return 0;
    }
    return n;
  }

 private:
  template <class T>
  T checked(T v) {
    if (cur_.failed()) fail("truncated message");
    return ok() ? v : T{};
  }

  ByteCursor cur_;
  const char* error_ = nullptr;
};

constexpr uint32_t kReportMagic = 0x31524753;  // "SGR1"
constexpr uint32_t kJobMagic = 0x314a4753;     // "SGJ1"

void write_facts(Writer& w, const SubmissionFacts& f) {
  w.str(f.channel);
  w.str(f.profile);
  w.str(f.sender);
  w.str(f.client_address);
  w.str(f.file_name);
  w.str(f.declared_mime);
  w.u32(static_cast<uint32_t>(f.recipients.size()));
  for (const auto& r : f.recipients) w.str(r);
}

void read_facts(Reader& r, SubmissionFacts& f) {
  f.channel = r.str();
  f.profile = r.str();
  f.sender = r.str();
  f.client_address = r.str();
  f.file_name = r.str();
  f.declared_mime = r.str();
  uint32_t n = r.count(kMinString);
  f.recipients.clear();
  f.recipients.reserve(n);
  for (uint32_t i = 0; i < n && r.ok(); ++i) f.recipients.push_back(r.str());
}

}  // namespace

std::string report_to_wire(const Report& report) {
  std::string out;
  out.reserve(512 + report.objects.size() * 256);
  Writer w(out);
  w.u32(kReportMagic);
  w.str(report.id);
  w.u8(static_cast<uint8_t>(report.decision.action));
  w.u32(static_cast<uint32_t>(report.decision.reasons.size()));
  for (const auto& r : report.decision.reasons) {
    w.str(r.rule);
    w.str(r.object);
    w.str(r.finding);
  }
  w.str(report.decision.policy_name);
  w.str(report.decision.profile);
  w.str(report.decision.policy_sha256);
  w.u32(static_cast<uint32_t>(report.objects.size()));
  for (const auto& o : report.objects) {
    w.str(o.path);
    w.str(o.name);
    w.str(o.declared_mime);
    w.str(o.sha256);
    w.str(o.sha1);
    w.str(o.md5);
    w.str(o.type.mime);
    w.str(o.type.label);
    w.u32(static_cast<uint32_t>(o.depth));
    w.u64(o.size);
    w.u8(static_cast<uint8_t>((o.encrypted ? 1 : 0) | (o.truncated ? 2 : 0)));
    w.u32(static_cast<uint32_t>(o.facts.size()));
    for (const auto& [k, v] : o.facts) {
      w.str(k);
      w.str(v);
    }
    w.u32(static_cast<uint32_t>(o.findings.size()));
    for (const auto& f : o.findings) {
      w.str(f.id);
      w.u8(static_cast<uint8_t>(f.severity));
      w.str(f.message);
      w.str(f.evidence);
    }
  }
  w.u32(static_cast<uint32_t>(report.limits_hit.size()));
  for (const auto& l : report.limits_hit) w.str(l);
  w.f64(report.duration_ms);
  return out;
}

bool report_from_wire(std::string_view wire, Report& report, std::string* error) {
  Reader in(wire);
  Report r;
  if (in.u32() != kReportMagic) in.fail("not a report");
  r.id = in.str();
  uint8_t action = in.u8();
  if (action > static_cast<uint8_t>(Action::reject)) in.fail("unknown action");
  r.decision.action = static_cast<Action>(action);
  uint32_t reasons = in.count(kMinReason);
  r.decision.reasons.reserve(reasons);
  for (uint32_t i = 0; i < reasons && in.ok(); ++i) {
    Reason reason;
    reason.rule = in.str();
    reason.object = in.str();
    reason.finding = in.str();
    r.decision.reasons.push_back(std::move(reason));
  }
  r.decision.policy_name = in.str();
  r.decision.profile = in.str();
  r.decision.policy_sha256 = in.str();
  uint32_t objects = in.count(kMinObject);
  r.objects.reserve(objects);
  std::vector<int> last_at_depth;  // index of the latest object at each depth
  for (uint32_t i = 0; i < objects && in.ok(); ++i) {
    Object o;
    o.index = static_cast<int>(i);
    o.path = in.str();
    o.name = in.str();
    o.declared_mime = in.str();
    o.sha256 = in.str();
    o.sha1 = in.str();
    o.md5 = in.str();
    o.type.mime = in.str();
    o.type.label = in.str();
    uint32_t depth = in.u32();
    if (depth > last_at_depth.size() || (i == 0) != (depth == 0)) {
      in.fail("the objects are not in pre-order");
      break;
    }
    o.depth = static_cast<int>(depth);
    o.parent = depth == 0 ? -1 : last_at_depth[depth - 1];
    last_at_depth.resize(depth);
    last_at_depth.push_back(o.index);
    o.size = in.u64();
    uint8_t flags = in.u8();
    if (flags > 3) in.fail("unknown object flags");
    o.encrypted = flags & 1;
    o.truncated = flags & 2;
    uint32_t facts = in.count(kMinFact);
    for (uint32_t k = 0; k < facts && in.ok(); ++k) {
      std::string name = in.str();
      o.facts[std::move(name)] = in.str();
    }
    if (o.facts.size() != facts && in.ok()) in.fail("a fact named twice");
    uint32_t findings = in.count(kMinFinding);
    o.findings.reserve(findings);
    for (uint32_t k = 0; k < findings && in.ok(); ++k) {
      Finding f;
      f.id = in.str();
      uint8_t sev = in.u8();
      if (sev > static_cast<uint8_t>(Severity::critical)) in.fail("unknown severity");
      f.severity = static_cast<Severity>(sev);
      f.message = in.str();
      f.evidence = in.str();
      o.findings.push_back(std::move(f));
    }
    r.objects.push_back(std::move(o));
  }
  uint32_t limits = in.count(kMinString);
  r.limits_hit.reserve(limits);
  for (uint32_t i = 0; i < limits && in.ok(); ++i) r.limits_hit.push_back(in.str());
  r.duration_ms = in.f64();
  if (!(std::isfinite(r.duration_ms) && r.duration_ms >= 0)) in.fail("duration out of range");
  if (in.ok() && !in.at_end()) in.fail("trailing bytes after the report");
  if (!in.ok()) {
    if (error) *error = in.error();
    return false;
  }
  report = std::move(r);
  return true;
}

std::string job_to_wire(const Submission& sub, double seconds) {
  std::string out;
  out.reserve(128 + sub.name.size());
  Writer w(out);
  w.u32(kJobMagic);
  w.str(sub.name);
  w.f64(seconds);
  write_facts(w, sub.facts);
  return out;
}

bool job_from_wire(std::string_view wire, Submission& sub, double& seconds) {
  Reader in(wire);
  if (in.u32() != kJobMagic) in.fail("not a job");
  sub.name = in.str();
  seconds = in.f64();
  if (!(seconds > 0 && seconds < 1e6)) in.fail("time limit out of range");
  read_facts(in, sub.facts);
  return in.ok() && in.at_end();
}

}  // namespace sandgate::isolation
