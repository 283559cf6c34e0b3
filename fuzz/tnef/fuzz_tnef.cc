// libFuzzer target for the TNEF reader and unpacker: any input must end
// without a crash or a hang, every attachment window must lie inside the
// input, each child is finished once, and the attribute cap holds.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "unpack/tnef/tnef_reader.h"
#include "unpack/unpacker.h"

namespace {

using namespace sandgate;

class CheckingContext : public UnpackContext {
 public:
  explicit CheckingContext(uint64_t size) : size_(size) {}
  std::unique_ptr<ChildWriter> begin_child(ChildInfo) override { std::abort(); }
  bool emit_child(ChildInfo info, ByteSourcePtr bytes) override {
    if (info.name.empty() || !bytes || bytes->size() > size_) std::abort();
    char buf[4096];
    for (uint64_t off = 0; off < bytes->size();) {
      size_t got = bytes->read_at(off, buf, sizeof buf);
      if (got == 0) std::abort();
      off += got;
    }
    return ++children_ <= 100;
  }
  void add_finding(Finding f) override {
    if (f.id != "tnef.malformed" && f.id != "tnef.checksum") std::abort();
  }
  bool should_stop() const override { return false; }
  const Limits& limits() const override { return limits_; }
  bool account_output(uint64_t) override { return true; }

 private:
  uint64_t size_;
  int children_ = 0;
  Limits limits_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  auto src = memory_source(in);
  tnef::TnefOptions opt;
  opt.max_attributes = 1000;
  opt.max_properties = 1000;
  auto sum = tnef::read_tnef(*src, opt, [&](const tnef::TnefAttachment& a) {
    if (a.data.offset > size || a.data.length > size - a.data.offset) std::abort();
    if (a.best_name().empty()) std::abort();
    return true;
  });
  if (sum.attributes > opt.max_attributes || sum.consumed > size) std::abort();

  Object obj;
  obj.type.label = "tnef";
  obj.bytes = src;
  CheckingContext ctx(size);
  UnpackerRegistry::instance().create("tnef")->unpack(obj, ctx);
  return 0;
}
