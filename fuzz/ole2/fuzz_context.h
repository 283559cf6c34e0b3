// An UnpackContext for fuzz targets: children are counted and dropped, limits
// are the engine defaults. Shared by the ole2 and rtf targets.
#pragma once

#include <memory>

#include "unpack/unpacker.h"

namespace sandgate::fuzzing {

class DropContext final : public UnpackContext {
 public:
  class Sink final : public ChildWriter {
   public:
    explicit Sink(const Limits& lim) : lim_(lim) {}
    bool write(const void*, size_t n) override {
      size_ += n;
      if (size_ > lim_.max_object_bytes) __builtin_trap();  // unpackers respect the bound
      return true;
    }
    void add_finding(Finding) override {}
    void finish() override {}

   private:
    const Limits& lim_;
    uint64_t size_ = 0;
  };
  std::unique_ptr<ChildWriter> begin_child(ChildInfo) override {
    if (++children_ > 5000) return nullptr;
    return std::make_unique<Sink>(lim_);
  }
  bool emit_child(ChildInfo info, ByteSourcePtr) override { return begin_child(std::move(info)) != nullptr; }
  void add_finding(Finding) override {}
  bool should_stop() const override { return false; }
  const Limits& limits() const override { return lim_; }
  bool account_output(uint64_t) override { return true; }

  Limits lim_;
  size_t children_ = 0;
};

inline void run_unpacker(std::string_view label, ByteSourcePtr bytes) {
  Object obj;
  obj.type.label = std::string(label);
  obj.size = bytes->size();
  obj.bytes = std::move(bytes);
  DropContext ctx;
  ctx.lim_.max_object_bytes = 64u << 20;
  if (auto u = UnpackerRegistry::instance().create(label)) u->unpack(obj, ctx);
}

}  // namespace sandgate::fuzzing
