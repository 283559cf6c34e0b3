// Unpacker for every container libarchive reads: zip (and the zip-based
// OOXML/ODF/JAR), 7z, rar/rar5, tar, cpio, cab, lha, xar, ar, iso9660, and the
// single-stream compressors (gzip, bzip2, xz, zstd, lz4, lzip, lzma, compress)
// read as one raw stream.
//
// Guarantees: reads through a ByteSource (never a path), streams entry data in
// 64 KiB blocks into ChildWriter, never trusts declared sizes. Entries libarchive
// lists but cannot decode are "unpack.unsupported", encrypted ones
// "archive.encrypted"; a corrupt archive is "unpack.error" on the container and
// whatever was read before the damage is still emitted. For zip-based formats our
// own structural checks (unpack/zip/zip_directory.h) run first, since libarchive
// never compares the local headers with the central directory.
#include <archive.h>
#include <archive_entry.h>

#include <cstring>
#include <string>
#include <vector>

#include "unpack/unpacker.h"
#include "unpack/zip/zip_directory.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"archive.encrypted", Severity::medium, "an archive entry is encrypted and could not be inspected"},
    {"unpack.error", Severity::medium, "a container is corrupt or could not be read completely"},
    {"unpack.unsupported", Severity::medium,
     "an entry uses a method the engine cannot decode (e.g. zip deflate64, implode)"},
    {"unpack.no_entries", Severity::medium,
     "a non-trivial container yielded no entries: it could not be looked into"},
});

namespace {

constexpr size_t kBlock = 64 * 1024;

bool is_stream_label(std::string_view label) {
  return label == "gzip" || label == "bzip2" || label == "xz" || label == "zstd" ||
         label == "lz4" || label == "lzip" || label == "lzma" || label == "compress";
}

bool is_zip_family(std::string_view label) {
  return label == "zip" || label == "ooxml" || label == "odf" || label == "jar" || label == "apk";
}

// libarchive client callbacks over a ByteSource.
struct ReadState {
  const ByteSource* src;
  uint64_t pos = 0;
  std::vector<char> buf = std::vector<char>(kBlock);
};

la_ssize_t read_cb(struct archive*, void* client, const void** out) {
  auto* st = static_cast<ReadState*>(client);
  size_t got = st->src->read_at(st->pos, st->buf.data(), st->buf.size());
  st->pos += got;
  *out = st->buf.data();
  return static_cast<la_ssize_t>(got);
}

la_int64_t seek_cb(struct archive*, void* client, la_int64_t offset, int whence) {
  auto* st = static_cast<ReadState*>(client);
  int64_t size = static_cast<int64_t>(st->src->size());
  int64_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? static_cast<int64_t>(st->pos) : size;
  int64_t target = base + offset;
  if (target < 0) return ARCHIVE_FATAL;
  if (target > size) target = size;
  st->pos = static_cast<uint64_t>(target);
  return target;
}

la_int64_t skip_cb(struct archive*, void* client, la_int64_t request) {
  auto* st = static_cast<ReadState*>(client);
  if (request < 0) return 0;
  uint64_t left = st->src->size() - std::min(st->pos, st->src->size());
  uint64_t step = std::min<uint64_t>(static_cast<uint64_t>(request), left);
  st->pos += step;
  return static_cast<la_int64_t>(step);
}

std::string error_text(struct archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

// libarchive says "Unsupported ZIP compression method (9: deflate64)", "... is
// not supported", "Unknown ... method": the entry is listed but unreadable.
bool is_unsupported_error(const std::string& msg) {
  return msg.find("nsupported") != std::string::npos ||
         msg.find("not supported") != std::string::npos ||
         msg.find("Unknown compression") != std::string::npos ||
         msg.find("unknown compression") != std::string::npos;
}

bool is_encryption_error(const std::string& msg) {
  return msg.find("ncrypt") != std::string::npos || msg.find("assphrase") != std::string::npos;
}

// Name of the single stream inside a compressor: the container's name less its
// compression suffix ("x.tar.gz" -> "x.tar"), else "<name>.out".
std::string stream_child_name(const std::string& parent) {
  static const char* kSuffixes[] = {".gz", ".tgz", ".bz2", ".tbz2", ".xz", ".txz", ".zst",
                                    ".lz4", ".lz", ".lzma", ".Z", ".gzip"};
  for (const char* sfx : kSuffixes) {
    size_t n = std::strlen(sfx);
    if (parent.size() > n && parent.compare(parent.size() - n, n, sfx) == 0) {
      std::string base = parent.substr(0, parent.size() - n);
      if (std::string_view(sfx).starts_with(".t") && std::strlen(sfx) > 3) base += ".tar";
      return base;
    }
  }
  return parent.empty() ? std::string("stream") : parent + ".out";
}

class ArchiveUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "libarchive"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    if (is_zip_family(obj.type.label)) check_zip(obj, ctx);

    struct archive* a = archive_read_new();
    if (!a) {
      ctx.add_finding(make_finding("unpack.error", "libarchive could not allocate a reader"));
      return;
    }
    bool stream = is_stream_label(obj.type.label);
    archive_read_support_filter_all(a);
    if (stream) {
      archive_read_support_format_raw(a);
    } else {
      archive_read_support_format_all(a);
    }
    ReadState st{obj.bytes.get()};
    archive_read_set_read_callback(a, read_cb);
    archive_read_set_seek_callback(a, seek_cb);
    archive_read_set_skip_callback(a, skip_cb);
    archive_read_set_callback_data(a, &st);
    if (archive_read_open1(a) != ARCHIVE_OK) {
      ctx.add_finding(make_finding("unpack.error", "cannot open " + obj.type.label + " container",
                                   error_text(a)));
      archive_read_free(a);
      return;
    }
    read_entries(a, obj, ctx, stream);
    archive_read_free(a);
  }

 private:
  static void check_zip(const Object& obj, UnpackContext& ctx) {
    std::string error;
    auto dir = read_zip_directory(*obj.bytes, static_cast<size_t>(ctx.limits().max_objects), &error);
    if (!dir) {
      ctx.add_finding(make_finding("archive.zip.malformed", "zip directory unreadable", error));
      return;
    }
    for (auto& f : check_zip_structure(*obj.bytes, *dir)) ctx.add_finding(std::move(f));
  }

  static void read_entries(struct archive* a, const Object& obj, UnpackContext& ctx, bool stream) {
    std::vector<char> buf(kBlock);
    uint64_t entries = 0;
    int failures = 0;
    for (;;) {
      if (ctx.should_stop()) return;
      struct archive_entry* entry = nullptr;
      int r = archive_read_next_header(a, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY && ++failures < 16) continue;
      if (r < ARCHIVE_WARN || entry == nullptr) {
        ctx.add_finding(make_finding("unpack.error",
                                     "corrupt " + obj.type.label + " after " +
                                         std::to_string(entries) + " entries",
                                     error_text(a)));
        if (r == ARCHIVE_FATAL || ++failures >= 16) return;
        continue;
      }
      ++entries;
      if (stream && archive_filter_count(a) <= 1) {
        // Raw format with no decompression filter: the "stream" is the container itself.
        ctx.add_finding(make_finding("unpack.error", "no decompressor recognised the stream"));
        return;
      }
      if (archive_entry_filetype(entry) != AE_IFREG) continue;  // dirs, links, devices
      if (!read_entry(a, entry, obj, ctx, stream, buf, entries)) return;
    }
    if (entries == 0 && obj.size > 4096) {
      ctx.add_finding(make_finding("unpack.no_entries",
                                   "no entries in a " + std::to_string(obj.size) + "-byte " +
                                       obj.type.label));
    }
  }

  // Returns false when unpacking must stop.
  static bool read_entry(struct archive* a, struct archive_entry* entry, const Object& obj,
                         UnpackContext& ctx, bool stream, std::vector<char>& buf,
                         uint64_t index) {
    ChildInfo info;
    if (stream) {
      info.name = stream_child_name(obj.name.empty() ? obj.path : obj.name);
    } else {
      const char* utf8 = archive_entry_pathname_utf8(entry);
      const char* raw = archive_entry_pathname(entry);
      info.name = utf8 ? utf8 : raw ? raw : "";
      if (info.name.empty()) info.name = "entry" + std::to_string(index);
    }
    if (archive_entry_size_is_set(entry)) info.declared_size = archive_entry_size(entry);
    info.encrypted = archive_entry_is_data_encrypted(entry) > 0;

    auto child = ctx.begin_child(info);
    if (!child) return false;
    if (info.encrypted) {
      child->add_finding(make_finding("archive.encrypted", "entry is encrypted: " + info.name));
      child->finish();
      return archive_read_data_skip(a) != ARCHIVE_FATAL;
    }
    for (;;) {
      la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
      if (n == 0) break;
      if (n < 0) {
        std::string msg = error_text(a);
        if (is_encryption_error(msg)) {
          child->add_finding(make_finding("archive.encrypted", "entry is encrypted: " + info.name, msg));
        } else if (is_unsupported_error(msg)) {
          child->add_finding(make_finding("unpack.unsupported",
                                          "cannot decode entry " + info.name, msg));
        } else {
          child->add_finding(make_finding("unpack.error", "cannot read entry " + info.name, msg));
        }
        child->finish();
        return n != ARCHIVE_FATAL;
      }
      if (!child->write(buf.data(), static_cast<size_t>(n))) break;
    }
    child->finish();
    return !ctx.should_stop();
  }
};

SANDGATE_REGISTER_UNPACKER(ArchiveUnpacker,
                           {"zip", "ooxml", "odf", "jar", "apk", "7z", "rar", "tar", "cpio",
                            "cab", "lha", "xar", "ar", "iso9660", "udf", "gzip", "bzip2", "xz",
                            "zstd", "lz4", "lzip", "lzma", "compress"});

}  // namespace
}  // namespace sandgate
