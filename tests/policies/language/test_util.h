// Helpers for the policy language tests: temporary directories, policy files
// written from strings, and Objects built by hand (no engine needed).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "policies/language/policy_loader.h"
#include "policies/language/yaml_policy.h"
#include "unpack/object.h"

namespace sandgate::policy_test {

inline std::string test_data_dir() { return SANDGATE_POLICY_TEST_DATA; }
inline std::string source_root() { return SANDGATE_SOURCE_ROOT; }

// A fresh directory, removed when the object goes away.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "sgpolicy.XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? std::string(p) : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& rel) const { return path_ + "/" + rel; }
  std::string write(const std::string& rel, const std::string& text) const {
    std::string p = file(rel);
    std::filesystem::create_directories(std::filesystem::path(p).parent_path());
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline Object make_object(int index, int parent, int depth, std::string path, std::string label,
                          std::string mime = "application/octet-stream") {
  Object o;
  o.index = index;
  o.parent = parent;
  o.depth = depth;
  o.path = std::move(path);
  auto slash = o.path.rfind('/');
  o.name = slash == std::string::npos ? o.path : o.path.substr(slash + 1);
  o.type.label = std::move(label);
  o.type.mime = std::move(mime);
  o.size = 100;
  return o;
}

inline Finding finding(std::string id, Severity s = Severity::medium) {
  Finding f;
  f.id = std::move(id);
  f.severity = s;
  return f;
}

// Compiles `text` (written to dir/policy.yaml) or fails the test with the errors.
inline std::shared_ptr<const policy_lang::YamlPolicy> compile(const TempDir& dir,
                                                              const std::string& text) {
  auto r = policy_lang::load_policy_file(dir.write("policy.yaml", text));
  std::string all;
  for (const auto& d : r.diagnostics) all += d.format() + "\n";
  if (!r.ok()) throw std::runtime_error("policy did not compile:\n" + all);
  return std::make_shared<const policy_lang::YamlPolicy>(r.policy);
}

inline std::string diagnostics_text(const policy_lang::LoadResult& r) {
  std::string all;
  for (const auto& d : r.diagnostics) all += d.format() + "\n";
  return all;
}

}  // namespace sandgate::policy_test
