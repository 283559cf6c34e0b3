// The scan engine: from a Submission (spool file + facts) to a Report. It drives
// unpack (type detection, unpackers), analyzers and the policy, under the
// policy's limits. Runs in-process (CLI, tests) or inside a worker.
//
// Guarantees: never throws for bad input; any unpacker or analyzer failure is a
// finding on the object it concerns ("unpack.error", "engine.error") and the
// scan goes on with the siblings; every limit hit is a "limits.*" finding.
#pragma once

#include <string>
#include <vector>

#include "policies/policy.h"
#include "unpack/object.h"

namespace sandgate {

struct Submission {
  std::string spool_path;  // the bytes to scan (a file, or a mail message for channel "mail")
  std::string name;        // the root object's path/name in the report
  SubmissionFacts facts;
};

struct ScanOptions {
  std::string scratch_dir;  // where spilled child bytes go; empty: $TMPDIR or /tmp
  bool keep_bytes = false;  // keep Object::bytes in the report (else released)
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
