// PDF structure inspection with qpdf, bounded and exception-free, shared by
// the PDF analyzer (findings) and the PDF unpacker (embedded files).
//
// inspect_pdf() walks every object of the cross-reference table, including
// objects inside compressed object streams, and records active content:
// JavaScript, Launch/SubmitForm/GoToR/GoToE/URI actions, /OpenAction and /AA
// triggers, embedded files, RichMedia and XFA. Names are compared after qpdf
// has decoded #xx escapes, so /J#61vaScript is /JavaScript (ISO 32000-1
// 7.3.5). When qpdf cannot open the file, or reports damage, a raw keyword
// scan over the bytes (with the same name normalisation) fills in what it can
// and `parsed` / `damaged` say so.
//
// Bounds: at most kMaxObjects objects and kMaxSeconds of wall time per walk;
// object streams whose decoded size exceeds kMaxObjectStreamBytes are not
// expanded (qpdf would hold them in memory); JavaScript snippets and other
// evidence strings are capped. Hitting a bound sets `incomplete`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/byte_source.h"

namespace sandgate {

struct PdfEmbeddedFile {
  int obj = 0, gen = 0;   // the /EmbeddedFile stream
  std::string name;       // /UF or /F of the file specification; may be empty
  int64_t declared_size = -1;  // /Params /Size, -1 if absent
};

struct PdfFeatures {
  bool parsed = false;           // qpdf opened the file
  std::string parse_error;       // why not, when !parsed
  bool damaged = false;          // qpdf had to warn or recover
  size_t warnings = 0;
  bool raw_scanned = false;      // the keyword fallback ran
  bool encrypted = false;
  bool needs_password = false;   // encrypted with a user password: not opened
  bool incomplete = false;       // a bound stopped the walk
  std::string incomplete_reason;
  uint64_t objects = 0;          // objects in the cross-reference table
  uint64_t examined = 0;         // objects resolved and walked

  // Each entry is one occurrence, described for a person ("obj 12: app.alert(...)").
  std::vector<std::string> javascript;
  size_t javascript_count = 0;            // all occurrences, also beyond the list cap
  std::vector<std::string> launch;
  std::vector<std::string> openaction;    // catalog /OpenAction actions
  bool openaction_runs_script = false;    // ... that run JavaScript or Launch
  std::vector<std::string> auto_actions;  // /AA triggers
  bool auto_action_runs_script = false;
  std::vector<PdfEmbeddedFile> embedded;
  std::vector<std::string> richmedia;
  std::vector<std::string> xfa;
  std::vector<std::string> submitform;
  std::vector<std::string> gotor;         // /GoToR and /GoToE
  std::vector<std::string> uris;
  size_t uri_count = 0;                   // all URIs, also beyond the list cap
};

struct PdfInspectOptions {
  bool collect_snippets = true;  // read /JS streams for evidence
  double max_seconds = 5.0;
  uint64_t max_objects = 500000;
};

// Never throws. src must stay valid for the call.
PdfFeatures inspect_pdf(ByteSourcePtr src, const PdfInspectOptions& opt = {});

// Where the raw scan saw names that matter, so the qpdf walk can skip the
// objects that contain none (only those are resolved: parsing every object
// of a large PDF costs more than the rest of the scan).
struct PdfRawHits {
  std::vector<uint64_t> offsets;  // file offsets of active-content names, ascending
  bool object_streams = false;    // /ObjStm seen: compressed objects must all be walked
  bool overflow = false;          // too many hits to list: walk everything
};

// The raw keyword scan alone (inspect_pdf's fallback and prefilter).
void raw_scan_pdf(const ByteSource& src, PdfFeatures& out, PdfRawHits* hits = nullptr);

// Streams the decoded data of each embedded file in turn: begin(file) is
// called, then sink(bytes) for each block until it returns false; end(file,
// ok, error) closes it. Returns the files found (same as inspect_pdf's list).
// Never throws; a file whose filters cannot be decoded ends with ok=false.
struct PdfEmbeddedVisitor {
  std::function<bool(const PdfEmbeddedFile&)> begin;  // false: stop everything
  std::function<bool(std::string_view)> sink;         // false: stop this file
  std::function<void(const PdfEmbeddedFile&, bool ok, const std::string& error)> end;
};
PdfFeatures extract_pdf_embedded(ByteSourcePtr src, const PdfInspectOptions& opt,
                                 const PdfEmbeddedVisitor& visitor);

}  // namespace sandgate
