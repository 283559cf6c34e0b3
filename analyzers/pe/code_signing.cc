// Code-signing trust store and certificate helpers (see code_signing.h).
#include "analyzers/pe/code_signing.h"

#include <atomic>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

namespace sandgate {
namespace {

std::mutex g_mu;
// All guarded by g_mu. g_trust null: from the environment.
CodeSignTrust* g_trust = nullptr;
bool g_from_policy = false;  // g_trust came from apply_policy_codesign_trust
std::shared_ptr<X509_STORE> g_store;
std::atomic<uint64_t> g_generation{1};

void add_pem_anchors(X509_STORE* s, const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  if (!b) return;
  while (X509* x = PEM_read_bio_X509(b, nullptr, nullptr, nullptr)) {
    X509_STORE_add_cert(s, x);  // takes its own reference; a duplicate is harmless
    X509_free(x);
  }
  BIO_free(b);
}

std::shared_ptr<X509_STORE> build_store(const CodeSignTrust& t) {
  X509_STORE* s = X509_STORE_new();
  if (t.use_system_bundle && !t.system_bundle.empty())
    X509_STORE_load_file(s, t.system_bundle.c_str());  // a missing bundle leaves no anchors
  for (const auto& f : t.anchor_files) X509_STORE_load_file(s, f.c_str());
  for (const auto& pem : t.anchor_pems) add_pem_anchors(s, pem);
  ERR_clear_error();
  return std::shared_ptr<X509_STORE>(s, X509_STORE_free);
}

// REQUIRES: g_mu held.
void install(const CodeSignTrust* trust, std::shared_ptr<X509_STORE> store, bool from_policy) {
  delete g_trust;
  g_trust = trust ? new CodeSignTrust(*trust) : nullptr;
  g_store = std::move(store);
  g_from_policy = from_policy;
  g_generation.fetch_add(1);
}

std::string name_line(X509_NAME* n) {
  if (!n) return {};
  BIO* b = BIO_new(BIO_s_mem());
  X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* p = nullptr;
  long len = BIO_get_mem_data(b, &p);
  std::string s(p, static_cast<size_t>(len > 0 ? len : 0));
  BIO_free(b);
  return s;
}

}  // namespace

CodeSignTrust codesign_trust_from_env() {
  CodeSignTrust t;
  if (const char* no = std::getenv("SANDGATE_CODESIGN_NO_SYSTEM"); no && std::strcmp(no, "1") == 0)
    t.use_system_bundle = false;
  if (const char* a = std::getenv("SANDGATE_CODESIGN_ANCHORS")) {
    std::string s(a);
    size_t start = 0;
    while (start <= s.size()) {
      size_t colon = s.find(':', start);
      if (colon == std::string::npos) colon = s.size();
      if (colon > start) t.anchor_files.push_back(s.substr(start, colon - start));
      start = colon + 1;
    }
  }
  return t;
}

void set_codesign_trust(const CodeSignTrust& trust) {
  auto store = build_store(trust);
  std::lock_guard lock(g_mu);
  install(&trust, std::move(store), false);
}

void apply_policy_codesign_trust(const CodeSignTrust* trust) {
  {
    std::lock_guard lock(g_mu);
    if (trust ? (g_from_policy && g_trust && *g_trust == *trust) : !g_from_policy) return;
  }
  // Built outside the lock (reading the system bundle takes milliseconds); a
  // concurrent scan on the same policy may build it too, harmlessly.
  std::shared_ptr<X509_STORE> store = trust ? build_store(*trust) : nullptr;
  std::lock_guard lock(g_mu);
  if (trust) {
    if (g_from_policy && g_trust && *g_trust == *trust) return;
    install(trust, std::move(store), true);
  } else if (g_from_policy) {
    install(nullptr, nullptr, false);  // rebuilt from the environment on next use
  }
}

std::shared_ptr<X509_STORE> codesign_store() {
  std::lock_guard lock(g_mu);
  if (!g_store) g_store = build_store(g_trust ? *g_trust : codesign_trust_from_env());
  return g_store;
}

uint64_t codesign_trust_generation() { return g_generation.load(); }


bool asn1_time_to_time_t(const ASN1_TIME* t, time_t* out) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return false;
  *out = timegm(&tm);
  return true;
}

std::string asn1_time_iso(const ASN1_TIME* t) {
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return {};
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

CertDescription describe_cert(X509* cert) {
  CertDescription d;
  if (!cert) return d;
  d.subject = name_line(X509_get_subject_name(cert));
  d.issuer = name_line(X509_get_issuer_name(cert));
  char cn[256] = {};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
    d.common_name = cn;
  if (BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* h = BN_bn2hex(bn)) {
      d.serial = h;
      for (auto& c : d.serial) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      OPENSSL_free(h);
    }
    BN_free(bn);
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (X509_digest(cert, EVP_sha1(), md, &n)) d.sha1 = hex_lower(md, n);
  if (X509_digest(cert, EVP_sha256(), md, &n)) d.sha256 = hex_lower(md, n);
  d.not_before = asn1_time_iso(X509_get0_notBefore(cert));
  d.not_after = asn1_time_iso(X509_get0_notAfter(cert));
  return d;
}

namespace {

// ---- chain results ----
//
// Every file a publisher signs carries the same certificates, and each
// timestamped one the same timestamp authority's: their chains are checked
// again and again (~45 us each on the build machine). Time is the only input
// of the check that differs between those files, and a chain's signatures and
// its anchor do not depend on it: a chain found trusted is a trusted chain at
// any time at which each of its certificates is within its validity period.
// So a trusted result is kept with that window, [latest notBefore, earliest
// notAfter) over the chain OpenSSL built, keyed by the SHA-256 of the DER of
// the certificate and of each certificate in the untrusted pool, for one trust
// generation; a check of the same certificates at a time inside the window is
// answered from it. Untrusted and expired answers are not kept (they are
// recomputed, with their reason). Bounded: emptied when full.

constexpr size_t kChainCacheEntries = 4096;

struct TrustedWindow {
  time_t from = 0;   // the chain's latest notBefore
  time_t until = 0;  // its earliest notAfter (exclusive: OpenSSL's expiry test)
};

class ChainCache {
 public:
  bool trusted_at(const std::string& key, uint64_t generation, time_t at) {
    std::lock_guard lock(mu_);
    sync(generation);
    auto it = map_.find(key);
    if (it == map_.end() || at < it->second.from || at >= it->second.until) {
      ++misses_;
      return false;
    }
    ++hits_;
    return true;
  }

  void put(const std::string& key, uint64_t generation, TrustedWindow w) {
    std::lock_guard lock(mu_);
    if (generation != codesign_trust_generation()) return;  // computed with an older store
    sync(generation);
    if (map_.size() >= kChainCacheEntries) map_.clear();
    map_[key] = w;
  }

  ChainCacheStats stats() {
    std::lock_guard lock(mu_);
    return {hits_, misses_, map_.size()};
  }

  void clear() {
    std::lock_guard lock(mu_);
    map_.clear();
    hits_ = misses_ = 0;
  }

 private:
  // REQUIRES: mu_ held. A new trust store empties the cache.
  void sync(uint64_t generation) {
    if (generation == generation_) return;
    map_.clear();
    generation_ = generation;
  }

  std::mutex mu_;
  std::unordered_map<std::string, TrustedWindow> map_;
  uint64_t generation_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

ChainCache& chain_cache() {
  static ChainCache* cache = new ChainCache;  // never destroyed: used at exit
  return *cache;
}

// The SHA-256 of each certificate's DER, cert first, then the pool in order.
// False when a certificate cannot be encoded (the check is then not cached).
bool chain_key(X509* cert, STACK_OF(X509) * untrusted, std::string* key) {
  auto add = [key](X509* x) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!x || X509_digest(x, EVP_sha256(), md, &n) != 1) return false;
    key->append(reinterpret_cast<const char*>(md), n);
    return true;
  };
  if (!add(cert)) return false;
  for (int i = 0; untrusted && i < sk_X509_num(untrusted); ++i)
    if (!add(sk_X509_value(untrusted, i))) return false;
  return true;
}

// The validity window shared by every certificate of a built chain; false
// when a time is unreadable or the window is empty.
bool chain_window(STACK_OF(X509) * chain, TrustedWindow* w) {
  int n = chain ? sk_X509_num(chain) : 0;
  if (n < 1) return false;
  for (int i = 0; i < n; ++i) {
    X509* x = sk_X509_value(chain, i);
    time_t nb = 0, na = 0;
    if (!asn1_time_to_time_t(X509_get0_notBefore(x), &nb) ||
        !asn1_time_to_time_t(X509_get0_notAfter(x), &na))
      return false;
    if (i == 0 || nb > w->from) w->from = nb;
    if (i == 0 || na < w->until) w->until = na;
  }
  return w->from < w->until;
}

}  // namespace

ChainCacheStats chain_cache_stats() { return chain_cache().stats(); }
void chain_cache_clear() { chain_cache().clear(); }

ChainResult verify_chain(X509* cert, STACK_OF(X509) * untrusted, time_t at, std::string* error) {
  // The generation first: a store installed after this read can only make the
  // result land under an older generation, never an older store under a newer one.
  const uint64_t generation = codesign_trust_generation();
  const time_t when = at ? at : std::time(nullptr);
  std::string key;
  if (!chain_key(cert, untrusted, &key)) key.clear();
  ERR_clear_error();
  if (!key.empty() && chain_cache().trusted_at(key, generation, when)) return ChainResult::trusted;

  auto store = codesign_store();
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  ChainResult r = ChainResult::untrusted;
  if (ctx && X509_STORE_CTX_init(ctx, store.get(), cert, untrusted) == 1) {
    X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_purpose(p, X509_PURPOSE_ANY);
    // Anchors named by an administrator may be intermediates or the signer itself.
    X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_PARTIAL_CHAIN);
    if (at) X509_STORE_CTX_set_time(ctx, 0, at);
    if (X509_verify_cert(ctx) == 1) {
      r = ChainResult::trusted;
      TrustedWindow w;
      if (!key.empty() && chain_window(X509_STORE_CTX_get0_chain(ctx), &w) && when >= w.from &&
          when < w.until)
        chain_cache().put(key, generation, w);
    } else {
      int e = X509_STORE_CTX_get_error(ctx);
      if (error) *error = X509_verify_cert_error_string(e);
      if (e == X509_V_ERR_CERT_HAS_EXPIRED || e == X509_V_ERR_CERT_NOT_YET_VALID)
        r = ChainResult::expired;
    }
  } else if (error) {
    *error = "cannot set up chain verification";
  }
  X509_STORE_CTX_free(ctx);
  ERR_clear_error();
  return r;
}

bool signed_data_digests_supported(const PKCS7* p7) {
  if (!p7 || !PKCS7_type_is_signed(p7) || !p7->d.sign) return false;
  const STACK_OF(X509_ALGOR)* algs = p7->d.sign->md_algs;
  int n = algs ? sk_X509_ALGOR_num(algs) : 0;
  if (n < 1) return false;
  for (int i = 0; i < n; ++i) {
    const X509_ALGOR* a = sk_X509_ALGOR_value(algs, i);
    int nid = a && a->algorithm ? OBJ_obj2nid(a->algorithm) : NID_undef;
    if (nid != NID_sha1 && nid != NID_sha256 && nid != NID_sha384 && nid != NID_sha512) return false;
  }
  return true;
}

}  // namespace sandgate
