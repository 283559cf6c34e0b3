// Authenticode verification (see authenticode.h). Structure names follow the
// Authenticode PE specification: WIN_CERTIFICATE, SpcIndirectDataContent,
// DigestInfo; timestamps follow RFC 3161 (Microsoft attribute
// 1.3.6.1.4.1.311.3.3.1) or PKCS#9 countersignature (1.2.840.113549.1.9.6).
#include "analyzers/pe/authenticode.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <list>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <vector>

#include <pthread.h>

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>

#include "analyzers/pe/signed_data.h"
#include "unpack/cursor.h"

namespace sandgate {
namespace {

constexpr const char* kSpcIndirectDataOid = "1.3.6.1.4.1.311.2.1.4";
constexpr const char* kRfc3161TimestampOid = "1.3.6.1.4.1.311.3.3.1";
constexpr uint16_t kWinCertTypePkcsSignedData = 0x0002;

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const { F(p); }
};
using Pkcs7Ptr = std::unique_ptr<PKCS7, Deleter<PKCS7, PKCS7_free>>;
using X509SigPtr = std::unique_ptr<X509_SIG, Deleter<X509_SIG, X509_SIG_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using SignerInfoPtr =
    std::unique_ptr<PKCS7_SIGNER_INFO, Deleter<PKCS7_SIGNER_INFO, PKCS7_SIGNER_INFO_free>>;
using TstInfoPtr = std::unique_ptr<TS_TST_INFO, Deleter<TS_TST_INFO, TS_TST_INFO_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;

struct ObjFree {
  void operator()(ASN1_OBJECT* o) const { ASN1_OBJECT_free(o); }
};
using ObjPtr = std::unique_ptr<ASN1_OBJECT, ObjFree>;

ObjPtr oid(const char* text) { return ObjPtr(OBJ_txt2obj(text, 1)); }

// Reads a DER tag and definite length; the cursor is left on the content.
bool der_header(ByteCursor& c, uint8_t* tag, size_t* len) {
  *tag = c.u8();
  uint8_t first = c.u8();
  if (c.failed()) return false;
  if (first < 0x80) {
    *len = first;
  } else {
    int n = first & 0x7f;
    if (n == 0 || n > 4) return false;
    size_t v = 0;
    for (int i = 0; i < n; ++i) v = (v << 8) | c.u8();
    *len = v;
  }
  return !c.failed() && c.has(*len);
}

const EVP_MD* md_for_nid(int nid) {
  switch (nid) {
    case NID_sha1: return EVP_sha1();
    case NID_sha256: return EVP_sha256();
    case NID_sha384: return EVP_sha384();
    case NID_sha512: return EVP_sha512();
    default: return nullptr;
  }
}

bool digest_bytes(const EVP_MD* md, const unsigned char* p, size_t n, std::string* out) {
  unsigned char buf[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(p, n, buf, &len, md, nullptr) != 1) return false;
  out->assign(reinterpret_cast<char*>(buf), len);
  return true;
}

// The signing time and its verification, from whichever timestamp is present.
struct Timestamp {
  std::string kind;
  time_t when = 0;
  std::string iso;
  bool verified = false;
};

// RFC 3161 token: a SignedData over TSTInfo whose messageImprint is the hash
// of the Authenticode signer's encryptedDigest.
void read_rfc3161(PKCS7_SIGNER_INFO* si, ASN1_TYPE* attr, Timestamp* ts) {
  if (!attr || attr->type != V_ASN1_SEQUENCE) return;
  if (attr->value.sequence->length < 0) return;
  Pkcs7Ptr token(decode_signed_data(attr->value.sequence->data, size_t(attr->value.sequence->length)));
  if (!token || !PKCS7_type_is_signed(token.get())) return;
  TstInfoPtr tst(PKCS7_to_TS_TST_INFO(token.get()));
  if (!tst) return;
  ts->kind = "rfc3161";
  const ASN1_GENERALIZEDTIME* gt = TS_TST_INFO_get_time(tst.get());
  if (!asn1_time_to_time_t(gt, &ts->when)) return;
  ts->iso = asn1_time_iso(gt);
  TS_MSG_IMPRINT* imprint = TS_TST_INFO_get_msg_imprint(tst.get());
  X509_ALGOR* alg = TS_MSG_IMPRINT_get_algo(imprint);
  const EVP_MD* md = md_for_nid(OBJ_obj2nid(alg->algorithm));
  ASN1_OCTET_STRING* want = TS_MSG_IMPRINT_get_msg(imprint);
  std::string got;
  if (!md || !digest_bytes(md, si->enc_digest->data, size_t(si->enc_digest->length), &got) ||
      got.size() != size_t(want->length) || got.compare(0, got.size(),
                                                        reinterpret_cast<char*>(want->data),
                                                        got.size()) != 0)
    return;
  // The token's own signature over TSTInfo; then its signer's chain at genTime.
  auto store = codesign_store();
  if (PKCS7_verify(token.get(), nullptr, store.get(), nullptr, nullptr, PKCS7_NOVERIFY) != 1) return;
  STACK_OF(X509)* signers = PKCS7_get0_signers(token.get(), nullptr, 0);
  if (!signers || sk_X509_num(signers) < 1) {
    sk_X509_free(signers);
    return;
  }
  X509* tsa = sk_X509_value(signers, 0);
  sk_X509_free(signers);
  std::string err;
  ts->verified = verify_chain(tsa, token->d.sign->cert, ts->when, &err) == ChainResult::trusted;
}

// Legacy countersignature: a SignerInfo whose messageDigest attribute is the
// hash of the signer's encryptedDigest, signed by a certificate of the outer
// SignedData, with the time in its signingTime attribute.
void read_countersignature(PKCS7* p7, PKCS7_SIGNER_INFO* si, ASN1_TYPE* attr, Timestamp* ts) {
  if (!attr || attr->type != V_ASN1_SEQUENCE) return;
  const unsigned char* p = attr->value.sequence->data;
  SignerInfoPtr csi(d2i_PKCS7_SIGNER_INFO(nullptr, &p, attr->value.sequence->length));
  if (!csi) return;
  ASN1_TYPE* st = PKCS7_get_signed_attribute(csi.get(), NID_pkcs9_signingTime);
  if (!st || (st->type != V_ASN1_UTCTIME && st->type != V_ASN1_GENERALIZEDTIME)) return;
  ts->kind = "countersignature";
  const ASN1_TIME* t = st->value.utctime;
  if (!asn1_time_to_time_t(t, &ts->when)) return;
  ts->iso = asn1_time_iso(t);
  const EVP_MD* md = md_for_nid(OBJ_obj2nid(csi->digest_alg->algorithm));
  ASN1_TYPE* mdattr = PKCS7_get_signed_attribute(csi.get(), NID_pkcs9_messageDigest);
  std::string got;
  if (!md || !mdattr || mdattr->type != V_ASN1_OCTET_STRING ||
      !digest_bytes(md, si->enc_digest->data, size_t(si->enc_digest->length), &got) ||
      got.size() != size_t(mdattr->value.octet_string->length) ||
      got.compare(0, got.size(), reinterpret_cast<char*>(mdattr->value.octet_string->data),
                  got.size()) != 0)
    return;
  X509* tsa = X509_find_by_issuer_and_serial(p7->d.sign->cert, csi->issuer_and_serial->issuer,
                                             csi->issuer_and_serial->serial);
  if (!tsa) return;
  unsigned char* der = nullptr;
  int der_len = ASN1_item_i2d(reinterpret_cast<ASN1_VALUE*>(csi->auth_attr), &der,
                              ASN1_ITEM_rptr(PKCS7_ATTR_VERIFY));
  if (der_len <= 0) return;
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool sig_ok = ctx &&
                EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, X509_get0_pubkey(tsa)) == 1 &&
                EVP_DigestVerify(ctx.get(), csi->enc_digest->data, size_t(csi->enc_digest->length),
                                 der, size_t(der_len)) == 1;
  OPENSSL_free(der);
  if (!sig_ok) return;
  std::string err;
  ts->verified = verify_chain(tsa, p7->d.sign->cert, ts->when, &err) == ChainResult::trusted;
}

AuthenticodeResult fail(AuthenticodeStatus s, std::string detail) {
  AuthenticodeResult r;
  r.status = s;
  r.detail = std::move(detail);
  ERR_clear_error();
  return r;
}

}  // namespace

const char* authenticode_status_name(AuthenticodeStatus s) {
  switch (s) {
    case AuthenticodeStatus::unsigned_: return "unsigned";
    case AuthenticodeStatus::valid: return "valid";
    case AuthenticodeStatus::tampered: return "tampered";
    case AuthenticodeStatus::untrusted: return "untrusted";
    case AuthenticodeStatus::expired: return "expired";
    case AuthenticodeStatus::malformed: return "malformed";
  }
  return "?";
}

bool authenticode_digest(const ByteSource& src, const PeInfo& pe, uint64_t end, const EVP_MD* md,
                         std::string* out_hex) {
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return false;
  PeDigestInput in = authenticode_digest_input(pe, end);
  in.sink = [&](const unsigned char* p, size_t n) { EVP_DigestUpdate(ctx.get(), p, n); };
  PeInfo scratch;  // no sections: the pass reads the digest ranges only
  PeParseOptions opt;
  opt.entropy = false;
  if (!pe_read_pass(src, scratch, opt, &in)) return false;
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_DigestFinal_ex(ctx.get(), out, &n) != 1) return false;
  *out_hex = hex_lower(out, n);
  return true;
}

PeDigestInput authenticode_digest_input(const PeInfo& pe, uint64_t end) {
  PeDigestInput in;
  in.end = end;
  in.checksum_offset = pe.checksum_offset;
  in.security_dir_offset = pe.security_dir_offset;
  return in;
}

namespace {

// ---- the signature, parsed and verified apart from the file ----

// The PKCS#7 SignedData of a certificate table, read far enough to know the
// signed digest and the signer.
struct ParsedSignature {
  bool ok = false;
  AuthenticodeResult r;  // malformed + detail when !ok; else algorithm, digest, signer
  Pkcs7Ptr p7;
  PKCS7_SIGNER_INFO* si = nullptr;  // owned by p7
  X509* signer = nullptr;           // owned by p7
  const EVP_MD* md = nullptr;
  ASN1_STRING* seq = nullptr;  // SpcIndirectDataContent, owned by p7
  size_t signed_from = 0, signed_len = 0;
};

// What verifying the SignedData concluded, given that the file's digest
// matches the signed one: signature, timestamp and chain.
struct VerifiedSignature {
  AuthenticodeStatus status = AuthenticodeStatus::malformed;
  std::string detail;
  std::string signing_time;
  std::string timestamp_kind;
  bool timestamp_verified = false;
  std::string chain_error;
};

ParsedSignature parse_signature(const unsigned char* der, size_t der_len) {
  using S = AuthenticodeStatus;
  ParsedSignature ps;
  auto bad = [&ps](std::string detail) -> ParsedSignature& {
    ps.r = fail(S::malformed, std::move(detail));
    ps.ok = false;
    return ps;
  };
  // Certificates come from the process-wide cache (signed_data.h): OpenSSL
  // 3.0 takes ~0.13 ms to decode each one.
  Pkcs7Ptr p7(decode_signed_data(der, der_len));
  if (!p7 || !PKCS7_type_is_signed(p7.get()) || !p7->d.sign || !p7->d.sign->contents)
    return std::move(bad("the certificate table holds no PKCS#7 SignedData"));
  PKCS7* content = p7->d.sign->contents;
  ObjPtr spc = oid(kSpcIndirectDataOid);
  if (!content->type || OBJ_cmp(content->type, spc.get()) != 0 || !content->d.other ||
      content->d.other->type != V_ASN1_SEQUENCE)
    return std::move(bad("SignedData does not hold SpcIndirectDataContent"));

  // SpcIndirectDataContent ::= SEQUENCE { data SpcAttributeTypeAndOptionalValue,
  //                                       messageDigest DigestInfo }
  ASN1_STRING* seq = content->d.other->value.sequence;
  ByteCursor sc(seq->data, size_t(seq->length));
  uint8_t tag = 0;
  size_t len = 0;
  if (!der_header(sc, &tag, &len) || tag != 0x30)
    return std::move(bad("SpcIndirectDataContent is not a SEQUENCE"));
  // The signature covers the SEQUENCE's content octets, without tag and length.
  size_t signed_from = sc.offset(), signed_len = len;
  size_t data_start = sc.offset();
  if (!der_header(sc, &tag, &len) || tag != 0x30 || !sc.skip(len))
    return std::move(bad("SpcAttributeTypeAndOptionalValue is unreadable"));
  size_t di_start = sc.offset();
  if (di_start - data_start > signed_len)
    return std::move(bad("SpcIndirectDataContent is truncated"));
  const unsigned char* dip = seq->data + di_start;
  X509SigPtr di(d2i_X509_SIG(nullptr, &dip, long(signed_from + signed_len - di_start)));
  if (!di) return std::move(bad("DigestInfo is unreadable"));
  const X509_ALGOR* alg = nullptr;
  const ASN1_OCTET_STRING* signed_digest = nullptr;
  X509_SIG_get0(di.get(), &alg, &signed_digest);
  int nid = OBJ_obj2nid(alg->algorithm);
  const EVP_MD* md = md_for_nid(nid);
  if (!md) return std::move(bad(std::string("unsupported digest algorithm ") + OBJ_nid2sn(nid)));

  AuthenticodeResult& r = ps.r;
  r.digest_algorithm = OBJ_nid2sn(nid);
  for (auto& ch : r.digest_algorithm) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  r.signed_digest = hex_lower(signed_digest->data, size_t(signed_digest->length));

  // Signer (Authenticode allows exactly one SignerInfo).
  STACK_OF(PKCS7_SIGNER_INFO)* sis = PKCS7_get_signer_info(p7.get());
  if (!sis || sk_PKCS7_SIGNER_INFO_num(sis) != 1)
    return std::move(bad("SignedData must hold exactly one SignerInfo"));
  if (!signed_data_digests_supported(p7.get()))
    return std::move(bad("SignedData names a digest algorithm other than SHA-1/SHA-2"));
  PKCS7_SIGNER_INFO* si = sk_PKCS7_SIGNER_INFO_value(sis, 0);
  STACK_OF(X509)* signers = PKCS7_get0_signers(p7.get(), nullptr, 0);
  X509* signer = signers && sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : nullptr;
  sk_X509_free(signers);
  ERR_clear_error();
  if (!signer) return std::move(bad("the signer's certificate is not in the SignedData"));
  r.has_signer = true;
  r.signer = describe_cert(signer);

  ps.ok = true;
  ps.p7 = std::move(p7);
  ps.si = si;
  ps.signer = signer;
  ps.md = md;
  ps.seq = seq;
  ps.signed_from = signed_from;
  ps.signed_len = signed_len;
  return ps;
}

// REQUIRES: ps.ok, and the file's digest equals the signed digest.
VerifiedSignature verify_signature(const ParsedSignature& ps) {
  using S = AuthenticodeStatus;
  VerifiedSignature v;
  PKCS7* p7 = ps.p7.get();
  // The signature over the SpcIndirectDataContent (through the messageDigest
  // attribute); the chain is checked separately so its error can be told apart.
  auto store = codesign_store();
  BioPtr indata(BIO_new_mem_buf(ps.seq->data + ps.signed_from, int(ps.signed_len)));
  if (PKCS7_verify(p7, nullptr, store.get(), indata.get(), nullptr, PKCS7_NOVERIFY) != 1) {
    ERR_clear_error();
    v.status = S::tampered;
    v.detail = "the signature does not match the signed content";
    return v;
  }

  Timestamp ts;
  ObjPtr rfc3161 = oid(kRfc3161TimestampOid);
  // The Microsoft OID has no OpenSSL NID, so the attribute is found by object.
  if (int i = X509at_get_attr_by_OBJ(ps.si->unauth_attr, rfc3161.get(), -1); i >= 0)
    read_rfc3161(ps.si, X509_ATTRIBUTE_get0_type(X509at_get_attr(ps.si->unauth_attr, i), 0), &ts);
  if (!ts.verified)
    if (ASN1_TYPE* a = PKCS7_get_attribute(ps.si, NID_pkcs9_countersignature)) {
      Timestamp legacy;
      read_countersignature(p7, ps.si, a, &legacy);
      if (legacy.verified || ts.kind.empty()) ts = legacy;
    }
  ERR_clear_error();
  v.timestamp_kind = ts.kind;
  v.signing_time = ts.iso;
  v.timestamp_verified = ts.verified;

  ChainResult chain =
      verify_chain(ps.signer, p7->d.sign->cert, ts.verified ? ts.when : 0, &v.chain_error);
  switch (chain) {
    case ChainResult::trusted:
      v.status = S::valid;
      v.detail = "signature and chain verified";
      break;
    case ChainResult::expired:
      v.status = S::expired;
      v.detail = ts.verified ? "the signer's certificate was not valid at the timestamp"
                             : "the signer's certificate is outside its validity period and no "
                               "verified timestamp shows it was signed within it";
      break;
    case ChainResult::untrusted:
      v.status = S::untrusted;
      v.detail = "the signer's chain does not reach a trusted anchor: " + v.chain_error;
      break;
  }
  return v;
}

// ---- the cache of parsed and verified signatures ----
//
// Keyed by the SHA-256 of the PKCS#7 blob. Sound because nothing cached
// depends on the rest of the file: the blob fixes the signed digest, the
// signer, the signature over SpcIndirectDataContent and the timestamps; the
// file's own digest is still computed and compared on every call. What else
// the verdict depends on is the trust store (an entry is valid for one
// codesign_trust_generation()) and, for a chain checked without a
// timestamp, the current time (an entry lives kSignatureCacheTtl).
// Bounded LRU; one mutex (held for a lookup or an insert, never while
// verifying).

constexpr size_t kSignatureCacheEntries = 1024;
constexpr std::chrono::seconds kSignatureCacheTtl{600};

struct CacheEntry {
  bool ok = false;        // the blob parses (else parsed is the malformed verdict)
  AuthenticodeResult parsed;  // parse_signature(...).r
  const EVP_MD* md = nullptr;
  std::optional<VerifiedSignature> verified;  // once a matching file was verified
};

class SignatureCache {
 public:
  std::shared_ptr<const CacheEntry> find(const std::string& key, uint64_t generation) {
    std::lock_guard lock(mu_);
    sync(generation);
    auto it = index_.find(key);
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    if (Clock::now() - it->second->created > kSignatureCacheTtl) {
      lru_.erase(it->second);
      index_.erase(it);
      ++misses_;
      return nullptr;
    }
    lru_.splice(lru_.begin(), lru_, it->second);  // most recently used first
    ++hits_;
    return it->second->entry;
  }

  // Stores entry under key, unless the trust changed since `generation` was
  // read (the entry may then describe the old store).
  void put(const std::string& key, uint64_t generation, std::shared_ptr<const CacheEntry> entry,
           bool keep_age) {
    std::lock_guard lock(mu_);
    if (generation != codesign_trust_generation()) return;
    sync(generation);
    Clock::time_point created = Clock::now();
    if (auto it = index_.find(key); it != index_.end()) {
      if (keep_age) created = it->second->created;  // adding the verification keeps the TTL
      lru_.erase(it->second);
      index_.erase(it);
    }
    lru_.push_front({key, std::move(entry), created});
    index_[key] = lru_.begin();
    while (lru_.size() > kSignatureCacheEntries) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
  }

  AuthenticodeCacheStats stats() {
    std::lock_guard lock(mu_);
    return {hits_, misses_, lru_.size()};
  }

  void clear() {
    std::lock_guard lock(mu_);
    lru_.clear();
    index_.clear();
    hits_ = misses_ = 0;
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct Node {
    std::string key;
    std::shared_ptr<const CacheEntry> entry;
    Clock::time_point created;
  };
  // REQUIRES: mu_ held. A new trust store empties the cache.
  void sync(uint64_t generation) {
    if (generation == generation_) return;
    lru_.clear();
    index_.clear();
    generation_ = generation;
  }

  std::mutex mu_;
  std::list<Node> lru_;
  std::unordered_map<std::string, std::list<Node>::iterator> index_;
  uint64_t generation_ = 0;
  uint64_t hits_ = 0, misses_ = 0;
};

SignatureCache& signature_cache() {
  static SignatureCache* cache = new SignatureCache;  // never destroyed: used at exit
  return *cache;
}

}  // namespace

AuthenticodeCacheStats authenticode_cache_stats() { return signature_cache().stats(); }
void authenticode_cache_clear() { signature_cache().clear(); }

// Files whose digest covers at least this many bytes have their signature
// verified on a second thread while the caller hashes them (see
// authenticode.h). Below it, hashing is quicker than starting a thread.
std::atomic<uint64_t> parallel_verify_from{256u << 10};
std::atomic<uint64_t> parallel_verifications{0};

// The verification state between reading the signature and the verdict.
struct AuthenticodeVerifier::State {
  AuthenticodeResult r;
  bool final = false;  // r is the verdict already (unsigned, malformed)
  const EVP_MD* md = nullptr;
  uint64_t table_offset = 0;
  std::string der;        // the PKCS#7 blob
  std::string cache_key;  // SHA-256 of der
  uint64_t generation = 0;
  std::shared_ptr<const CacheEntry> entry;  // from or for the cache
  ParsedSignature parsed;                   // when parsed in this call
  bool trailing_data = false;               // bytes follow the certificate table
  // The signature's verification running on the second thread, which owns
  // `parsed` until its result is taken; ~AuthenticodeVerifier waits for it.
  std::future<std::optional<VerifiedSignature>> pending;
};

namespace {

// Parses the signature if this call has not (a cache entry from a file that
// did not match) and verifies it; nullopt when it does not parse.
std::optional<VerifiedSignature> parse_and_verify(ParsedSignature& parsed, const std::string& der) {
  if (!parsed.ok)
    parsed = parse_signature(reinterpret_cast<const unsigned char*>(der.data()), der.size());
  if (!parsed.ok) return std::nullopt;
  return verify_signature(parsed);
}

// The digest algorithm of SpcIndirectDataContent's DigestInfo, found by
// walking the DER (ContentInfo, SignedData, its contentInfo, DigestInfo)
// without decoding it, so that hashing can start while the full parse runs
// on a second thread. nullptr for anything else: the caller then parses
// first. finish() checks that the full parse names the same algorithm.
const EVP_MD* peek_digest_md(const unsigned char* der, size_t len) {
  ByteCursor c(der, len);
  uint8_t tag = 0;
  size_t n = 0;
  auto enter = [&](uint8_t want) {
    if (!der_header(c, &tag, &n) || tag != want) return false;
    std::string_view body = c.bytes(n);
    c = ByteCursor(body.data(), body.size());
    return true;
  };
  auto skip = [&](uint8_t want) { return der_header(c, &tag, &n) && tag == want && c.skip(n); };
  if (!(enter(0x30) && skip(0x06) && enter(0xa0) &&                // ContentInfo
        enter(0x30) && skip(0x02) && skip(0x31) &&                  // SignedData
        enter(0x30) && skip(0x06) && enter(0xa0) &&                 // its contentInfo
        enter(0x30) && skip(0x30) && enter(0x30) && enter(0x30) &&  // SpcIndirectDataContent
        der_header(c, &tag, &n) && tag == 0x06))                    // DigestInfo's algorithm
    return nullptr;
  std::string_view oid = c.bytes(n);
  static const std::pair<std::string_view, const EVP_MD* (*)()> kKnown[] = {
      {std::string_view("\x2b\x0e\x03\x02\x1a", 5), EVP_sha1},
      {std::string_view("\x60\x86\x48\x01\x65\x03\x04\x02\x01", 9), EVP_sha256},
      {std::string_view("\x60\x86\x48\x01\x65\x03\x04\x02\x02", 9), EVP_sha384},
      {std::string_view("\x60\x86\x48\x01\x65\x03\x04\x02\x03", 9), EVP_sha512},
  };
  for (const auto& [bytes, md] : kKnown)
    if (oid == bytes) return md();
  return nullptr;
}

// Keeps a parse made in this call in `slot` and caches what it concluded
// under key (when there is one).
std::shared_ptr<const CacheEntry> adopt_parse(ParsedSignature& slot, ParsedSignature parsed,
                                              const std::string& key, uint64_t generation) {
  slot = std::move(parsed);
  auto fresh = std::make_shared<CacheEntry>();
  fresh->ok = slot.ok;
  fresh->parsed = slot.r;
  fresh->md = slot.md;
  if (!key.empty()) signature_cache().put(key, generation, fresh, false);
  return fresh;
}

// A long-lived second thread for verifications (starting a thread per file
// cost ~45 us, a twentieth of the whole analysis). It runs one job and keeps
// at most one waiting: with several scans in one process, one that finds a
// job waiting does its own verification, as it would without the helper.
// Never destroyed (a process may end with it waiting); a forked child starts
// its own when it needs one.
class VerifyThread {
 public:
  // The process's helper; nullptr on a single core or when no thread can be
  // started.
  static VerifyThread* get() {
    static const bool several = std::thread::hardware_concurrency() > 1;
    if (!several) return nullptr;
    // Held across fork, so that a child never inherits it locked; the child
    // forgets the parent's helper (whose thread it does not have).
    static std::once_flag atfork_once;
    std::call_once(atfork_once, [] {
      ::pthread_atfork([] { create_mu_.lock(); }, [] { create_mu_.unlock(); },
                       [] {
                         current_.store(nullptr);
                         create_mu_.unlock();
                       });
    });
    VerifyThread* t = current_.load();
    if (t) return t;
    std::lock_guard lock(create_mu_);
    if ((t = current_.load())) return t;
    auto fresh = std::make_unique<VerifyThread>();
    try {
      std::thread(&VerifyThread::loop, fresh.get()).detach();
    } catch (const std::system_error&) {
      return nullptr;
    }
    current_.store(t = fresh.release());
    return t;
  }

  // Runs job on the helper, after the one it is running if any; false when
  // another job is already waiting.
  bool try_post(std::function<void()> job) {
    std::lock_guard lock(mu_);
    if (job_) return false;
    job_ = std::move(job);
    cv_.notify_one();
    return true;
  }

 private:
  void loop() {
    for (;;) {
      std::function<void()> job;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [this] { return bool(job_); });
        job = std::move(job_);
        job_ = nullptr;
      }
      job();
    }
  }

  static inline std::atomic<VerifyThread*> current_{nullptr};
  static inline std::mutex create_mu_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::function<void()> job_;  // the job waiting to run, if any
};

}  // namespace

void set_authenticode_parallel_from(uint64_t bytes) { parallel_verify_from.store(bytes); }
uint64_t authenticode_parallel_verifications() { return parallel_verifications.load(); }

AuthenticodeVerifier::~AuthenticodeVerifier() {
  if (st_->pending.valid()) st_->pending.wait();  // the second thread uses *st_
}

const EVP_MD* AuthenticodeVerifier::digest_md() const { return st_->final ? nullptr : st_->md; }

PeDigestInput AuthenticodeVerifier::digest_input(const PeInfo& pe) const {
  return authenticode_digest_input(pe, st_->table_offset);
}

AuthenticodeResult verify_authenticode(const ByteSource& src, const PeInfo& pe) {
  AuthenticodeVerifier v(src, pe);
  const EVP_MD* md = v.digest_md();
  if (!md) return v.finish({});
  std::string hex;
  if (!authenticode_digest(src, pe, v.digest_input(pe).end, md, &hex)) return v.finish({});
  return v.finish(hex);
}

AuthenticodeVerifier::AuthenticodeVerifier(const ByteSource& src, const PeInfo& pe)
    : st_(std::make_unique<State>()) {
  st_->r = read(src, pe);
}

AuthenticodeResult AuthenticodeVerifier::read(const ByteSource& src, const PeInfo& pe) {
  using S = AuthenticodeStatus;
  auto fail = [this](S s, std::string detail) {
    st_->final = true;
    return ::sandgate::fail(s, std::move(detail));
  };
  const PeDataDirectory* dir = pe.directory(kPeDirSecurity);
  if (!pe.is_pe || !dir || (dir->rva == 0 && dir->size == 0)) return fail(S::unsigned_, "no certificate table");
  // PE Format 5.7: the table is at a file offset, after the image, 8-byte aligned.
  uint64_t off = dir->rva, size = dir->size;
  if (off == 0 || size < 8 || off + size > pe.file_size)
    return fail(S::malformed, "certificate table (offset " + std::to_string(off) + ", size " +
                                  std::to_string(size) + ") does not fit in the file");
  if (off < pe.end_of_image_data || off <= pe.security_dir_offset)
    return fail(S::malformed, "certificate table overlaps the image");
  if (size > kMaxAuthenticodeBlob) return fail(S::malformed, "certificate table is too large");
  unsigned char head[8];
  if (src.read_at(off, head, sizeof head) != sizeof head)
    return fail(S::malformed, "certificate table cannot be read");
  ByteCursor wc(head, sizeof head);
  uint32_t length = wc.u32le();
  uint16_t revision = wc.u16le();
  uint16_t type = wc.u16le();
  if (length < 8 || length > size)
    return fail(S::malformed, "WIN_CERTIFICATE length " + std::to_string(length) + " is out of range");
  if (type != kWinCertTypePkcsSignedData || (revision != 0x0200 && revision != 0x0100))
    return fail(S::malformed, "WIN_CERTIFICATE is not PKCS#7 SignedData");
  // Only the WIN_CERTIFICATE's own bytes: the table's padding is not signed data.
  st_->der = src.read_string(off + 8, size_t(length - 8));
  if (st_->der.size() != size_t(length - 8))
    return fail(S::malformed, "certificate table cannot be read");
  st_->table_offset = off;

  std::string key;
  if (!digest_bytes(EVP_sha256(), reinterpret_cast<const unsigned char*>(st_->der.data()),
                    st_->der.size(), &key))
    key.clear();
  st_->cache_key = key;
  st_->generation = codesign_trust_generation();
  st_->trailing_data = off + size < pe.file_size;
  std::shared_ptr<const CacheEntry> entry;
  if (!key.empty()) entry = signature_cache().find(key, st_->generation);
  const auto* der = reinterpret_cast<const unsigned char*>(st_->der.data());
  // Neither parsing nor verifying depends on the file's digest, only the
  // verdict does: on a large file both run on a second thread while the
  // caller hashes, which needs only the digest algorithm (peeked from the
  // DER). A thread that cannot be started leaves the work to this thread.
  // Work for the helper: a first sight, or a signature that parsed but was
  // never verified (a blob known to be malformed needs nothing more).
  const bool work = !entry || (entry->ok && !entry->verified);
  VerifyThread* helper =
      work && off >= parallel_verify_from.load() ? VerifyThread::get() : nullptr;
  const EVP_MD* peeked = helper && !entry ? peek_digest_md(der, st_->der.size()) : nullptr;
  if (helper && (entry || peeked)) {
    auto task = std::make_shared<std::packaged_task<std::optional<VerifiedSignature>()>>(
        [s = st_.get()] { return parse_and_verify(s->parsed, s->der); });
    std::future<std::optional<VerifiedSignature>> result = task->get_future();
    if (helper->try_post([task] { (*task)(); })) {
      st_->pending = std::move(result);
      parallel_verifications.fetch_add(1);
    }
  }
  if (!entry && st_->pending.valid()) {
    st_->md = peeked;  // the entry is made in finish(), from the second thread's parse
    return {};
  }
  if (!entry) entry = adopt_parse(st_->parsed, parse_signature(der, st_->der.size()), key, st_->generation);
  st_->entry = entry;
  if (!entry->ok) {
    st_->final = true;
    return entry->parsed;
  }
  st_->md = entry->md;
  AuthenticodeResult r = entry->parsed;
  r.trailing_data = st_->trailing_data;
  return r;
}

AuthenticodeResult AuthenticodeVerifier::finish(std::optional<std::string> file_digest_hex) {
  using S = AuthenticodeStatus;
  if (st_->final) return st_->r;
  std::optional<VerifiedSignature> verified;
  if (st_->pending.valid()) {
    verified = st_->pending.get();  // joins the second thread: st_->parsed is ours again
    if (!st_->entry) {
      // Parsed on the second thread: the cache entry and the facts come from
      // that parse, which must name the algorithm the file was hashed with.
      ParsedSignature parsed = std::move(st_->parsed);
      if (parsed.ok && parsed.md != st_->md)
        parsed.r = fail(S::malformed, "the digest algorithm cannot be read consistently");
      parsed.ok = parsed.ok && parsed.md == st_->md;
      st_->entry = adopt_parse(st_->parsed, std::move(parsed), st_->cache_key, st_->generation);
      st_->r = st_->entry->parsed;
      if (!st_->entry->ok) return st_->r;
      st_->r.trailing_data = st_->trailing_data;
    }
  }
  AuthenticodeResult r = st_->r;
  if (!file_digest_hex) {
    r.status = S::malformed;
    r.detail = "the file cannot be read for the digest";
    return r;
  }
  r.file_digest = *file_digest_hex;
  if (r.file_digest != r.signed_digest) {
    r.status = S::tampered;
    r.detail = "the file's " + r.digest_algorithm + " digest does not match the signed digest";
    return r;
  }

  VerifiedSignature v;
  if (st_->entry && st_->entry->verified) {
    v = *st_->entry->verified;
  } else {
    std::optional<VerifiedSignature> got =
        verified ? std::move(verified) : parse_and_verify(st_->parsed, st_->der);
    if (!got) return st_->parsed.r;  // cannot happen: the same bytes parsed before
    v = std::move(*got);
    if (!st_->cache_key.empty() && st_->entry) {
      auto with = std::make_shared<CacheEntry>(*st_->entry);
      with->verified = v;
      signature_cache().put(st_->cache_key, st_->generation, std::move(with), true);
    }
  }
  r.status = v.status;
  r.detail = v.detail;
  r.timestamp_kind = v.timestamp_kind;
  r.signing_time = v.signing_time;
  r.timestamp_verified = v.timestamp_verified;
  r.chain_error = v.chain_error;
  return r;
}

}  // namespace sandgate
