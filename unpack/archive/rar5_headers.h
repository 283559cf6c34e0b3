// What the block headers of a RAR 5 archive say about encryption, read by our
// own bounded walker.
//
// Why: libarchive 3.6 (Debian 12) skips RAR 5's file encryption record and
// hands out an encrypted entry's ciphertext as its data, with no sign of
// encryption (archive_entry_is_data_encrypted stays 0): an encrypted RAR 5
// would pass as a few files of random bytes. The archive unpacker asks this
// walker first and treats the entries it names as encrypted.
//
// Format (RARLAB's "RAR 5.0 archive format"): the signature 52 61 72 21 1A 07
// 01 00, then blocks: CRC32 (of the rest of the header), header size (vint),
// type, flags, [extra area size], [data area size], type-specific fields, the
// extra area (records: size, type, data), then the data area. Type 2 is a
// file, 3 a service block, 4 the archive encryption header (every later
// header is encrypted), 5 the end of the archive. A file's extra record of
// type 1 is its encryption record.
//
// Guarantees: reads through ByteSource::read_at only what it walks (each
// header at most kMaxHeader bytes; data areas are skipped by offset, never
// read); every size is checked against the source before use; stops after
// max_blocks blocks, at the end block, or at the first damage (truncated).
#pragma once

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "unpack/byte_source.h"

namespace sandgate {

struct Rar5Encryption {
  bool rar5 = false;               // the source starts with the RAR 5 signature
  bool headers_encrypted = false;  // an archive encryption header: no name is readable
  // Names (as stored: UTF-8, '/' separated) of file entries with an
  // encryption record.
  std::set<std::string> encrypted_files;
  bool damaged = false;  // the walk stopped at a header that does not parse
  size_t blocks = 0;     // headers walked
};

inline constexpr size_t kRar5MaxHeader = size_t{2} << 20;  // 2 MiB, as RAR itself allows

Rar5Encryption read_rar5_encryption(const ByteSource& src, size_t max_blocks);

}  // namespace sandgate
