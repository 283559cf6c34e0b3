#include "analyzers/name_util.h"

#include <cctype>

namespace sandgate {

std::string_view leaf_name(std::string_view name) {
  auto slash = name.find_last_of("/\\");
  return slash == std::string_view::npos ? name : name.substr(slash + 1);
}

std::string last_extension(std::string_view name) {
  name = leaf_name(name);
  while (!name.empty() && (name.back() == ' ' || name.back() == '.')) name.remove_suffix(1);
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return {};
  std::string ext(name.substr(dot + 1));
  if (ext.size() > 16) return {};
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

}  // namespace sandgate
