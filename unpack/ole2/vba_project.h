// VBA projects inside a compound file ([MS-OVBA]): the compression used for
// the `dir` stream and module sources (2.4.1), the `dir` stream's module
// records (2.3.4.2), and the module sources of every VBA storage in a file
// (Word keeps them under Macros/VBA, Excel under _VBA_PROJECT_CUR/VBA, an
// OOXML vbaProject.bin under VBA).
//
// Guarantees: decompression is bounded by max_out (a chunk never yields more
// than 4096 bytes, copy tokens never reach before the chunk start); budgets
// cap the total source read per file; malformed records become problems,
// never exceptions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/ole2/cfb.h"

namespace sandgate::ovba {

// Decompresses a CompressedContainer (2.4.1.3.1), at most max_out bytes.
// Returns false when the signature byte is wrong or a chunk is malformed
// (out holds what was decompressed before that). *truncated (optional) is
// set when max_out cut the output.
bool decompress(std::string_view in, size_t max_out, std::string* out, bool* truncated = nullptr);

struct ModuleRecord {
  std::string name;         // MODULENAME (Unicode variant preferred), UTF-8
  std::string stream_name;  // MODULESTREAMNAME, the stream inside the VBA storage
  uint32_t text_offset = 0; // MODULEOFFSET: where the compressed source starts
  bool has_offset = false;
};

struct DirInfo {
  uint16_t codepage = 1252;
  std::vector<ModuleRecord> modules;
  bool malformed = false;  // a record ran past the end
};

// Parses the decompressed `dir` stream (2.3.4.2 PROJECTINFORMATION,
// PROJECTREFERENCES, PROJECTMODULES), keeping what modules need.
DirInfo parse_dir(std::string_view dir);

struct ModuleSource {
  std::string name;    // module name (or the stream name when the dir was unreadable)
  std::string source;  // decompressed source, code page bytes as stored
  bool truncated = false;
};

struct Project {
  std::string storage_path;  // e.g. "Macros/VBA"
  std::vector<ModuleSource> modules;
  std::vector<std::string> problems;  // dir unreadable, module stream missing, ...
};

struct Budget {
  size_t max_module_bytes = 8u << 20;  // decompressed source per module
  size_t max_total_bytes = 32u << 20;  // decompressed source per file
  size_t max_modules = 1000;
};

// Every storage named VBA that holds a `dir` stream is a project. When the
// dir stream cannot be read, module streams are located by the compressed
// "Attribute" signature every module source starts with (as olevba does).
std::vector<Project> read_projects(const cfb::CompoundFile& file, const Budget& budget = {});

}  // namespace sandgate::ovba
