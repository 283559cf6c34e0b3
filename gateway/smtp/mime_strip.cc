// MIME strip (see mime_strip.h): the report-to-part mapping and the rewrite.
#include "gateway/smtp/mime_strip.h"

#include <algorithm>
#include <map>
#include <memory>
#include <utility>

#include "unpack/mime/mime_header.h"

namespace sandgate::smtp {

namespace {

constexpr int kMaxMessageNesting = 8;        // attached messages inside attached messages
constexpr size_t kMaxAttachedMessages = 64;  // attached messages walked for one plan
constexpr size_t kMaxOffending = 1000;       // distinct offending objects in one plan
constexpr size_t kMaxTargets = 1000;         // parts replaced in one message
constexpr size_t kMaxReasonsPerNotice = 10;
constexpr size_t kMaxNoticeName = 512;  // bytes of a name or path in a notice

// A name or path for the notice text: valid UTF-8, no controls, bounded.
std::string notice_safe(std::string_view s) {
  std::string out = display_name(s);
  if (out.size() > kMaxNoticeName) out = display_name(out.substr(0, kMaxNoticeName)) + "...";
  return out;
}

// Maps report objects to parts of the message and of the messages attached
// to it. Each message's layout is walked once and indexed by part name; each
// leaf is decoded and hashed at most once. Work is bounded by the caps below
// and the part limit, whatever the report holds.
class Planner {
 public:
  Planner(const ByteSourcePtr& message, const Report& report, const MimeLayoutOptions& options)
      : report_(report), opt_(options) {
    root_ = add_message(message, 0);
  }

  const MimeLayout& root_layout() const { return root_->layout; }

  // Locates the object chain[1] among the message's parts and, through
  // attached messages, the deeper objects of the chain. Adds the targets to
  // *out; false with why() set if the object cannot be located or lies in
  // body text.
  bool locate(const std::vector<int>& chain, std::vector<StripTarget>* out) {
    return locate_in(*root_, chain, 1, 0, out);
  }

  const std::string& why() const { return why_; }

 private:
  struct Message {
    ByteSourcePtr src;  // the message's own bytes (a slice for an attached one)
    uint64_t base = 0;  // where they start in the spooled file
    MimeLayout layout;
    std::multimap<std::string, size_t> by_name;  // leaf name -> index in layout.leaves
  };

  Message* add_message(ByteSourcePtr src, uint64_t base) {
    auto m = std::make_unique<Message>();
    m->src = std::move(src);
    m->base = base;
    m->layout = scan_mime_layout(*m->src, opt_);
    for (size_t i = 0; i < m->layout.leaves.size(); ++i)
      if (!m->layout.leaves[i].root) m->by_name.emplace(m->layout.leaves[i].name, i);
    messages_.push_back(std::move(m));
    return messages_.back().get();
  }

  bool locate_in(Message& msg, const std::vector<int>& chain, size_t level, int nesting,
                 std::vector<StripTarget>* out) {
    const Object& obj = report_.objects[static_cast<size_t>(chain[level])];
    if (obj.sha256.empty() || obj.truncated) {
      why_ = "the part holding " + notice_safe(obj.path) + " was not read whole";
      return false;
    }
    bool found = false;
    auto [first, last] = msg.by_name.equal_range(obj.name);
    for (auto it = first; it != last; ++it) {
      const MimeLeaf& leaf = msg.layout.leaves[it->second];
      if (leaf.identity_encoded() && leaf.body_end - leaf.body_begin != obj.size) continue;
      const LeafDigest& d = digest(msg, leaf);
      if (d.size != obj.size || d.sha256 != obj.sha256) continue;
      if (!leaf.is_attachment()) {
        why_ = notice_safe(obj.path) + " is body text, not an attachment";
        return false;
      }
      found = true;
      if (level + 1 < chain.size() && leaf.mime == "message/rfc822" && leaf.identity_encoded() &&
          nesting < kMaxMessageNesting &&
          locate_inside(msg, leaf, chain, level + 1, nesting + 1, out))
        continue;
      StripTarget t;
      t.begin = msg.base + leaf.entity_begin;
      t.end = msg.base + std::max(leaf.entity_end, leaf.entity_begin);
      t.pad_newline = leaf.entity_end <= leaf.entity_begin;
      t.newline = leaf.newline;
      t.file_name = obj.name;
      t.object_path = obj.path;
      out->push_back(std::move(t));
    }
    if (!found) why_ = "cannot locate the part holding " + notice_safe(obj.path);
    return found;
  }

  // Tries the innermost attachment of an attached message. On failure the
  // caller strips the whole attached message instead.
  bool locate_inside(Message& outer, const MimeLeaf& leaf, const std::vector<int>& chain,
                     size_t level, int nesting, std::vector<StripTarget>* out) {
    const uint64_t base = outer.base + leaf.body_begin;
    Message* inner = nullptr;
    for (auto& m : messages_)
      if (m->base == base) inner = m.get();
    if (inner == nullptr) {
      if (messages_.size() >= kMaxAttachedMessages) return false;
      inner = add_message(slice_source(outer.src, leaf.body_begin, leaf.body_end - leaf.body_begin),
                          base);
    }
    if (!inner->layout.complete || !inner->layout.multipart) return false;
    std::vector<StripTarget> found;
    std::string saved = why_;
    bool ok = locate_in(*inner, chain, level, nesting, &found);
    why_ = saved;
    if (!ok) return false;
    for (auto& t : found) out->push_back(std::move(t));
    return true;
  }

  const LeafDigest& digest(const Message& msg, const MimeLeaf& leaf) {
    auto key = std::make_pair(msg.base + leaf.body_begin, msg.base + leaf.body_end);
    auto it = digests_.find(key);
    if (it == digests_.end()) it = digests_.emplace(key, leaf_digest(msg.src, leaf)).first;
    return it->second;
  }

  const Report& report_;
  const MimeLayoutOptions& opt_;
  std::vector<std::unique_ptr<Message>> messages_;
  Message* root_ = nullptr;
  // Keyed by the body's range in the spooled file: one range is one leaf
  // (attached messages' leaves lie at other offsets than their container's).
  std::map<std::pair<uint64_t, uint64_t>, LeafDigest> digests_;
  std::string why_;
};

// RFC 2045 6.7 quoted-printable for the notice body: lines of at most 76
// characters, "=" soft breaks, line breaks kept as `newline`. A "-" or "." that
// would start a line is encoded too, so no text taken from the message (file
// names) can put a boundary delimiter (RFC 2046 5.1.1) or a lone dot at the
// start of a line (RFC 2049 3 (8)).
std::string quoted_printable(std::string_view text, std::string_view newline) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  size_t col = 0;
  auto encode = [](unsigned char c, bool line_start, bool before_break) -> std::string {
    bool literal = (c >= 33 && c <= 126 && c != '=') || (c == ' ' && !before_break);
    if (line_start && (c == '-' || c == '.')) literal = false;
    if (literal) return std::string(1, static_cast<char>(c));
    return {'=', kHex[c >> 4], kHex[c & 15]};
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\n') {
      out += newline;
      col = 0;
      continue;
    }
    bool before_break = i + 1 == text.size() || text[i + 1] == '\n';
    std::string piece = encode(c, col == 0, before_break);
    if (col + piece.size() > 75) {
      out += "=";
      out += newline;
      col = 0;
      piece = encode(c, true, before_break);
    }
    out += piece;
    col += piece.size();
  }
  return out;
}

// A reason names its object by path, and paths repeat (two attachments with
// one name). The witness (Reason::finding) then tells which object decided
// when it is a fact the object either has or not: its type label, MIME type,
// size, depth, or a finding it carries. Objects it rules out are dropped;
// when it rules out none (or all), every object of the path counts, which
// strips too much rather than too little.
std::vector<size_t> objects_for_reason(const std::vector<Object>& objects,
                                       const std::vector<size_t>& same_path,
                                       const std::string& witness) {
  if (same_path.size() < 2) return same_path;
  size_t eq = witness.find('=');
  std::string key = eq == std::string::npos ? witness : witness.substr(0, eq);
  std::string value = eq == std::string::npos ? std::string() : witness.substr(eq + 1);
  auto decides = [&](const Object& o) -> bool {
    if (key == "type") return o.type.label == value;
    if (key == "mime") return o.type.mime == value;
    if (key == "size") return std::to_string(o.size) == value;
    if (key == "depth") return std::to_string(o.depth) == value;
    return eq == std::string::npos && o.has_finding(witness);
  };
  std::vector<size_t> kept;
  for (size_t i : same_path)
    if (decides(objects[i])) kept.push_back(i);
  return kept.empty() ? same_path : kept;
}

bool write_all(std::FILE* out, std::string_view s) {
  return s.empty() || std::fwrite(s.data(), 1, s.size(), out) == s.size();
}

}  // namespace

StripPlan plan_strip(const ByteSourcePtr& message, const Report& report,
                     const MimeLayoutOptions& options) {
  StripPlan plan;
  if (!message || report.objects.empty()) {
    plan.why_not = "no object tree to map";
    return plan;
  }
  if (report.decision.reasons.empty()) {
    plan.why_not = "no reason names an object";
    return plan;
  }
  Planner planner(message, report, options);
  const MimeLayout& layout = planner.root_layout();
  if (!layout.complete) {
    plan.why_not = "the message has more parts than the rewrite reads";
    return plan;
  }
  if (!layout.multipart) {
    plan.why_not = "the message is not multipart: the offending content is the message itself";
    return plan;
  }
  const auto& objects = report.objects;
  std::map<std::string, std::vector<size_t>> by_path;
  for (size_t i = 0; i < objects.size(); ++i) by_path[objects[i].path].push_back(i);

  // The offending objects, each with the reasons that name it.
  std::map<size_t, std::vector<std::string>> offending;
  for (const Reason& reason : report.decision.reasons) {
    auto it = by_path.find(reason.object);
    if (reason.object.empty() || it == by_path.end()) {
      plan.why_not = "a reason (" + notice_safe(reason.rule) + ") names no object of the message";
      return plan;
    }
    std::string line = notice_safe(reason.rule) + ": " + notice_safe(reason.finding) + " (" +
                       notice_safe(reason.object) + ")";
    for (size_t index : objects_for_reason(objects, it->second, reason.finding)) {
      std::vector<std::string>& lines = offending[index];
      if (offending.size() > kMaxOffending) {
        plan.why_not = "too many offending objects";
        return plan;
      }
      if (lines.size() < kMaxReasonsPerNotice &&
          std::find(lines.begin(), lines.end(), line) == lines.end())
        lines.push_back(line);
    }
  }

  std::map<uint64_t, StripTarget> by_begin;
  for (const auto& [index, lines] : offending) {
    // The chain from the root down to the object, checked as a tree.
    std::vector<int> chain;
    for (int i = static_cast<int>(index); i >= 0 && chain.size() <= objects.size();
         i = objects[static_cast<size_t>(i)].parent) {
      if (static_cast<size_t>(i) >= objects.size()) break;
      chain.push_back(i);
    }
    std::reverse(chain.begin(), chain.end());
    if (chain.empty() || chain.front() != 0 || chain.size() > objects.size()) {
      plan.why_not = "the report's object tree is inconsistent";
      return plan;
    }
    if (chain.size() < 2) {
      plan.why_not = "the offending object is the message itself";
      return plan;
    }
    std::vector<StripTarget> found;
    if (!planner.locate(chain, &found)) {
      plan.why_not = planner.why();
      return plan;
    }
    for (StripTarget& t : found) {
      auto [pos, inserted] = by_begin.try_emplace(t.begin, t);
      StripTarget& target = pos->second;
      if (by_begin.size() > kMaxTargets) {
        plan.why_not = "too many parts to replace";
        return plan;
      }
      if (!inserted && target.end != t.end) {
        // Two different ranges starting together cannot come from one walk;
        // refuse rather than guess.
        plan.why_not = "overlapping parts";
        return plan;
      }
      for (const std::string& line : lines)
        if (target.reasons.size() < kMaxReasonsPerNotice &&
            std::find(target.reasons.begin(), target.reasons.end(), line) == target.reasons.end())
          target.reasons.push_back(line);
    }
  }
  // An attached message stripped whole makes any target inside it moot.
  for (auto& [begin, t] : by_begin) {
    if (!plan.targets.empty() && begin < plan.targets.back().end) {
      if (t.end <= plan.targets.back().end) {
        for (auto& r : t.reasons)
          if (plan.targets.back().reasons.size() < kMaxReasonsPerNotice)
            plan.targets.back().reasons.push_back(r);
        continue;
      }
      plan.why_not = "overlapping parts";
      return plan;
    }
    plan.targets.push_back(std::move(t));
  }
  if (plan.targets.empty()) {
    plan.why_not = "nothing to strip";
    return plan;
  }
  // A message that ended without its closing delimiters gets them, innermost
  // first (RFC 2046 5.1.1), so the rewritten message is complete.
  for (auto b = layout.open_boundaries.rbegin(); b != layout.open_boundaries.rend(); ++b)
    plan.suffix += layout.newline + "--" + *b + "--";
  if (!plan.suffix.empty()) plan.suffix += layout.newline;
  plan.ok = true;
  return plan;
}

std::string notice_part(const StripTarget& target, std::string_view quarantine_id) {
  const std::string& nl = target.newline;
  std::string text = "Sandgate removed an attachment from this message.\n\nFile: " +
                     notice_safe(target.file_name) + "\n";
  for (const std::string& r : target.reasons) text += "Reason: " + r + "\n";
  if (!quarantine_id.empty())
    text += "\nThe original message is held in quarantine as\n" + notice_safe(quarantine_id) +
            "\nAn administrator can release it.\n";
  std::string body = quoted_printable(text, nl);
  // The notice ends where the part ended: right before the line break that
  // belongs to the next delimiter. Drop the body's own last line break.
  if (body.size() >= nl.size() && body.compare(body.size() - nl.size(), nl.size(), nl) == 0)
    body.resize(body.size() - nl.size());
  std::string part = "Content-Type: text/plain; charset=utf-8" + nl +
                     "Content-Transfer-Encoding: quoted-printable" + nl +
                     "Content-Disposition: inline" + nl + "X-Sandgate-Stripped: yes" + nl + nl +
                     body;
  if (target.pad_newline) part += nl;
  return part;
}

bool write_stripped(const ByteSource& message, const StripPlan& plan,
                    std::string_view quarantine_id, std::FILE* out, std::string* error) {
  auto fail = [error](std::string why) {
    if (error) *error = std::move(why);
    return false;
  };
  if (!plan.ok) return fail("no strip plan");
  const uint64_t size = message.size();
  std::vector<char> buf(64 * 1024);
  uint64_t pos = 0;
  auto copy_to = [&](uint64_t end) {
    while (pos < end) {
      size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - pos));
      size_t got = message.read_at(pos, buf.data(), want);
      if (got == 0) return false;
      if (std::fwrite(buf.data(), 1, got, out) != got) return false;
      pos += got;
    }
    return true;
  };
  for (const StripTarget& t : plan.targets) {
    if (t.begin < pos || t.end < t.begin || t.end > size) return fail("plan does not fit");
    if (!copy_to(t.begin)) return fail("cannot copy the message");
    if (!write_all(out, notice_part(t, quarantine_id))) return fail("cannot write");
    pos = t.end;
  }
  if (!copy_to(size)) return fail("cannot copy the message");
  if (!write_all(out, plan.suffix) || std::fflush(out) != 0) return fail("cannot write");
  return true;
}

}  // namespace sandgate::smtp
