// Unpacker for every container libarchive reads: zip (and the zip-based
// OOXML/ODF/JAR), 7z, rar/rar5, tar, cpio, cab, lha, xar, ar, iso9660, and the
// single-stream compressors (gzip, bzip2, xz, zstd, lz4, lzip, lzma, compress)
// read as one raw stream.
//
// Guarantees: reads through a ByteSource (never a path), streams entry data in
// 64 KiB blocks into ChildWriter, never trusts declared sizes. Entries libarchive
// lists but cannot decode are "unpack.unsupported", encrypted ones
// "archive.encrypted" unless a password candidate (UnpackContext::
// password_candidates: from the message, then the policy's archive_passwords) opens
// them, in which case they are read like any other entry and the container
// gets "archive.encrypted.opened" naming the candidate. libarchive decrypts
// zip (ZipCrypto and AES) itself; it cannot decrypt 7z or RAR, so an
// encrypted 7z or RAR (entries or headers) goes to the confined 7zz child
// (unpack/confined_7zz.h): each candidate is tested there and the one that
// works extracts the whole archive. RAR needs a 7zz with the (non-free) RAR
// codec, which Debian's lacks: then no candidate is tried and the entries stay
// archive.encrypted, saying why. libarchive 3.6 does not notice RAR 5
// encryption at all (it hands out the ciphertext), so RAR 5 headers are
// walked by our own reader first (unpack/archive/rar5_headers.h). A corrupt archive is "unpack.error" on
// the container and whatever was read before the damage is still emitted. For zip-based formats our
// own structural checks (unpack/zip/zip_directory.h) run first, since libarchive
// never compares the local headers with the central directory.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "unpack/archive/rar5_headers.h"
#include "unpack/confined_7zz.h"
#include "unpack/unpacker.h"
#include "unpack/zip/zip_directory.h"

namespace sandgate {

SANDGATE_DECLARE_FINDINGS({
    {"archive.encrypted", Severity::medium, "an archive entry is encrypted and could not be inspected"},
    {"archive.encrypted.opened", Severity::medium,
     "an encrypted archive was opened with a password found in the message (or a well-known "
     "one); its contents were inspected"},
    {"unpack.error", Severity::medium, "a container is corrupt or could not be read completely"},
    {"unpack.unsupported", Severity::medium,
     "an entry uses a method the engine cannot decode (e.g. zip deflate64, implode)"},
    {"unpack.no_entries", Severity::medium,
     "a non-trivial container yielded no entries: it could not be looked into"},
});

namespace {

constexpr size_t kBlock = 64 * 1024;
constexpr int kMaxReopen = 16;
constexpr uint64_t kSampleBytes = kBlock;

bool is_stream_label(std::string_view label) {
  return label == "gzip" || label == "bzip2" || label == "xz" || label == "zstd" ||
         label == "lz4" || label == "lzip" || label == "lzma" || label == "compress";
}

// A probe reads at most this much of an entry with a candidate: a wrong
// ZipCrypto password passes the 1-byte check 1 time in 256, and then fails on
// the data or its CRC long before this.
constexpr uint64_t kProbeBytes = 1 << 20;

// The password state of one container, shared by its reader passes.
struct Passwords {
  std::vector<PasswordCandidate> candidates;  // the message's, then the policy's
  bool probed = false;                        // candidates were tried once already
  int working = -1;                           // index of the one that opened an entry
  bool reported = false;                      // archive.encrypted.opened was added

  explicit Passwords(const UnpackContext& ctx) : candidates(ctx.password_candidates()) {
    for (const std::string& p : ctx.limits().archive_passwords) {
      bool seen = false;
      for (const auto& c : candidates) seen = seen || c.password == p;
      if (!seen) candidates.push_back({p, "the policy's archive_passwords"});
    }
  }
};

bool is_zip_family(std::string_view label) {
  return label == "zip" || label == "ooxml" || label == "odf" || label == "jar" || label == "apk";
}

// libarchive 3.6 decrypts zip (ZipCrypto, WinZip AES) only: it has no
// decryption for 7z (FACTS.md) or RAR ("RAR encryption support unavailable").
bool supports_passphrase(std::string_view label) {
  return label == "zip" || label == "jar" || label == "apk";
}

// Encrypted archives of these types are opened by the confined 7zz instead.
bool opened_by_7zz(std::string_view label) { return label == "7z" || label == "rar"; }

// The finding that records which candidate opened an encrypted archive. The
// password is recorded: analysts want it, and it is in the message anyway.
Finding opened_finding(const Object& obj, const Passwords& pw, size_t index, std::string_view how) {
  const auto& c = pw.candidates[index];
  return make_finding("archive.encrypted.opened",
                      "encrypted " + obj.type.label + " opened with a password" + std::string(how),
                      "candidate #" + std::to_string(index + 1) + " from " + c.source + ": \"" +
                          c.password + "\"");
}

// libarchive client callbacks over a ByteSource.
struct ReadState {
  const ByteSource* src;
  UnpackContext* ctx;
  uint64_t pos = 0;
  std::vector<char> buf = std::vector<char>(kBlock);
};

la_ssize_t read_cb(struct archive*, void* client, const void** out) {
  auto* st = static_cast<ReadState*>(client);
  size_t got = st->src->read_at(st->pos, st->buf.data(), st->buf.size());
  st->pos += got;
  st->ctx->note_input_consumed(st->pos);
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

// One pass of libarchive over a container.
class Reader {
 public:
  // sample: when non-zero, read only this many bytes of each entry.
  // passwords: null when no passwords are to be tried.
  // rar5: what our own header walk found (RAR 5 entries libarchive 3.6
  // cannot tell are encrypted); null for other formats.
  Reader(const Object& obj, UnpackContext& ctx, bool stream, uint64_t sample,
         Passwords* passwords = nullptr, const Rar5Encryption* rar5 = nullptr,
         std::string encrypted_note = {})
      : obj_(obj),
        ctx_(ctx),
        stream_(stream),
        sample_(sample),
        passwords_(passwords),
        rar5_(rar5),
        encrypted_note_(std::move(encrypted_note)),
        st_{obj.bytes.get(), &ctx} {}
  ~Reader() {
    if (a_) archive_read_free(a_);
  }
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  bool open() {
    a_ = archive_read_new();
    if (!a_) {
      ctx_.add_finding(make_finding("unpack.error", "libarchive could not allocate a reader"));
      return false;
    }
    archive_read_support_filter_all(a_);
    if (stream_) {
      archive_read_support_format_raw(a_);
    } else {
      archive_read_support_format_all(a_);
    }
    archive_read_set_read_callback(a_, read_cb);
    archive_read_set_seek_callback(a_, seek_cb);
    archive_read_set_skip_callback(a_, skip_cb);
    archive_read_set_callback_data(a_, &st_);
    // libarchive takes passphrases only before open; the callback hands it
    // the one that worked once a probe (unlock) has found it.
    if (passwords_) archive_read_set_passphrase_callback(a_, this, passphrase_cb);
    if (archive_read_open1(a_) != ARCHIVE_OK) {
      ctx_.add_finding(make_finding("unpack.error",
                                    "cannot open " + obj_.type.label + " container",
                                    error_text(a_)));
      return false;
    }
    return true;
  }

  enum class Encryption { none, entries, headers };

  // Whether a 7z or RAR is encrypted, from its first header alone (libarchive
  // reads the whole 7z header there; no entry data is decoded), or for RAR 5
  // from our own walk of its headers.
  static Encryption encryption(const Object& obj, UnpackContext& ctx, const Rar5Encryption* rar5) {
    if (rar5 && rar5->headers_encrypted) return Encryption::headers;
    if (rar5 && !rar5->encrypted_files.empty()) return Encryption::entries;
    Reader r(obj, ctx, false, 0);
    if (!r.open_quiet("")) {
      return is_encryption_error(r.a_ ? error_text(r.a_) : "") ? Encryption::headers
                                                                : Encryption::none;
    }
    struct archive_entry* entry = nullptr;
    int h = archive_read_next_header(r.a_, &entry);
    if (h < ARCHIVE_WARN) return is_encryption_error(error_text(r.a_)) ? Encryption::headers : Encryption::none;
    if (h == ARCHIVE_EOF) return Encryption::none;
    if (archive_read_has_encrypted_entries(r.a_) > 0 ||
        (entry && archive_entry_is_data_encrypted(entry) > 0))
      return Encryption::entries;
    return Encryption::none;
  }

  // Reads entries, skipping (by header only) the first `skip`. Returns the
  // index to resume at after a fatal error inside an entry's data, or nullopt
  // when this container is done (or must not be read further).
  std::optional<uint64_t> read_entries(uint64_t skip) {
    uint64_t index = 0;
    int failures = 0;
    for (;;) {
      if (ctx_.should_stop()) return std::nullopt;
      struct archive_entry* entry = nullptr;
      int r = archive_read_next_header(a_, &entry);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY && ++failures < 16) continue;
      if ((r < ARCHIVE_WARN || entry == nullptr) && is_encryption_error(error_text(a_))) {
        // 7z and RAR with encrypted headers: not even the names can be read.
        ctx_.add_finding(make_finding("archive.encrypted",
                                      "the " + obj_.type.label +
                                          "'s headers are encrypted: no entry could be inspected",
                                      error_text(a_)));
        return std::nullopt;
      }
      if (r < ARCHIVE_WARN || entry == nullptr) {
        ctx_.add_finding(make_finding("unpack.error",
                                      "corrupt " + obj_.type.label + " after " +
                                          std::to_string(index) + " entries",
                                      error_text(a_)));
        if (r == ARCHIVE_FATAL || ++failures >= 16) return std::nullopt;
        continue;
      }
      ++index;
      if (index <= skip) continue;
      if (stream_ && archive_filter_count(a_) <= 1) {
        // Raw format with no decompression filter: the "stream" is the container itself.
        ctx_.add_finding(make_finding("unpack.error", "no decompressor recognised the stream"));
        return std::nullopt;
      }
      if (archive_entry_filetype(entry) != AE_IFREG) continue;  // dirs, links, devices
      switch (read_entry(entry, index)) {
        case EntryResult::next: break;
        case EntryResult::stop: return std::nullopt;
        case EntryResult::fatal: return stream_ ? std::nullopt : std::optional<uint64_t>(index);
      }
    }
    if (index == 0 && obj_.size > 4096) {
      ctx_.add_finding(make_finding("unpack.no_entries",
                                    "no entries in a " + std::to_string(obj_.size) + "-byte " +
                                        obj_.type.label));
    }
    return std::nullopt;
  }

 private:
  enum class EntryResult { next, stop, fatal };

  // Reads the first bytes of entry `index` (1-based) with one passphrase, on
  // a reader of its own. True when they decrypt and decode without error.
  static bool probe(const Object& obj, UnpackContext& ctx, uint64_t index,
                    const std::string& passphrase) {
    Reader r(obj, ctx, false, 0);
    if (!r.open_quiet(passphrase)) return false;
    struct archive_entry* entry = nullptr;
    for (uint64_t i = 0; i < index; ++i) {
      if (ctx.should_stop()) return false;
      if (archive_read_next_header(r.a_, &entry) < ARCHIVE_WARN) return false;
    }
    uint64_t read = 0;
    for (;;) {
      la_ssize_t n = archive_read_data(r.a_, r.buf_.data(), r.buf_.size());
      if (n < 0) return false;
      if (n == 0) return read > 0;  // nothing decrypted proves nothing
      read += static_cast<uint64_t>(n);
      if (read >= kProbeBytes) return true;
    }
  }

  bool open_quiet(const std::string& passphrase) {
    a_ = archive_read_new();
    if (!a_) return false;
    archive_read_support_filter_all(a_);
    archive_read_support_format_all(a_);
    archive_read_set_read_callback(a_, read_cb);
    archive_read_set_seek_callback(a_, seek_cb);
    archive_read_set_skip_callback(a_, skip_cb);
    archive_read_set_callback_data(a_, &st_);
    if (!passphrase.empty()) archive_read_add_passphrase(a_, passphrase.c_str());
    return archive_read_open1(a_) == ARCHIVE_OK;
  }

  // Called by libarchive when an entry needs a passphrase and those it has
  // failed; NULL means no more to try.
  static const char* passphrase_cb(struct archive*, void* client) {
    auto* r = static_cast<Reader*>(client);
    if (!r->passwords_ || r->passwords_->working < 0 || r->given_) return nullptr;
    r->given_ = true;
    return r->passwords_->candidates[static_cast<size_t>(r->passwords_->working)].password.c_str();
  }

  // Tries the password candidates on encrypted entry `index`. Once one
  // worked it is the only one tried on later entries (an archive has one
  // password as a rule); when none worked, none is tried again. Returns
  // true when the entry can be read: the passphrase callback supplies it.
  bool unlock(uint64_t index) {
    if (!passwords_ || stream_) return false;
    if (passwords_->working < 0) {
      if (passwords_->probed) return false;
      passwords_->probed = true;
      for (size_t i = 0; i < passwords_->candidates.size(); ++i) {
        if (ctx_.should_stop()) return false;
        if (probe(obj_, ctx_, index, passwords_->candidates[i].password)) {
          passwords_->working = static_cast<int>(i);
          break;
        }
      }
      if (passwords_->working < 0) return false;
    }
    if (!passwords_->reported) {
      passwords_->reported = true;
      ctx_.add_finding(opened_finding(obj_, *passwords_, static_cast<size_t>(passwords_->working), ""));
    }
    return true;
  }

  EntryResult read_entry(struct archive_entry* entry, uint64_t index) {
    ChildInfo info;
    if (stream_) {
      info.name = stream_child_name(obj_.name.empty() ? obj_.path : obj_.name);
    } else {
      const char* utf8 = archive_entry_pathname_utf8(entry);
      const char* raw = archive_entry_pathname(entry);
      info.name = utf8 ? utf8 : raw ? raw : "";
      if (info.name.empty()) info.name = "entry" + std::to_string(index);
    }
    if (archive_entry_size_is_set(entry)) info.declared_size = archive_entry_size(entry);
    info.encrypted = archive_entry_is_data_encrypted(entry) > 0;
    if (!info.encrypted && rar5_ && !stream_) {
      // libarchive 3.6 names RAR 5 entries as stored, '/' separated.
      const char* raw = archive_entry_pathname(entry);
      info.encrypted = rar5_->encrypted_files.count(info.name) > 0 ||
                       (raw && rar5_->encrypted_files.count(raw) > 0);
    }
    // An empty entry proves no password: it is not worth a probe.
    if (info.encrypted && info.declared_size != 0 && unlock(index)) info.encrypted = false;

    auto child = ctx_.begin_child(info);
    if (!child) return EntryResult::stop;
    if (info.encrypted) {
      child->add_finding(
          make_finding("archive.encrypted", "entry is encrypted: " + info.name, encrypted_note_));
      child->finish();
      return archive_read_data_skip(a_) == ARCHIVE_FATAL ? EntryResult::fatal : EntryResult::next;
    }
    uint64_t written = 0;
    for (;;) {
      la_ssize_t n = archive_read_data(a_, buf_.data(), buf_.size());
      if (n == 0) break;
      if (n < 0) {
        std::string msg = error_text(a_);
        if (is_encryption_error(msg)) {
          child->add_finding(
              make_finding("archive.encrypted", "entry is encrypted: " + info.name, msg));
        } else if (is_unsupported_error(msg)) {
          child->add_finding(
              make_finding("unpack.unsupported", "cannot decode entry " + info.name, msg));
        } else {
          child->add_finding(make_finding("unpack.error", "cannot read entry " + info.name, msg));
        }
        child->finish();
        return n == ARCHIVE_FATAL ? EntryResult::fatal : EntryResult::next;
      }
      if (!child->write(buf_.data(), static_cast<size_t>(n))) break;
      written += static_cast<uint64_t>(n);
      if (sample_ && written >= sample_) {
        child->add_finding(make_finding("limits.ratio",
                                        "part of a bomb: only the first " +
                                            std::to_string(written) + " bytes were inspected"));
        break;
      }
    }
    child->finish();
    return ctx_.should_stop() ? EntryResult::stop : EntryResult::next;
  }

  const Object& obj_;
  UnpackContext& ctx_;
  bool stream_;
  uint64_t sample_;
  Passwords* passwords_;
  const Rar5Encryption* rar5_;
  std::string encrypted_note_;  // evidence for archive.encrypted (why no password was tried)
  bool given_ = false;  // the working passphrase was handed to libarchive
  ReadState st_;
  struct archive* a_ = nullptr;
  std::vector<char> buf_ = std::vector<char>(kBlock);
};

class ArchiveUnpacker final : public Unpacker {
 public:
  std::string_view name() const override { return "libarchive"; }

  void unpack(const Object& obj, UnpackContext& ctx) override {
    // A zip whose directory admits to a bomb is only sampled: each entry's
    // first bytes are read so its name and type are still reported.
    uint64_t sample = 0;
    if (is_zip_family(obj.type.label) && !check_zip(obj, ctx)) sample = kSampleBytes;
    bool stream = is_stream_label(obj.type.label);
    // A fatal error inside one entry's data (a corrupt deflate stream, say)
    // leaves libarchive's reader unusable, but the entries after it may be
    // intact: reopen, skip past the broken entry by headers alone, go on.
    uint64_t resume_at = 0;
    // RAR 5 headers are walked by our own reader: libarchive 3.6 does not see
    // their encryption records and would hand out ciphertext as entries.
    std::optional<Rar5Encryption> rar5;
    if (obj.type.label == "rar") {
      rar5 = read_rar5_encryption(*obj.bytes, static_cast<size_t>(ctx.limits().max_objects) + 64);
      if (!rar5->rar5) {
        rar5.reset();
      } else if (rar5->damaged) {
        // Fail closed: entries libarchive still reads past this point were
        // not checked for encryption.
        ctx.add_finding(make_finding("unpack.error",
                                     "a RAR 5 header is damaged after " +
                                         std::to_string(rar5->blocks) +
                                         " blocks: later entries cannot be checked for encryption"));
      }
    }
    const Rar5Encryption* rar5p = rar5 ? &*rar5 : nullptr;
    std::string encrypted_note;
    // An encrypted 7z or RAR that a candidate opens is read by 7zz instead.
    if (opened_by_7zz(obj.type.label)) {
      auto enc = Reader::encryption(obj, ctx, rar5p);
      if (enc != Reader::Encryption::none) {
        Passwords pw(ctx);
        std::string tool = sevenzip::find_tool();
        if (obj.type.label == "rar" && !tool.empty() && !sevenzip::tool_reads_rar(tool, ctx.limits())) {
          encrypted_note = "no password was tried: this system's 7zz has no RAR codec (Debian's "
                           "7zip leaves it out; the non-free package 7zip-rar adds it)";
        } else if (!pw.candidates.empty() &&
                   open_with_7zz(obj, ctx, pw, enc == Reader::Encryption::headers)) {
          return;
        }
        if (rar5p && rar5p->headers_encrypted) {
          // Not even the names can be read; libarchive would report garbage.
          ctx.add_finding(make_finding("archive.encrypted",
                                       "the rar's headers are encrypted: no entry could be inspected",
                                       encrypted_note));
          return;
        }
      }
    }
    // Otherwise candidates are tried only where libarchive can decrypt (zip).
    std::optional<Passwords> passwords;
    if (!stream && supports_passphrase(obj.type.label)) passwords.emplace(ctx);
    for (int pass = 0; pass < kMaxReopen; ++pass) {
      Reader reader(obj, ctx, stream, sample, passwords ? &*passwords : nullptr, rar5p,
                    encrypted_note);
      if (!reader.open()) return;
      auto next = reader.read_entries(resume_at);
      if (!next) return;
      resume_at = *next;
    }
    ctx.add_finding(make_finding("unpack.error", "too many damaged entries; the rest was not read"));
  }

 private:
  // Tests each candidate on an encrypted 7z or RAR with the confined 7zz
  // (`7zz t`, or `7zz l` where the headers are encrypted: a wrong password
  // cannot decode them), checks the declared totals against the limits, and
  // extracts the archive with the one that works. Returns false when no
  // candidate works or 7zz cannot be used: the libarchive pass then reports
  // archive.encrypted for what it cannot read, and the policy decides.
  static bool open_with_7zz(const Object& obj, UnpackContext& ctx, const Passwords& pw,
                            bool headers_encrypted) {
    std::string tool = sevenzip::find_tool();
    if (tool.empty()) return false;
    sevenzip::Scratch scratch;
    if (!scratch.ok() || !sevenzip::copy_out(*obj.bytes, scratch.dir() + "/archive")) return false;
    const Limits& lim = ctx.limits();
    // Each run gets what is left of the scan's time, never the whole limit
    // again: a 7zz child is not interrupted by the engine's own checks.
    double seconds = 0;
    auto time_left = [&] { return (seconds = sevenzip::run_budget(ctx)) > 0; };
    auto args = [&](const char* command, const std::string& password) {
      std::vector<std::string> a = {tool, command, "-bd"};
      if (obj.type.label == "7z") a.push_back("-t7z");
      // stdin is /dev/null, so 7zz can never prompt; no -p where none is needed.
      if (!password.empty()) a.push_back("-p" + password);
      return a;
    };
    auto too_big = [&](const sevenzip::Declared& d) {
      ctx.add_finding(make_finding("unpack.error",
                                   "the encrypted " + obj.type.label + " declares " +
                                       std::to_string(d.files) + " files, " +
                                       std::to_string(d.bytes) + " bytes: beyond the limits",
                                   "not extracted"));
    };
    std::map<std::string, sevenzip::Listed> listing;
    if (!headers_encrypted) {
      // Names and sizes are in the clear: the limits are checked before any test.
      auto a = args("l", "");
      a.insert(a.end(), {"-slt", "archive"});
      if (!time_left()) return false;
      auto list = sevenzip::run(a, scratch.dir(), lim, seconds, true);
      if (!list.ok) return false;
      listing = sevenzip::parse_listing(list.out);
      auto d = sevenzip::declared_totals(listing);
      if (!sevenzip::within_limits(d, obj.size, lim)) {
        too_big(d);
        return false;
      }
    }
    int working = -1;
    for (size_t i = 0; i < pw.candidates.size() && working < 0; ++i) {
      if (ctx.should_stop()) return false;
      const std::string& candidate = pw.candidates[i].password;
      if (headers_encrypted) {
        auto a = args("l", candidate);
        a.insert(a.end(), {"-slt", "archive"});
        if (!time_left()) return false;
        auto list = sevenzip::run(a, scratch.dir(), lim, seconds, true);
        if (!list.ok) continue;
        listing = sevenzip::parse_listing(list.out);
        auto d = sevenzip::declared_totals(listing);
        if (!sevenzip::within_limits(d, obj.size, lim)) {
          too_big(d);
          ctx.add_finding(opened_finding(obj, pw, i, " (headers only)"));
          return false;
        }
      }
      auto t = args("t", candidate);
      t.push_back("archive");
      if (!time_left()) return false;
      auto tested = sevenzip::run(t, scratch.dir(), lim, seconds, false);
      if (tested.ok) working = static_cast<int>(i);
      else if (tested.timed_out) return false;  // the next candidate would only time out too
    }
    if (working < 0) return false;
    if (::mkdir((scratch.dir() + "/out").c_str(), 0700) != 0) return false;
    // -aou: two entries of one name are both kept (the second renamed),
    // so a payload cannot hide behind a later entry of the same name.
    auto x = args("x", pw.candidates[static_cast<size_t>(working)].password);
    x.insert(x.end(), {"-aou", "-oout", "archive"});
    if (!time_left()) return false;
    auto extracted = sevenzip::run(x, scratch.dir(), lim, seconds, false);
    ctx.add_finding(opened_finding(obj, pw, static_cast<size_t>(working), " (read by 7zz)"));
    if (!extracted.ok)
      ctx.add_finding(make_finding("unpack.error", "7zz could not extract the whole " + obj.type.label,
                                   extracted.error));
    uint64_t emitted = sevenzip::emit_extracted(ctx, scratch.dir() + "/out", listing);
    if (emitted == 0 && obj.size > 4096)
      ctx.add_finding(make_finding("unpack.no_entries",
                                   "no entries in a " + std::to_string(obj.size) + "-byte " +
                                       obj.type.label));
    return true;
  }

  // Structural checks, then the declared sizes against the ratio limit: a zip
  // whose directory already admits to a bomb is not inflated in full. Returns
  // false for such a bomb. (Declared sizes can also lie low; the
  // engine's streaming limits catch that case.)
  static bool check_zip(const Object& obj, UnpackContext& ctx) {
    std::string error;
    auto dir = read_zip_directory(*obj.bytes, static_cast<size_t>(ctx.limits().max_objects), &error);
    if (!dir) {
      ctx.add_finding(make_finding("archive.zip.malformed", "zip directory unreadable", error));
      return true;  // libarchive may still read the local headers
    }
    for (auto& f : check_zip_structure(*obj.bytes, *dir)) ctx.add_finding(std::move(f));
    const Limits& lim = ctx.limits();
    uint64_t declared = 0;
    for (const auto& e : dir->entries) {
      declared += std::min<uint64_t>(e.uncompressed_size, uint64_t{1} << 48);
    }
    double allowed = std::max(static_cast<double>(lim.ratio_slack_bytes),
                              lim.max_ratio * static_cast<double>(obj.size));
    if (static_cast<double>(declared) > allowed) {
      ctx.add_finding(make_finding("limits.ratio",
                                   "zip directory declares " + std::to_string(declared) +
                                       " bytes from " + std::to_string(obj.size),
                                   "entries sampled, not inflated"));
      return false;
    }
    return true;
  }

};

SANDGATE_REGISTER_UNPACKER(ArchiveUnpacker,
                           {"zip", "ooxml", "odf", "jar", "apk", "7z", "rar", "tar", "cpio",
                            "cab", "lha", "xar", "ar", "iso9660", "gzip", "bzip2", "xz",
                            "zstd", "lz4", "lzip", "lzma", "compress"});

}  // namespace
}  // namespace sandgate
