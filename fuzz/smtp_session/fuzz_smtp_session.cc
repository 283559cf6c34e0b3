// libFuzzer target: arbitrary client bytes into SmtpSession, split into
// pipelined packets at fuzzer-chosen points. The session must never crash,
// hang or grow without bound, and must reply to every complete message.
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "gateway/smtp/smtp_session.h"

namespace {

struct Handler : sandgate::smtp::DeliveryHandler {
  sandgate::smtp::Reply deliver(const sandgate::smtp::Envelope&, const std::string& spool,
                                uint64_t size) override {
    if (::access(spool.c_str(), R_OK) != 0) std::abort();
    return size % 2 ? sandgate::smtp::Reply{250, "2.0.0 Ok"}
                    : sandgate::smtp::Reply{451, "4.3.0 later"};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::string dir = [] {
    char tmpl[] = "/tmp/fuzz-smtp-XXXXXX";
    return std::string(::mkdtemp(tmpl));
  }();
  Handler handler;
  sandgate::smtp::SessionLimits limits;
  limits.spool_dir = dir;
  limits.max_message_bytes = 4096;
  limits.max_recipients = 5;
  limits.max_data_line = 200;
  limits.reject_bare_newlines = size > 0 && (data[0] & 1);
  limits.starttls = size > 0 && (data[0] & 2);
  sandgate::smtp::SmtpSession session(limits, handler, "127.0.0.1");
  std::string out;
  size_t pos = 0;
  // The first byte chooses the packet size (1..64), so splits vary.
  size_t step = size > 0 ? (data[0] % 64) + 1 : 1;
  while (pos < size && !session.closed()) {
    size_t n = std::min(step, size - pos);
    session.feed(std::string_view(reinterpret_cast<const char*>(data) + pos, n), out);
    pos += n;
    // As the transport does: the rest of the packet is dropped, then the
    // "handshake" succeeds and the session starts over.
    if (session.tls_requested()) session.tls_started();
    if (out.size() > (1u << 20)) out.clear();
  }
  return 0;
}
