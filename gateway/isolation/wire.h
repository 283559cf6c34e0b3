// The binary messages between the front and its scan workers: the job the
// front sends and the report a worker answers. Both sides are builds of the
// same binary, so the format has no versioning; what it needs is speed (it is
// paid on every scan: Poco JSON took half of the front's cost per job) and a
// reader that trusts nothing, because a compromised worker can send anything.
//
// Encoding: little-endian fixed-width integers; a string is a u32 length and
// its bytes; a list is a u32 count and its elements. The reader checks every
// length and count against what is left before it allocates, checks enums
// and the pre-order of the objects, and refuses trailing bytes.
#pragma once

#include <string>
#include <string_view>

#include "gateway/engine.h"

namespace sandgate::isolation {

// Report -> bytes. Object::bytes is not part of it.
std::string report_to_wire(const Report& report);
// The inverse: fills *report (Object::index from the position, Object::parent
// from the depths). False with *error on anything report_to_wire could not
// have written; never throws, allocates at most a small multiple of the input.
bool report_from_wire(std::string_view wire, Report& report, std::string* error);

// The job: the submission's name and facts, and the scan's time limit.
std::string job_to_wire(const Submission& sub, double seconds);
// Fills sub.name, sub.facts and *seconds; false on anything malformed.
bool job_from_wire(std::string_view wire, Submission& sub, double& seconds);

}  // namespace sandgate::isolation
