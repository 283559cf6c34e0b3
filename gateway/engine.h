// The scan engine: from a Submission (spool file + facts) to a Report. It drives
// unpack (type detection, unpackers), analyzers and the policy, under the
// policy's limits. Runs in-process (CLI, tests) or inside a worker.
//
// Guarantees: never throws for bad input; any unpacker or analyzer failure is a
// finding on the object it concerns ("unpack.error", "engine.error") and the
// scan goes on with the siblings; every limit hit is a "limits.*" finding.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "policies/policy.h"
#include "unpack/object.h"

namespace sandgate {

struct Submission {
  std::string spool_path;  // the bytes to scan (a file, or a mail message for channel "mail")
  int spool_fd = -1;       // when >= 0, an open descriptor of those bytes, used instead of
                           // spool_path (not owned: the engine reads a duplicate)
  std::string name;        // the root object's path/name in the report
  SubmissionFacts facts;
};

// Told where the scan is: the object's report path and the stage ("type
// detection", "analyzer pe", "unpacker zip"), before each stage starts.
// A scan worker keeps the last one where the front can read it after a crash
// or a kill, so engine.crash / engine.timeout name the object.
class ScanProgress {
 public:
  virtual ~ScanProgress() = default;
  // stage: "type detection", "analyzer" or "unpacker"; name: which analyzer
  // or unpacker ("pe", "zip"), empty for type detection. Views, valid for the
  // call only: this is called several times per object, so nothing is built.
  virtual void at(std::string_view object_path, std::string_view stage, std::string_view name) = 0;
};

struct ScanOptions {
  std::string scratch_dir;  // where spilled child bytes go; empty: $TMPDIR or /tmp
  bool keep_bytes = false;  // keep Object::bytes in the report (else released)
  ScanProgress* progress = nullptr;  // not owned; called on the scanning thread
};

struct Report {
  std::string id;                       // uuid
  Decision decision;
  std::vector<Object> objects;          // pre-order; objects[0] is the root
  std::vector<std::string> limits_hit;  // distinct "limits.*" ids, in first-hit order
  double duration_ms = 0;
};

Report scan_submission(const Submission& submission, const Policy& policy,
                       const ScanOptions& options = {});

}  // namespace sandgate
