// RTF object scanner; see rtf_objects.h. RTF 1.9.1 syntax: a control word is
// '\' + 1..32 ASCII letters + an optional signed decimal parameter + one
// optional space delimiter; a control symbol is '\' + one non-letter; "\'hh"
// is an escaped byte; "\*" marks the next destination as ignorable.
#include "unpack/rtf/rtf_objects.h"

#include <algorithm>
#include <string_view>

namespace sandgate::rtf {
namespace {

constexpr size_t kMaxWord = 32;
constexpr size_t kMaxStack = 1024;    // deeper groups are counted, not stored
constexpr size_t kMaxClassName = 256;

enum class Dest : uint8_t { normal, objdata, objclass, skip };

struct Frame {
  Dest dest = Dest::normal;
  int object = -1;      // the object this group belongs to
  bool star = false;    // "\*" seen, waiting for the destination's word
};

class Reader {
 public:
  explicit Reader(const ByteSource& src) : src_(src) {}
  // Next byte or -1 at the end.
  int get() {
    if (i_ == buf_.size() && !refill()) return -1;
    return static_cast<uint8_t>(buf_[i_++]);
  }
  int peek() {
    if (i_ == buf_.size() && !refill()) return -1;
    return static_cast<uint8_t>(buf_[i_]);
  }
  uint64_t position() const { return base_ + i_; }
  // The rest of the current buffer, for bulk skipping and appending.
  std::string_view rest() {
    if (i_ == buf_.size() && !refill()) return {};
    return std::string_view(buf_).substr(i_);
  }
  void advance(size_t n) { i_ += n; }

 private:
  bool refill() {
    base_ += buf_.size();
    buf_.resize(64 * 1024);
    size_t n = src_.read_at(base_, buf_.data(), buf_.size());
    buf_.resize(n);
    i_ = 0;
    return n > 0;
  }
  const ByteSource& src_;
  std::string buf_;
  size_t i_ = 0;
  uint64_t base_ = 0;
};

int hex_value(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_letter(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

class Scanner {
 public:
  Scanner(const ByteSource& src, const ScanLimits& limits) : in_(src), limits_(limits) {}

  ScanResult run() {
    stack_.push_back(Frame{});
    for (;;) {
      int c = in_.get();
      if (c < 0) break;
      if (c == '{') {
        open_group();
      } else if (c == '}') {
        close_group();
      } else if (c == '\\') {
        control();
      } else {
        text(c);
      }
    }
    flush_nibble();
    if (stack_.size() + overflow_ > 1 || closed_too_many_) result_.unbalanced = true;
    return std::move(result_);
  }

 private:
  Frame& top() { return stack_.back(); }

  void open_group() {
    if (stack_.size() >= kMaxStack) {
      ++overflow_;
      return;
    }
    Frame f = top();
    f.star = false;
    stack_.push_back(f);
  }

  void close_group() {
    if (overflow_ > 0) {
      --overflow_;
      return;
    }
    if (stack_.size() <= 1) {
      closed_too_many_ = true;
      return;
    }
    if (top().dest == Dest::objdata) flush_nibble();
    stack_.pop_back();
  }

  RtfObject* object(int idx) { return idx >= 0 ? &result_.objects[idx] : nullptr; }

  int new_object(uint64_t offset, bool in_group) {
    if (result_.objects.size() >= limits_.max_objects) {
      result_.too_many_objects = true;
      return -1;
    }
    RtfObject o;
    o.offset = offset;
    o.in_object_group = in_group;
    result_.objects.push_back(std::move(o));
    return static_cast<int>(result_.objects.size() - 1);
  }

  void control() {
    uint64_t at = in_.position() - 1;
    int c = in_.peek();
    if (c < 0) return;
    if (!is_letter(c)) {
      in_.get();
      if (c == '*') {
        top().star = true;
      } else if (c == '\'') {
        // \'hh: an escaped byte; not hex data of a destination.
        for (int k = 0; k < 2 && hex_value(in_.peek()) >= 0; ++k) in_.get();
      }
      return;
    }
    std::string word;
    while (is_letter(in_.peek())) {
      int ch = in_.get();
      if (word.size() < kMaxWord + 1) word.push_back(static_cast<char>(ch));
    }
    bool negative = false;
    int64_t param = 0;
    bool has_param = false;
    if (in_.peek() == '-') {
      in_.get();
      negative = true;
    }
    for (int digits = 0; in_.peek() >= '0' && in_.peek() <= '9'; ++digits) {
      int d = in_.get() - '0';
      if (digits < 18) param = param * 10 + d;
      has_param = true;
    }
    if (negative) param = -param;
    if (in_.peek() == ' ') in_.get();
    word_(word, has_param ? param : 0, at);
  }

  void word_(const std::string& word, int64_t param, uint64_t at) {
    Frame& f = top();
    bool star = f.star;
    f.star = false;
    if (word == "bin") {
      binary(param > 0 ? static_cast<uint64_t>(param) : 0);
      return;
    }
    if (f.dest == Dest::skip) return;
    if (word == "object") {
      f.object = new_object(at, true);
      if (f.dest == Dest::objdata) f.dest = Dest::normal;
    } else if (word == "objdata") {
      if (f.dest == Dest::objdata) return;  // a repeated word inside its own destination
      if (f.object < 0) f.object = new_object(at, false);
      if (RtfObject* o = object(f.object)) {
        o->has_data = true;
        f.dest = Dest::objdata;
        nibble_ = -1;
      } else {
        f.dest = Dest::skip;
      }
    } else if (word == "objclass") {
      f.dest = f.object >= 0 ? Dest::objclass : Dest::skip;
    } else if (word == "objupdate") {
      if (RtfObject* o = object(f.object)) o->objupdate = true;
    } else if (word == "objautlink" || word == "objlink") {
      if (RtfObject* o = object(f.object)) o->linked = true;
    } else if (star && (f.dest == Dest::objdata || f.dest == Dest::objclass)) {
      // An ignorable destination Word does not know, nested in the data:
      // Word skips the whole group, and so do we.
      flush_nibble();
      f.dest = Dest::skip;
    } else if (word == "objname" || word == "objtime" || word == "result" || word == "pict" ||
               word == "fonttbl" || word == "colortbl" || word == "stylesheet" ||
               word == "info") {
      if (f.dest == Dest::objclass || f.dest == Dest::objdata) f.dest = Dest::skip;
    }
  }

  // \binN: N raw bytes, data wherever they are (RTF 1.9.1 "\binN").
  void binary(uint64_t n) {
    Frame& f = top();
    RtfObject* o = f.dest == Dest::objdata ? object(f.object) : nullptr;
    if (o) flush_nibble();
    while (n > 0) {
      std::string_view r = in_.rest();
      if (r.empty()) return;
      size_t take = static_cast<size_t>(std::min<uint64_t>(n, r.size()));
      if (o) append(*o, r.substr(0, take));
      in_.advance(take);
      n -= take;
    }
  }

  void append(RtfObject& o, std::string_view bytes) {
    uint64_t room = limits_.max_data > o.data.size() ? limits_.max_data - o.data.size() : 0;
    if (bytes.size() > room) {
      o.data_truncated = true;
      bytes = bytes.substr(0, static_cast<size_t>(room));
    }
    o.data.append(bytes);
  }

  void text(int c) {
    Frame& f = top();
    if (f.dest == Dest::objdata) {
      int v = hex_value(c);
      if (v < 0) return;  // whitespace and junk bytes are skipped, as Word does
      if (nibble_ < 0) {
        nibble_ = v;
        return;
      }
      RtfObject* o = object(f.object);
      if (o) {
        char b = static_cast<char>((nibble_ << 4) | v);
        if (o->data.size() < limits_.max_data)
          o->data.push_back(b);
        else
          o->data_truncated = true;
      }
      nibble_ = -1;
      // Fast path: the common case is long runs of hex digits.
      return;
    }
    if (f.dest == Dest::objclass) {
      RtfObject* o = object(f.object);
      if (o && o->class_name.size() < kMaxClassName && c != '\r' && c != '\n')
        o->class_name.push_back(static_cast<char>(c));
      return;
    }
    // Normal text: skip ahead to the next byte that matters.
    std::string_view r = in_.rest();
    size_t k = 0;
    while (k < r.size() && r[k] != '\\' && r[k] != '{' && r[k] != '}') ++k;
    in_.advance(k);
  }

  // An odd nibble left at the end of a destination is dropped.
  void flush_nibble() { nibble_ = -1; }

  Reader in_;
  ScanLimits limits_;
  ScanResult result_;
  std::vector<Frame> stack_;
  size_t overflow_ = 0;
  bool closed_too_many_ = false;
  int nibble_ = -1;
};

}  // namespace

ScanResult scan_objects(const ByteSource& src, const ScanLimits& limits) {
  ScanResult r = Scanner(src, limits).run();
  for (auto& o : r.objects) {
    // Trim the class name ("Package " in many writers).
    auto& n = o.class_name;
    while (!n.empty() && (n.back() == ' ' || n.back() == ';')) n.pop_back();
    size_t lead = 0;
    while (lead < n.size() && n[lead] == ' ') ++lead;
    n.erase(0, lead);
  }
  return r;
}

}  // namespace sandgate::rtf
