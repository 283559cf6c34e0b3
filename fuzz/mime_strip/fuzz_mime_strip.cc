// libFuzzer target for the MIME strip rewriter (gateway/smtp/mime_strip.h):
// the part walk, the decoded digests, the report-to-part mapping and the
// rewrite, on any bytes. A report is made up from the walk itself (one object
// per leaf, every other leaf offending), so plans succeed often enough to
// exercise the writer. Checks: offsets stay inside the message, targets are
// sorted and disjoint, the bytes before the first target and after the last
// are copied unchanged, and the rewritten message walks again into as many
// leaves as before (a notice never splits or swallows parts).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "gateway/smtp/mime_strip.h"

namespace {

using namespace sandgate;
using namespace sandgate::smtp;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string message(reinterpret_cast<const char*>(data), size);
  ByteSourcePtr src = memory_source(message);
  MimeLayoutOptions opt;
  opt.max_parts = 200;
  opt.max_nesting = 8;
  MimeLayout layout = scan_mime_layout(*src, opt);
  uint64_t prev_begin = 0;
  for (const MimeLeaf& leaf : layout.leaves) {
    check(leaf.entity_begin <= size && leaf.entity_end <= size);
    check(leaf.body_begin <= leaf.body_end && leaf.body_end <= size);
    check(leaf.entity_begin >= prev_begin);
    prev_begin = leaf.entity_begin;
  }

  Report report;
  Object root;
  root.path = root.name = "mail.eml";
  report.objects.push_back(root);
  for (size_t i = 0; i < layout.leaves.size() && i < 64; ++i) {
    const MimeLeaf& leaf = layout.leaves[i];
    LeafDigest d = leaf_digest(src, leaf);
    Object o;
    o.index = static_cast<int>(report.objects.size());
    o.parent = 0;
    o.depth = 1;
    o.name = leaf.name;
    o.path = "mail.eml/" + leaf.name;
    o.size = d.size;
    o.sha256 = d.sha256;
    report.objects.push_back(o);
    if (i % 2 == 1) report.decision.reasons.push_back({"fuzz", o.path, "fuzz.finding"});
  }
  report.decision.action = Action::strip;

  StripPlan plan = plan_strip(src, report, opt);
  if (!plan.ok) return 0;
  check(!plan.targets.empty());
  uint64_t pos = 0;
  for (const StripTarget& t : plan.targets) {
    check(t.begin >= pos && t.begin <= t.end && t.end <= size);
    pos = t.end;
  }
  char* buf = nullptr;
  size_t len = 0;
  std::FILE* out = open_memstream(&buf, &len);
  if (!out) return 0;
  std::string error;
  bool ok = write_stripped(*src, plan, "fuzz-id", out, &error);
  std::fclose(out);
  std::string rewritten(buf ? buf : "", len);
  std::free(buf);
  check(ok);
  const StripTarget& first = plan.targets.front();
  const StripTarget& last = plan.targets.back();
  check(rewritten.compare(0, first.begin, message, 0, first.begin) == 0);
  std::string tail = message.substr(last.end) + plan.suffix;
  check(rewritten.size() >= tail.size() &&
        rewritten.compare(rewritten.size() - tail.size(), tail.size(), tail) == 0);
  // Each replaced part is one leaf again: no notice text (names come from
  // the message) can forge a delimiter and split it.
  MimeLayout again = scan_mime_layout(*memory_source(rewritten), opt);
  check(again.leaves.size() == layout.leaves.size());
  return 0;
}
