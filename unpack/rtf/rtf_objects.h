// RTF object scanner: reads RTF control words just far enough to find embedded
// objects (\object groups, the \*\objdata destination that holds the object's
// bytes as hex, \objclass, \objupdate) the way Word reads them, which is what
// attackers rely on: whitespace and any non-hex byte inside \objdata are
// skipped, \binN inserts N raw bytes, unknown control words and nested groups
// inside the destination are ignored, an odd trailing nibble is dropped.
// \objdata is honoured wherever it appears, also outside an \object group.
//
// Guarantees: one pass over the input with constant work per byte; group
// nesting tracked with a bounded stack; decoded data bounded by max_data per
// object and max_objects objects. Never throws for bad input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate::rtf {

struct RtfObject {
  uint64_t offset = 0;        // where the \object (or stray \objdata) starts
  std::string class_name;     // \objclass text, trimmed
  bool in_object_group = false;  // false for an \objdata outside any \object group
  bool objupdate = false;     // \objupdate: the object refreshes itself on open
  bool linked = false;        // \objautlink / \objlink
  bool has_data = false;      // an \objdata destination was seen
  std::string data;           // decoded \objdata bytes
  bool data_truncated = false;  // max_data cut it
};

struct ScanLimits {
  uint64_t max_data = 64u << 20;  // decoded bytes per object
  size_t max_objects = 1000;
};

struct ScanResult {
  std::vector<RtfObject> objects;
  bool too_many_objects = false;
  bool unbalanced = false;  // the input ended inside a group or closed too many
};

ScanResult scan_objects(const ByteSource& src, const ScanLimits& limits = {});

}  // namespace sandgate::rtf
