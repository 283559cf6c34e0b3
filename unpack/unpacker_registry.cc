// The table of unpackers, keyed by detected type label.
#include "unpack/unpacker.h"

namespace sandgate {

UnpackerRegistry& UnpackerRegistry::instance() {
  static UnpackerRegistry registry;
  return registry;
}

void UnpackerRegistry::add(std::vector<std::string> labels, Factory factory) {
  for (auto& label : labels) rows_.emplace_back(std::move(label), factory);
}

std::unique_ptr<Unpacker> UnpackerRegistry::create(std::string_view label) const {
  for (const auto& [l, f] : rows_)
    if (l == label) return f();
  return nullptr;
}

bool UnpackerRegistry::handles(std::string_view label) const {
  for (const auto& row : rows_)
    if (row.first == label) return true;
  return false;
}

std::vector<std::string> UnpackerRegistry::labels() const {
  std::vector<std::string> out;
  for (const auto& row : rows_) out.push_back(row.first);
  return out;
}

}  // namespace sandgate
