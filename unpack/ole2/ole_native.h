// Embedded-object wrappers that carry a file inside an Office document:
//  - the OLE 1.0 "Package" native data (the \x01Ole10Native stream of an OLE2
//    object, or the native data of an OLE1 "Package" object in RTF): a label,
//    the source path, a temporary path and the file's bytes;
//  - the OLE1 EmbeddedObject header ([MS-OLEDS] 2.2.5) that RTF \objdata holds.
// Both parsers only return views into the caller's bytes, each length checked.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sandgate::ole {

struct NativePackage {
  std::string label;        // usually the file name
  std::string source_path;  // where the file was when it was embedded
  std::string temp_path;
  std::string_view data;    // the embedded file
  bool data_truncated = false;  // declared size ran past the bytes available
  // The best name for the embedded file: the last component of the label,
  // else of the source or temporary path; empty when none is usable.
  std::string file_name() const;
};

// Parses Ole10Native bytes. with_size_prefix: the stream form starts with a
// 32-bit total size; the OLE1 Package native data does not.
std::optional<NativePackage> parse_native_package(std::string_view bytes, bool with_size_prefix);

struct Ole1Object {
  uint32_t format_id = 0;     // 1 linked, 2 embedded (2.2.4 ObjectHeader)
  std::string class_name;     // e.g. "Package", "Word.Document.8", "Equation.3"
  std::string topic_name;     // linked objects: the link source (a path or URL)
  std::string item_name;
  std::string_view native_data;  // embedded objects only
  bool native_truncated = false;
};

// Parses an OLE1 EmbeddedObject/LinkedObject header and its native data.
std::optional<Ole1Object> parse_ole1_object(std::string_view bytes);

}  // namespace sandgate::ole
