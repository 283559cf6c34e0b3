// A small streaming XML tag lexer for Office parts: enough to find elements
// and their attributes, and the text inside chosen elements, in parts that
// may be many megabytes (a padded document.xml) without holding them whole.
// Not a validating parser. Only elements whose local names the handler asks
// for are collected (quote-aware: '>' inside their attribute values does not
// end them); every other tag is skipped to its next '>' with memchr, so a
// part costs little more than a memchr pass. Skipping other tags that way can
// only make markup hidden in attribute values or comments visible (a false
// positive), never hide a real element.
//
// Guarantees: linear in the input; a tag longer than kMaxTag keeps only its
// first kMaxTag bytes (the lexer still finds its end); nothing else is stored.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "unpack/byte_source.h"

namespace sandgate::office {

class XmlHandler {
 public:
  virtual ~XmlHandler() = default;
  // tag: the bytes between '<' and '>' ("w:fldChar w:fldCharType=\"begin\"/",
  // "/w:instrText"), possibly cut at kMaxTag.
  virtual void on_tag(std::string_view tag) = 0;
  // Character data between tags; called only while wants_text() is true.
  virtual void on_text(std::string_view text) { (void)text; }
  virtual bool wants_text() const { return false; }
  // Whether tags of this element (local name, no prefix) go to on_tag.
  virtual bool wants_tag(std::string_view local_name) const { (void)local_name; return true; }
};

class XmlTagScanner {
 public:
  static constexpr size_t kMaxTag = 64 * 1024;
  explicit XmlTagScanner(XmlHandler& h) : h_(h) {}
  void feed(std::string_view chunk);

 private:
  enum class State { text, name, collect, skip };
  static constexpr size_t kMaxName = 256;
  void name_done();

  XmlHandler& h_;
  State state_ = State::text;
  char quote_ = 0;
  std::string name_;  // the qualified name so far (with a leading '/' for end tags)
  std::string tag_;
};

// Feeds a whole source through a scanner in 64 KiB chunks, at most max_bytes.
void scan_xml(const ByteSource& src, XmlHandler& h, uint64_t max_bytes = UINT64_MAX);

// The element name without its namespace prefix; empty for end tags,
// comments and processing instructions.
std::string_view start_tag_name(std::string_view tag);
// The element name of an end tag ("/w:instrText" -> "instrText"), else empty.
std::string_view end_tag_name(std::string_view tag);
bool is_self_closing(std::string_view tag);
// The value of the attribute whose local name is `name` (prefix ignored),
// entities decoded; nullopt when absent.
std::optional<std::string> attribute(std::string_view tag, std::string_view name);
// Decodes the five predefined entities and numeric character references
// (as UTF-8); anything else is kept verbatim.
std::string decode_entities(std::string_view s);

}  // namespace sandgate::office
