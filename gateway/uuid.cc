#include "gateway/uuid.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>

namespace sandgate {

namespace {

// RAND_bytes costs a few microseconds per call (provider dispatch, DRBG
// lock), a visible share of a small scan: each thread draws 32 ids' worth at
// once. A forked child (the scan workers) must not hand out its parent's
// unused bytes again, so the buffer belongs to the process that filled it.
struct RandomPool {
  unsigned char bytes[512];
  size_t used = sizeof bytes;
  pid_t owner = -1;
};

bool draw(unsigned char* out, size_t n) {
  thread_local RandomPool pool;
  const pid_t self = ::getpid();
  if (pool.owner != self || pool.used + n > sizeof pool.bytes) {
    if (RAND_bytes(pool.bytes, sizeof pool.bytes) != 1) return false;
    pool.used = 0;
    pool.owner = self;
  }
  std::memcpy(out, pool.bytes + pool.used, n);
  OPENSSL_cleanse(pool.bytes + pool.used, n);
  pool.used += n;
  return true;
}

}  // namespace

std::string random_uuid() {
  unsigned char b[16];
  if (!draw(b, sizeof b)) {
    // Only when OpenSSL's DRBG cannot be seeded at all: ids must still differ.
    thread_local std::mt19937_64 fallback(std::random_device{}() ^
                                          static_cast<uint64_t>(std::chrono::steady_clock::now()
                                                                    .time_since_epoch()
                                                                    .count()));
    for (auto& c : b) c = static_cast<unsigned char>(fallback());
  }
  b[6] = static_cast<unsigned char>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static const char kHex[] = "0123456789abcdef";
  std::string s;
  s.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) s += '-';
    s += kHex[b[i] >> 4];
    s += kHex[b[i] & 0x0f];
  }
  return s;
}

}  // namespace sandgate
