// Object: one node of a submission's unpacked tree (the root file, an archive
// entry, a mail part, a document stream...). Shared value type: the analyzers,
// the policies and the gateway all read it; only the engine creates it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"

namespace sandgate {

// What the content is, decided from the bytes, never from a name.
struct TypeInfo {
  std::string mime = "application/octet-stream";  // e.g. application/pdf
  std::string label = "data";                      // short, stable: pe, zip, pdf, ...
};

struct Object {
  int index = 0;        // position in Report::objects (pre-order)
  int parent = -1;      // index of the container, -1 for the root
  int depth = 0;        // 0 for the root
  std::string path;     // container chain: "mail.eml/part2/offer.zip/Job.pdf.exe"
  std::string name;     // name the container gave (may be empty)
  std::string declared_mime;  // MIME type the container declared, if any
  uint64_t size = 0;
  std::string sha256, sha1, md5;  // lowercase hex
  TypeInfo type;
  bool encrypted = false;  // the container says the bytes are encrypted
  bool truncated = false;  // a limit cut the bytes short
  std::vector<Finding> findings;
  // Extra facts for policy conditions (signer.subject, office.has_macros, ...).
  std::map<std::string, std::string> facts;
  // The bytes. Released by the engine once the object is processed unless the
  // scan was asked to keep them.
  ByteSourcePtr bytes;

  bool has_finding(std::string_view id) const {
    for (const auto& f : findings)
      if (f.id == id) return true;
    return false;
  }
};

}  // namespace sandgate
