// The report as JSON (the contract in ARCHITECTURE.md: the body of POST
// /v1/scan and one line of `sandgate scan` output). Output is always valid
// UTF-8 JSON on one line: invalid UTF-8 in names becomes U+FFFD.
#pragma once

#include <string>
#include <string_view>

#include "gateway/engine.h"

namespace sandgate {

std::string report_to_json(const Report& report);

// The inverse of report_to_json (the scan workers' answers, see
// gateway/isolation): fills *report from its JSON. Object::parent is rebuilt
// from the depths (the objects are in pre-order) and Object::index from the
// position; bytes are not part of a report. False with *error on anything
// that is not such a report; never throws.
bool report_from_json(std::string_view json, Report& report, std::string* error);

// Appends s to out as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);

}  // namespace sandgate
