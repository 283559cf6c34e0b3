// Small helpers over object names shared by the analyzers.
#pragma once

#include <string>
#include <string_view>

namespace sandgate {

// The last extension of a name, lowercase, without the dot ("" if none).
// Trailing spaces and dots are ignored, as Windows ignores them.
std::string last_extension(std::string_view name);
// The base name after the last '/' or '\\'.
std::string_view leaf_name(std::string_view name);

}  // namespace sandgate
