// The report as JSON (the contract in ARCHITECTURE.md: the body of POST
// /v1/scan and one line of `sandgate scan` output). Output is always valid
// UTF-8 JSON on one line: invalid UTF-8 in names becomes U+FFFD.
#pragma once

#include <string>
#include <string_view>

#include "gateway/engine.h"

namespace sandgate {

std::string report_to_json(const Report& report);

// Appends s to out as a JSON string literal (with quotes).
void append_json_string(std::string& out, std::string_view s);

}  // namespace sandgate
