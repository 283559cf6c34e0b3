// PKCS#7 SignedData decoding with a process-wide certificate cache.
//
// OpenSSL 3.0 decodes each certificate's public key through its provider
// decoders, about 0.13 ms per certificate on the build machine: with the
// signer, its issuers and a timestamp authority's chain, that was a third of
// the PE analyzer's time on a 1 MiB signed file. Signers recur (a vendor, a
// campaign's stolen certificate), so certificates are decoded once: the
// SignedData is decoded without its `certificates` field (a re-encoding of
// the DER with that field left out), and its certificates are taken from a
// cache keyed by the SHA-256 of their DER, decoding only the ones not seen.
// A certificate that is one of the trust store's (a root bundled in a
// timestamp token) is taken from the store.
//
// Guarantees: the result is what d2i_PKCS7 gives for the same bytes (the
// same certificates, in order, in p7->d.sign->cert); anything the walk does
// not expect (BER indefinite lengths, an unknown layout, a certificate that
// does not decode) falls back to plain d2i_PKCS7. Every tag and length is
// checked against what is left before use. The cache is bounded (LRU) and
// thread-safe; cached X509 objects are shared, reference-counted.
#pragma once

#include <cstddef>
#include <cstdint>

#include <openssl/pkcs7.h>

#include "analyzers/pe/code_signing.h"

namespace sandgate {

// As d2i_PKCS7(nullptr, &der, len): a new PKCS7 (free with PKCS7_free) or
// nullptr.
PKCS7* decode_signed_data(const unsigned char* der, size_t len);

// hits: certificates taken from the cache or the trust store; misses:
// certificates decoded.
using CertificateCacheStats = CacheStats;
CertificateCacheStats certificate_cache_stats();
// Empties the cache (tests, and bench/pe_bench's cold runs).
void certificate_cache_clear();

}  // namespace sandgate
