// Bearer-token checks (see auth.h). RFC 6750 2.1: "Bearer" is
// case-insensitive, followed by one space and the token.
#include "gateway/http/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>

namespace sandgate {

namespace {

// The configured token matching `authorization`, or null with out->message set.
const ApiToken* match_token(const std::vector<ApiToken>& tokens, const std::string& authorization,
                            AuthOutcome* out) {
  if (authorization.size() < 8 || strncasecmp(authorization.c_str(), "Bearer ", 7) != 0) {
    out->message = "the Authorization header must be 'Bearer TOKEN'";
    return nullptr;
  }
  std::string token = authorization.substr(7);
  while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) token.pop_back();
  unsigned char md[32];
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), md, &len, EVP_sha256(), nullptr);
  const ApiToken* match = nullptr;
  for (const auto& t : tokens) {  // every hash compared: no early exit on a match
    if (CRYPTO_memcmp(md, t.sha256.data(), 32) == 0) match = &t;
  }
  if (!match) out->message = "the bearer token is not valid";
  return match;
}

}  // namespace

void Authenticator::replace(std::vector<ApiToken> tokens, bool allow_loopback_without_token) {
  auto next = std::make_shared<const Rules>(Rules{std::move(tokens), allow_loopback_without_token});
  std::lock_guard lock(mu_);
  rules_ = std::move(next);
}

AuthOutcome Authenticator::check(const std::string& authorization, bool client_is_loopback,
                                 const std::string& profile) const {
  AuthOutcome out;
  const auto rules = current();
  if (authorization.empty()) {
    if (rules->allow_loopback && client_is_loopback) {
      out.status = AuthOutcome::Status::ok;
      return out;
    }
    out.message = "a bearer token is required";
    return out;
  }
  const ApiToken* match = match_token(rules->tokens, authorization, &out);
  if (!match) return out;
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

AuthOutcome Authenticator::check_admin(const std::string& authorization) const {
  AuthOutcome out;
  if (authorization.empty()) {
    out.message = "an administrator's bearer token is required";
    return out;
  }
  const auto rules = current();
  const ApiToken* match = match_token(rules->tokens, authorization, &out);
  if (!match) return out;
  out.token_id = match->id;
  if (!match->admin) {
    out.status = AuthOutcome::Status::forbidden;
    out.message = "this token may not administer the quarantine";
    return out;
  }
  out.status = AuthOutcome::Status::ok;
  return out;
}

}  // namespace sandgate
