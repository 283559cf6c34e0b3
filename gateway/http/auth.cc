// Bearer-token checks (see auth.h). RFC 6750 2.1: "Bearer" is
// case-insensitive, followed by one space and the token.
#include "gateway/http/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>

namespace sandgate {

AuthOutcome Authenticator::check(const std::string& authorization, bool client_is_loopback,
                                 const std::string& profile) const {
  AuthOutcome out;
  if (authorization.empty()) {
    if (allow_loopback_ && client_is_loopback) {
      out.status = AuthOutcome::Status::ok;
      return out;
    }
    out.message = "a bearer token is required";
    return out;
  }
  if (authorization.size() < 8 || strncasecmp(authorization.c_str(), "Bearer ", 7) != 0) {
    out.message = "the Authorization header must be 'Bearer TOKEN'";
    return out;
  }
  std::string token = authorization.substr(7);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  const ApiToken* match = nullptr;
  for (const auto& t : tokens_) {  // every hash compared: no early exit on a match
    if (CRYPTO_memcmp(md, t.sha256.data(), 32) == 0) match = &t;
  }
  if (!match) {
    out.message = "the bearer token is not valid";
    return out;
  }
  out.token_id = match->id;
  bool allowed = std::any_of(match->profiles.begin(), match->profiles.end(),
                             [&](const std::string& p) { return p == "*" || p == profile; });
  if (!allowed) {
    out.status = AuthOutcome::Status::forbidden;
    out.message = "this token may not use profile '" + profile + "'";
    return out;
  }
  out.status = AuthOutcome::Status::ok;
  return out;
}

}  // namespace sandgate
