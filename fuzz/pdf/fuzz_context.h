// A minimal UnpackContext for fuzz targets of this part (PDF, OneNote,
// HTML/script unpackers): children are read to the end and dropped, with the
// engine's default limits.
#pragma once

#include <memory>
#include <string>

#include "analyzers/analyzer.h"

#include "unpack/unpacker.h"

namespace sandgate::fuzzing {

class DiscardContext final : public UnpackContext {
 public:
  class Writer final : public ChildWriter {
   public:
    explicit Writer(DiscardContext& c) : c_(c) {}
    bool write(const void*, size_t n) override {
      c_.bytes_ += n;
      return c_.bytes_ < c_.limits_.max_object_bytes;
    }
    void add_finding(Finding) override {}
    void finish() override {}

   private:
    DiscardContext& c_;
  };
  std::unique_ptr<ChildWriter> begin_child(ChildInfo) override {
    if (++children_ > 256) return nullptr;
    return std::make_unique<Writer>(*this);
  }
  bool emit_child(ChildInfo, ByteSourcePtr bytes) override {
    char buf[256];
    if (bytes->size() > 0) bytes->read_at(bytes->size() - 1, buf, 1);
    return ++children_ <= 256;
  }
  void add_finding(Finding) override {}
  bool should_stop() const override { return children_ > 256; }
  const Limits& limits() const override { return limits_; }
  bool account_output(uint64_t) override { return true; }

 private:
  Limits limits_;
  size_t children_ = 0;
  uint64_t bytes_ = 0;
};

// Runs every registered analyzer (those linked into the target), then the
// unpacker registered for label.
inline void analyze_and_unpack(const uint8_t* data, size_t size, const char* label) {
  static auto analyzers = AnalyzerRegistry::instance().create_all();
  Object o;
  o.type.label = label;
  o.bytes = memory_source(std::string(reinterpret_cast<const char*>(data), size));
  o.size = size;
  for (auto& a : analyzers) a->analyze(o);
  if (auto u = UnpackerRegistry::instance().create(label)) {
    DiscardContext ctx;
    u->unpack(o, ctx);
  }
}

}  // namespace sandgate::fuzzing
