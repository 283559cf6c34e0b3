// OLE1 object and Ole10Native package parsers; see ole_native.h. The
// Ole10Native layout is not in [MS-OLEDS]; it follows what Packager.exe
// writes (and oletools reads): u16 flags, label\0, source path\0, u32, u32,
// temp path\0, u32 size, bytes.
#include "unpack/ole2/ole_native.h"

#include "unpack/cursor.h"

namespace sandgate::ole {
namespace {

constexpr size_t kMaxPath = 4096;

// A NUL-terminated ANSI string of at most kMaxPath bytes.
std::optional<std::string> cstr(ByteCursor& c) {
  std::string out;
  while (c.has(1)) {
    char ch = static_cast<char>(c.u8());
    if (ch == '\0') return out;
    if (out.size() >= kMaxPath) return std::nullopt;
    out.push_back(ch);
  }
  return std::nullopt;
}

// [MS-OLEDS] 2.1.4 LengthPrefixedAnsiString: u32 length including the NUL.
std::optional<std::string> lpas(ByteCursor& c) {
  uint32_t len = c.u32le();
  if (c.failed() || len > kMaxPath || !c.has(len)) return std::nullopt;
  std::string_view s = c.bytes(len);
  if (!s.empty() && s.back() == '\0') s.remove_suffix(1);
  return std::string(s);
}

std::string last_component(std::string_view s) {
  size_t cut = s.find_last_of("\\/");
  if (cut != std::string_view::npos) s.remove_prefix(cut + 1);
  return std::string(s);
}

}  // namespace

std::string NativePackage::file_name() const {
  for (const std::string* s : {&label, &source_path, &temp_path}) {
    std::string n = last_component(*s);
    if (!n.empty() && n != "." && n != "..") return n;
  }
  return {};
}

std::optional<NativePackage> parse_native_package(std::string_view bytes, bool with_size_prefix) {
  ByteCursor c(bytes);
  if (with_size_prefix) {
    uint32_t total = c.u32le();
    if (c.failed()) return std::nullopt;
    // The total may lie; trust only the bytes that exist.
    if (total < c.remaining()) bytes = bytes.substr(0, 4 + size_t(total));
    c = ByteCursor(bytes);
    c.skip(4);
  }
  NativePackage p;
  c.u16le();  // flags, usually 2
  auto label = cstr(c);
  auto src = cstr(c);
  if (!label || !src) return std::nullopt;
  p.label = std::move(*label);
  p.source_path = std::move(*src);
  c.u16le();  // reserved
  c.u16le();  // 3 = embedded file (1 = link: no data follows)
  uint32_t temp_len = c.u32le();
  if (c.failed() || temp_len > kMaxPath || !c.has(temp_len)) return std::nullopt;
  std::string_view temp = c.bytes(temp_len);
  if (!temp.empty() && temp.back() == '\0') temp.remove_suffix(1);
  p.temp_path = std::string(temp);
  uint32_t size = c.u32le();
  if (c.failed()) return std::nullopt;
  if (size > c.remaining()) {
    p.data_truncated = true;
    size = static_cast<uint32_t>(c.remaining());
  }
  p.data = c.bytes(size);
  return p;
}

std::optional<Ole1Object> parse_ole1_object(std::string_view bytes) {
  ByteCursor c(bytes);
  Ole1Object o;
  c.u32le();  // OLEVersion (0x0501 usually; not checked, writers vary)
  o.format_id = c.u32le();
  if (c.failed() || (o.format_id != 1 && o.format_id != 2)) return std::nullopt;
  auto cls = lpas(c);
  if (!cls || cls->empty()) return std::nullopt;
  o.class_name = std::move(*cls);
  auto topic = lpas(c);
  auto item = lpas(c);
  if (!topic || !item) return std::nullopt;
  o.topic_name = std::move(*topic);
  o.item_name = std::move(*item);
  if (o.format_id == 2) {
    uint32_t size = c.u32le();
    if (c.failed()) return std::nullopt;
    if (size > c.remaining()) {
      o.native_truncated = true;
      size = static_cast<uint32_t>(c.remaining());
    }
    o.native_data = c.bytes(size);
  }
  return o;
}

}  // namespace sandgate::ole
