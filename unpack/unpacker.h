// Unpacker: turns one container object into child objects. Unpackers are chosen
// by detected type label through UnpackerRegistry; the engine never switches on
// formats. Each unpacker lives in its own file and registers itself with
// SANDGATE_REGISTER_UNPACKER.
//
// Contract for implementations:
// - Treat every byte as hostile. A malformed container is a finding
//   ("unpack.error", or something more precise) reported through the context;
//   emit what can still be read. Never throw for bad input.
// - Entry names are data: they become Object::name, never a file system path.
// - Stream child bytes through ChildWriter in blocks; stop as soon as write()
//   or ctx.should_stop() says so. Limits are enforced there, not by you.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "unpack/byte_source.h"
#include "unpack/finding.h"
#include "unpack/limits.h"
#include "unpack/object.h"

namespace sandgate {

struct ChildInfo {
  std::string name;           // as the container names it; may be empty
  std::string declared_mime;  // what the container claims, if anything
  bool encrypted = false;     // bytes are encrypted and could not be read
  int64_t declared_size = -1; // size the container claims, -1 if unknown
};

// Receives one child's bytes. Not thread-safe.
class ChildWriter {
 public:
  virtual ~ChildWriter() = default;
  // Appends bytes. Returns false once a limit stopped this child or the whole
  // scan; the finding is already recorded, stop writing.
  virtual bool write(const void* data, size_t n) = 0;
  // Attaches a finding to the child (e.g. a CRC error while reading it).
  virtual void add_finding(Finding f) = 0;
  // Ends the child: it is typed, analysed and unpacked in turn before this returns.
  // Call exactly once, also after write() returned false.
  virtual void finish() = 0;
};

// A password for encrypted archives found in the submission itself (a mail's
// subject or text parts), and where it was found ("the subject", "the text
// of part1"), for the evidence of archive.encrypted.opened.
struct PasswordCandidate {
  std::string password;
  std::string source;
};

class UnpackContext {
 public:
  virtual ~UnpackContext() = default;
  // Starts a child of the object being unpacked. Null when no more objects may
  // be created (the limit finding is already recorded): stop unpacking.
  virtual std::unique_ptr<ChildWriter> begin_child(ChildInfo info) = 0;
  // Emits a child whose bytes already exist (a window of the parent, say)
  // without copying. Returns false when the scan must stop.
  virtual bool emit_child(ChildInfo info, ByteSourcePtr bytes) = 0;
  // Attaches a finding to the object being unpacked.
  virtual void add_finding(Finding f) = 0;
  // True once the deadline, object count or total byte limit has been hit.
  virtual bool should_stop() const = 0;
  virtual const Limits& limits() const = 0;
  // Seconds left of the scan's time limit, for work the engine cannot
  // interrupt (a confined 7zz child is given at most this long). The default
  // is the whole limit.
  virtual double seconds_left() const { return limits().max_seconds; }
  // Adds to the count of bytes this container produced (for the ratio limit)
  // when an unpacker decompresses without emitting (e.g. scanning a stream).
  // Returns false when the ratio limit is hit.
  virtual bool account_output(uint64_t n) = 0;
  // Tells the engine how far into the container the unpacker has read. The
  // ratio limit is then judged against the bytes consumed so far, so a
  // single-stream bomb stops after its first megabytes instead of after
  // max_ratio times the whole container. Optional; a seekable reader that
  // jumps around should report its furthest position.
  virtual void note_input_consumed(uint64_t offset) { (void)offset; }
  // Password candidates travel from a message (the MIME unpacker, which sees
  // the subject and the text parts) to the archive unpackers that run later
  // in the same scan. The scan keeps a bounded, de-duplicated list in the
  // order added; the defaults keep none.
  virtual void add_password_candidates(std::vector<std::string> passwords, std::string source) {
    (void)passwords;
    (void)source;
  }
  virtual std::vector<PasswordCandidate> password_candidates() const { return {}; }
};

class Unpacker {
 public:
  virtual ~Unpacker() = default;
  virtual std::string_view name() const = 0;
  // REQUIRES: obj.type.label is one of the labels this unpacker registered for
  // and obj.bytes is set.
  virtual void unpack(const Object& obj, UnpackContext& ctx) = 0;
};

class UnpackerRegistry {
 public:
  using Factory = std::function<std::unique_ptr<Unpacker>()>;
  static UnpackerRegistry& instance();
  // Registers a factory for labels. A label may have one unpacker.
  void add(std::vector<std::string> labels, Factory factory);
  // Returns a new unpacker for label, or null if none handles it.
  std::unique_ptr<Unpacker> create(std::string_view label) const;
  bool handles(std::string_view label) const;
  std::vector<std::string> labels() const;

 private:
  std::vector<std::pair<std::string, Factory>> rows_;
};

struct UnpackerRegistration {
  UnpackerRegistration(std::vector<std::string> labels, UnpackerRegistry::Factory f) {
    UnpackerRegistry::instance().add(std::move(labels), std::move(f));
  }
};

#define SANDGATE_CONCAT2(a, b) a##b
#define SANDGATE_CONCAT(a, b) SANDGATE_CONCAT2(a, b)
// SANDGATE_REGISTER_UNPACKER(MyUnpacker, {"zip", "7z"});
#define SANDGATE_REGISTER_UNPACKER(Type, ...)                             \
  static ::sandgate::UnpackerRegistration SANDGATE_CONCAT(reg_, __LINE__)( \
      std::vector<std::string> __VA_ARGS__, [] { return std::unique_ptr<::sandgate::Unpacker>(new Type()); })

}  // namespace sandgate
