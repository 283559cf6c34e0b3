// Code-signing trust and certificate helpers shared by the Authenticode (PE)
// and Mach-O signature checks: the trust store, a printable description of a
// signer certificate, and chain verification at a chosen time.
//
// Trust store: by default the system CA bundle
// (/etc/ssl/certs/ca-certificates.crt) plus every PEM file named in the
// environment variable SANDGATE_CODESIGN_ANCHORS (colon-separated). A
// policy's `codesign` section replaces that (the engine calls
// apply_policy_codesign_trust for each scan); tests replace it with
// set_codesign_trust(). The store is built once per configuration and shared
// read-only by every scan thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <openssl/pkcs7.h>
#include <openssl/x509.h>

#include "unpack/hex.h"

namespace sandgate {

struct CodeSignTrust {
  bool use_system_bundle = true;
  std::string system_bundle = "/etc/ssl/certs/ca-certificates.crt";
  std::vector<std::string> anchor_files;  // extra PEM anchors (roots or intermediates)
  // Extra anchors as PEM text already read (a policy's anchors are read and
  // checked when the policy loads, never later).
  std::vector<std::string> anchor_pems;
  bool operator==(const CodeSignTrust&) const = default;
};

// The configuration from the environment (SANDGATE_CODESIGN_ANCHORS; and
// SANDGATE_CODESIGN_NO_SYSTEM=1 to leave the system bundle out).
CodeSignTrust codesign_trust_from_env();
// Replaces the process-wide trust configuration. Thread-safe; scans already
// running keep the store they started with.
void set_codesign_trust(const CodeSignTrust& trust);
// For the engine, once per scan: makes a policy's trust configuration
// current unless it already is (one comparison under a lock when nothing
// changed). With null (the policy has no `codesign` section) it goes back to
// the environment's configuration if a policy had replaced it, and otherwise
// leaves the current one alone (so set_codesign_trust in tests sticks).
void apply_policy_codesign_trust(const CodeSignTrust* trust);
// The current store (built on first use). Never null; may hold no anchors.
std::shared_ptr<X509_STORE> codesign_store();
// Changes whenever the trust configuration does: results that depend on the
// store (verification caches) are keyed by it.
uint64_t codesign_trust_generation();

struct CertDescription {
  std::string subject;     // RFC 2253 one-line form
  std::string common_name;
  std::string issuer;
  std::string serial;      // hex
  std::string sha1;        // lowercase hex thumbprints of the DER certificate
  std::string sha256;
  std::string not_before;  // ISO 8601 UTC
  std::string not_after;
};

CertDescription describe_cert(X509* cert);
std::string asn1_time_iso(const ASN1_TIME* t);
// Seconds since the epoch for an ASN1_TIME; false if unreadable.
bool asn1_time_to_time_t(const ASN1_TIME* t, time_t* out);

enum class ChainResult { trusted, expired, untrusted };
// Verifies cert's chain to an anchor of the store, with `untrusted` as the
// pool of intermediates, at time `at` (0: now). Any purpose is accepted (code
// signing has no OpenSSL purpose); *error receives OpenSSL's reason.
// Trusted results are cached per certificates and trust generation, with the
// validity window of the chain: the same certificates at a time inside it
// are trusted without a new check (see code_signing.cc).
ChainResult verify_chain(X509* cert, STACK_OF(X509) * untrusted, time_t at, std::string* error);

// Counters of the code-signing caches (signatures, certificates, chains).
struct CacheStats {
  uint64_t hits = 0;    // answered from the cache
  uint64_t misses = 0;  // computed (decoded, verified)
  size_t entries = 0;
};
using ChainCacheStats = CacheStats;
ChainCacheStats chain_cache_stats();
// Empties the cache (tests, and bench/pe_bench's never-seen-signer runs).
void chain_cache_clear();

// True when a SignedData names at least one digest algorithm and each is
// SHA-1, SHA-256, SHA-384 or SHA-512. Check before PKCS7_verify with content:
// OpenSSL 3.0's PKCS7_verify leaks its copy of the content when it cannot set
// up a digest named there (found by fuzz_pe).
bool signed_data_digests_supported(const PKCS7* p7);

}  // namespace sandgate
