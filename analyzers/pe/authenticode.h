// Authenticode: verification of a PE file's embedded signature ("Windows
// Authenticode Portable Executable Signature Format", Microsoft, 2008; PE
// Format 5.7 "Attribute certificate table").
//
// verify_authenticode locates the certificate table through data directory 4,
// parses the PKCS#7 SignedData (OpenSSL 3), reads the SpcIndirectDataContent
// digest, recomputes the Authenticode digest of the file (everything except
// the optional header checksum, the certificate-table directory entry and the
// table itself) with the same algorithm (SHA-1/256/384/512), verifies the
// signer's signature, reads a signing time from an RFC 3161 timestamp or a
// legacy countersignature, and verifies the signer's chain against
// codesign_store() at the signing time (when a verified timestamp exists) or
// now. The file is streamed through the hash in blocks; the signature blob is
// read into memory only up to kMaxAuthenticodeBlob. Never throws.
//
// Parsing and verifying the PKCS#7 costs about as much as hashing a 1 MiB
// file, and the same signature arrives again and again (every copy of a
// vendor's installer), so both are cached, keyed by the SHA-256 of the
// PKCS#7 blob: a bounded LRU (1024 entries), thread-safe, emptied when the
// trust store changes (codesign_trust_generation) and with entries expiring
// after 10 minutes (a chain checked without a timestamp is checked against
// "now"). Nothing cached depends on the rest of the file: its digest is
// computed and compared with the signed one on every call.
//
// A signature not in the cache is verified on a second thread while the
// caller hashes the file, when the digest covers at least 256 KiB and the
// machine has more than one core: the verdict's latency is then about the
// longer of the two instead of their sum (the CPU spent is the same). The
// verdict is the same either way; a thread that cannot be started means the
// verification runs in finish() as before.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <openssl/evp.h>

#include "analyzers/pe/code_signing.h"
#include "analyzers/pe/pe_parser.h"
#include "unpack/byte_source.h"

namespace sandgate {

inline constexpr uint32_t kMaxAuthenticodeBlob = 16u << 20;

enum class AuthenticodeStatus {
  unsigned_,  // no certificate table
  valid,      // digest, signature and chain all check out
  tampered,   // the file's digest (or the signed content) does not match
  untrusted,  // the chain does not reach a trusted anchor
  expired,    // the chain is valid except for time, and no timestamp saves it
  malformed,  // the certificate table or the PKCS#7 cannot be read
};

const char* authenticode_status_name(AuthenticodeStatus s);

struct AuthenticodeResult {
  AuthenticodeStatus status = AuthenticodeStatus::unsigned_;
  std::string detail;            // why, for a person
  std::string digest_algorithm;  // sha1, sha256, ...
  std::string signed_digest;     // hex, from SpcIndirectDataContent
  std::string file_digest;       // hex, recomputed
  bool has_signer = false;
  CertDescription signer;
  std::string signing_time;      // ISO 8601, empty if none
  std::string timestamp_kind;    // "rfc3161", "countersignature" or empty
  bool timestamp_verified = false;
  std::string chain_error;
  bool trailing_data = false;    // bytes follow the certificate table
};

AuthenticodeResult verify_authenticode(const ByteSource& src, const PeInfo& pe);

// verify_authenticode in two steps, so that the caller can compute the file's
// digest in the same read of the file as other per-byte work (pe_read_pass):
//   AuthenticodeVerifier v(src, pe);          // reads the table and PKCS#7
//   if (const EVP_MD* md = v.digest_md()) ... // hash v.digest_input(pe) with md
//   AuthenticodeResult r = v.finish(hex);     // nullopt: the file could not be read
// digest_md() is null when the verdict needs no digest (unsigned, malformed);
// finish() then returns that verdict. Not thread-safe; one per file.
class AuthenticodeVerifier {
 public:
  AuthenticodeVerifier(const ByteSource& src, const PeInfo& pe);
  ~AuthenticodeVerifier();
  AuthenticodeVerifier(const AuthenticodeVerifier&) = delete;
  AuthenticodeVerifier& operator=(const AuthenticodeVerifier&) = delete;

  const EVP_MD* digest_md() const;
  // What the digest covers: up to the certificate table; set .sink before use.
  PeDigestInput digest_input(const PeInfo& pe) const;
  // REQUIRES: file_digest_hex is the lowercase hex digest with digest_md() of
  // digest_input(pe), or nullopt when it could not be computed.
  AuthenticodeResult finish(std::optional<std::string> file_digest_hex);

 private:
  struct State;
  // Reads the certificate table and parses the PKCS#7 (or takes it from the
  // cache).
  AuthenticodeResult read(const ByteSource& src, const PeInfo& pe);
  std::unique_ptr<State> st_;
};

// From how many bytes of digest on the verification runs on a second thread
// (default 256 KiB; 0: always, UINT64_MAX: never). For tests and benchmarks.
void set_authenticode_parallel_from(uint64_t bytes);
// How many verifications were started on a second thread in this process.
uint64_t authenticode_parallel_verifications();

using AuthenticodeCacheStats = CacheStats;
AuthenticodeCacheStats authenticode_cache_stats();
// Empties the signature cache and its counters (tests, benchmarks).
void authenticode_cache_clear();

// The Authenticode digest ranges of pe up to `end` (no sink set).
PeDigestInput authenticode_digest_input(const PeInfo& pe, uint64_t end);

// The Authenticode digest of src with md, over [0, end) minus the checksum and
// the certificate-table directory entry; false on a read error.
bool authenticode_digest(const ByteSource& src, const PeInfo& pe, uint64_t end, const EVP_MD* md,
                         std::string* out_hex);

}  // namespace sandgate
