// Policy loader: YAML policy file -> CompiledPolicy, with validation.
//
// Guarantees: never throws; every problem found is reported as a Diagnostic
// with the 1-based line and column of the offending key or value (syntax
// errors stop the parse, so there is only one of those; all semantic errors
// of a file are collected, not just the first). A policy with any error
// yields no CompiledPolicy. Included list and YARA files are resolved relative
// to the policy file's directory and read at load time, never later.
//
// What `sha256` covers: with no included files, the SHA-256 of the policy
// file's bytes (what `sha256sum FILE` prints). With included files, the
// SHA-256 of a manifest in `sha256sum` format: one line "HEX  PATH\n" for the
// policy file and then each included file in the order they are included, so
// that editing a list file changes the policy's identity too.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policies/language/policy_model.h"

namespace sandgate::policy_lang {

struct Diagnostic {
  std::string file;
  int line = 1;    // 1-based
  int column = 1;  // 1-based
  std::string message;
  bool warning = false;
  // "FILE:LINE:COL: message" (warnings: "FILE:LINE:COL: warning: message").
  std::string format() const;
};

struct LoadResult {
  std::shared_ptr<const CompiledPolicy> policy;  // null when any error
  std::vector<Diagnostic> diagnostics;           // errors and warnings, in file order
  // The policy file and every file it included or tried to include, so a
  // watcher can notice when a broken include is fixed.
  std::vector<std::string> files;
  bool ok() const { return policy != nullptr; }
  size_t error_count() const;
};

// Loads and compiles a policy file.
LoadResult load_policy_file(const std::string& path);
// Same from text already in memory; `display_path` names it in diagnostics
// and includes resolve against `base_dir`.
LoadResult load_policy_text(std::string_view text, const std::string& display_path,
                            const std::string& base_dir);

// "512MiB", "1GB", "10 KiB", "4096", "1.5GiB": decimal (KB, MB, GB, TB) and
// binary (KiB, MiB, GiB, TiB) units, case-insensitive, B optional.
std::optional<uint64_t> parse_size(std::string_view text, std::string* error);

// Levenshtein distance, and the closest candidate within a small distance
// (empty when nothing is close) for "did you mean" hints.
size_t edit_distance(std::string_view a, std::string_view b);
std::string closest_match(std::string_view word, std::span<const std::string_view> candidates);

}  // namespace sandgate::policy_lang
