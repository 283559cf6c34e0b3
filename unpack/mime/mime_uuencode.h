// Finds uuencoded files ("begin MODE NAME" ... "end", and the POSIX
// "begin-base64 MODE NAME" ... "====" form) in a text body and emits each
// decoded file as a child of the object being unpacked. Reads the body once,
// line by line, in bounded memory; decoded bytes are streamed to the child.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "unpack/byte_source.h"
#include "unpack/unpacker.h"

namespace sandgate {

struct UuDefects {
  uint64_t bad_chars = 0;    // characters outside the encoding's alphabet
  bool missing_end = false;  // the body ended before "end" / "===="
};

// Called for each file before its writer is finished, so the caller can
// attach findings for the defects.
using UuDefectSink = std::function<void(ChildWriter&, const UuDefects&)>;

// Scans body and emits at most max_files files. Returns the number emitted;
// sets *stop when the context refused a child or asked to stop.
size_t scan_uuencoded(const ByteSource& body, UnpackContext& ctx, size_t max_files,
                      const UuDefectSink& on_defects, bool* stop);

}  // namespace sandgate
