// SignedData decoding with a certificate cache (see signed_data.h).
#include "analyzers/pe/signed_data.h"

#include <climits>
#include <cstring>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <openssl/evp.h>
#include <openssl/x509.h>

namespace sandgate {
namespace {

// Enough for any real chain (signer, intermediates, timestamp authority);
// more than this and the plain decoder takes the file.
constexpr size_t kMaxCertificates = 64;
constexpr size_t kCacheCapacity = 512;

// OID 1.2.840.113549.1.7.2 (signedData), DER-encoded with tag and length.
constexpr unsigned char kSignedDataOid[] = {0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02};

struct Tlv {
  uint8_t tag = 0;
  size_t header = 0;  // tag and length octets
  size_t length = 0;  // content octets
  size_t size() const { return header + length; }
};

// The TLV at in[0, avail): false unless it has a low tag number and a
// definite length whose content fits in what is left.
bool read_tlv(const unsigned char* in, size_t avail, Tlv* t) {
  if (avail < 2) return false;
  t->tag = in[0];
  if ((t->tag & 0x1f) == 0x1f) return false;
  size_t pos = 2;
  size_t len = in[1];
  if (len >= 0x80) {
    const size_t n = len & 0x7f;
    if (n == 0 || n > 4 || avail - pos < n) return false;  // 0: indefinite (BER)
    len = 0;
    for (size_t i = 0; i < n; ++i) len = (len << 8) | in[pos++];
  }
  if (len > avail - pos) return false;
  t->header = pos;
  t->length = len;
  return true;
}

void append_header(std::string& out, uint8_t tag, size_t len) {
  out += static_cast<char>(tag);
  if (len < 0x80) {
    out += static_cast<char>(len);
    return;
  }
  unsigned char be[sizeof(size_t)];
  size_t n = 0;
  for (size_t v = len; v; v >>= 8) be[n++] = static_cast<unsigned char>(v & 0xff);
  out += static_cast<char>(0x80 | n);
  while (n) out += static_cast<char>(be[--n]);
}

// The trust store's certificates by the SHA-256 of their DER: a root that a
// signature carries (timestamp tokens often bundle their whole chain) is
// taken from the store instead of being decoded. Rebuilt when the trust
// store changes; a scan worker forked after the policy load inherits it.
class AnchorIndex {
 public:
  explicit AnchorIndex(std::shared_ptr<X509_STORE> store) : store_(std::move(store)) {
    if (!store_) return;
    STACK_OF(X509_OBJECT)* objects = X509_STORE_get0_objects(store_.get());
    for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
      X509* x = X509_OBJECT_get0_X509(sk_X509_OBJECT_value(objects, i));
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int md_len = 0;
      if (x && X509_digest(x, EVP_sha256(), md, &md_len) == 1)
        by_digest_.emplace(std::string(reinterpret_cast<char*>(md), md_len), x);
    }
  }
  // The anchor with this DER digest, reference taken for the caller.
  X509* get(const std::string& key) const {
    auto it = by_digest_.find(key);
    if (it == by_digest_.end()) return nullptr;
    X509_up_ref(it->second);
    return it->second;
  }

 private:
  std::shared_ptr<X509_STORE> store_;  // owns the certificates indexed
  std::unordered_map<std::string, X509*> by_digest_;
};

std::shared_ptr<const AnchorIndex> anchors() {
  static std::mutex mu;
  static std::shared_ptr<const AnchorIndex>* current = new std::shared_ptr<const AnchorIndex>;
  static uint64_t generation = 0;
  std::lock_guard lock(mu);
  uint64_t now = codesign_trust_generation();
  if (!*current || generation != now) {
    *current = std::make_shared<AnchorIndex>(codesign_store());
    generation = now;
  }
  return *current;
}

class CertificateCache {
 public:
  // The certificate with this DER, reference taken for the caller; nullptr
  // when it does not decode (exactly, to its last byte).
  X509* get(const unsigned char* der, size_t n) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_Digest(der, n, md, &md_len, EVP_sha256(), nullptr) != 1) return nullptr;
    std::string key(reinterpret_cast<char*>(md), md_len);
    {
      std::lock_guard lock(mu_);
      if (auto it = index_.find(key); it != index_.end()) {
        lru_.splice(lru_.begin(), lru_, it->second);
        X509_up_ref(it->second->second);
        ++stats_.hits;
        return it->second->second;
      }
    }
    if (X509* anchor = anchors()->get(key)) {
      std::lock_guard lock(mu_);
      ++stats_.hits;
      return anchor;
    }
    const unsigned char* p = der;
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(n));
    if (!x || p != der + n) {
      X509_free(x);
      return nullptr;
    }
    std::lock_guard lock(mu_);
    ++stats_.misses;
    if (auto it = index_.find(key); it != index_.end()) {  // another thread was first
      X509_free(x);
      lru_.splice(lru_.begin(), lru_, it->second);
      X509_up_ref(it->second->second);
      return it->second->second;
    }
    lru_.emplace_front(key, x);
    index_[std::move(key)] = lru_.begin();
    X509_up_ref(x);  // one reference for the cache, one for the caller
    while (lru_.size() > kCacheCapacity) {
      index_.erase(lru_.back().first);
      X509_free(lru_.back().second);
      lru_.pop_back();
    }
    return x;
  }

  CertificateCacheStats stats() {
    std::lock_guard lock(mu_);
    CertificateCacheStats s = stats_;
    s.entries = lru_.size();
    return s;
  }

  void clear() {
    std::lock_guard lock(mu_);
    for (auto& [key, x] : lru_) X509_free(x);
    lru_.clear();
    index_.clear();
    stats_ = {};
  }

 private:
  std::mutex mu_;
  std::list<std::pair<std::string, X509*>> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<std::pair<std::string, X509*>>::iterator> index_;
  CertificateCacheStats stats_;
};

CertificateCache& cache() {
  static CertificateCache* c = new CertificateCache;  // never destroyed: used at exit
  return *c;
}

PKCS7* plain_decode(const unsigned char* der, size_t len) {
  const unsigned char* p = der;
  return d2i_PKCS7(nullptr, &p, static_cast<long>(len));
}

struct Certificates {
  std::vector<X509*> certs;  // references owned until handed to a PKCS7
  ~Certificates() {
    for (X509* x : certs) X509_free(x);
  }
};

}  // namespace

PKCS7* decode_signed_data(const unsigned char* der, size_t len) {
  if (!der || len > static_cast<size_t>(LONG_MAX)) return nullptr;
  // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
  Tlv outer, oid, explicit0, sd;
  if (!read_tlv(der, len, &outer) || outer.tag != 0x30) return plain_decode(der, len);
  const unsigned char* o = der + outer.header;
  if (!read_tlv(o, outer.length, &oid) || oid.size() != sizeof kSignedDataOid ||
      std::memcmp(o, kSignedDataOid, sizeof kSignedDataOid) != 0)
    return plain_decode(der, len);
  const unsigned char* e = o + oid.size();
  const size_t e_avail = outer.length - oid.size();
  if (!read_tlv(e, e_avail, &explicit0) || explicit0.tag != 0xa0 || explicit0.size() != e_avail)
    return plain_decode(der, len);
  const unsigned char* s = e + explicit0.header;
  if (!read_tlv(s, explicit0.length, &sd) || sd.tag != 0x30 || sd.size() != explicit0.length)
    return plain_decode(der, len);

  // SignedData ::= SEQUENCE { version, digestAlgorithms, contentInfo,
  //   certificates [0] IMPLICIT SET OF Certificate OPTIONAL, crls [1] ..., signerInfos }
  std::string rest;  // every field but the certificates, as they were
  rest.reserve(sd.length);
  const unsigned char* certs_at = nullptr;
  size_t certs_len = 0;
  const unsigned char* c = s + sd.header;
  size_t left = sd.length;
  for (int field = 0; left > 0; ++field) {
    Tlv f;
    if (!read_tlv(c, left, &f)) return plain_decode(der, len);
    if (f.tag == 0xa0) {
      // Only in its place (after version, digestAlgorithms, contentInfo), so
      // that what the plain decoder refuses is refused here too.
      if (certs_at || field != 3) return plain_decode(der, len);
      certs_at = c + f.header;
      certs_len = f.length;
    } else {
      rest.append(reinterpret_cast<const char*>(c), f.size());
    }
    c += f.size();
    left -= f.size();
  }
  if (!certs_at) return plain_decode(der, len);

  Certificates certs;
  for (size_t at = 0; at < certs_len;) {
    Tlv cert;
    // Only plain Certificates (SEQUENCE); the other CertificateChoices go
    // through the plain decoder.
    if (!read_tlv(certs_at + at, certs_len - at, &cert) || cert.tag != 0x30 ||
        certs.certs.size() == kMaxCertificates)
      return plain_decode(der, len);
    X509* x = cache().get(certs_at + at, cert.size());
    if (!x) return plain_decode(der, len);
    certs.certs.push_back(x);
    at += cert.size();
  }

  std::string sd_new;
  append_header(sd_new, 0x30, rest.size());
  sd_new += rest;
  std::string content;
  append_header(content, 0xa0, sd_new.size());
  content += sd_new;
  std::string stripped;
  append_header(stripped, 0x30, oid.size() + content.size());
  stripped.append(reinterpret_cast<const char*>(o), oid.size());
  stripped += content;

  PKCS7* p7 = plain_decode(reinterpret_cast<const unsigned char*>(stripped.data()), stripped.size());
  if (!p7 || !PKCS7_type_is_signed(p7) || !p7->d.sign || p7->d.sign->cert) {
    PKCS7_free(p7);
    return plain_decode(der, len);
  }
  STACK_OF(X509)* stack = sk_X509_new_reserve(nullptr, static_cast<int>(certs.certs.size()));
  if (!stack) {
    PKCS7_free(p7);
    return plain_decode(der, len);
  }
  for (X509* x : certs.certs) sk_X509_push(stack, x);  // reserved: cannot fail
  certs.certs.clear();                                // the stack owns them now
  p7->d.sign->cert = stack;
  return p7;
}

CertificateCacheStats certificate_cache_stats() { return cache().stats(); }

void certificate_cache_clear() { cache().clear(); }

}  // namespace sandgate
