// Bearer-token authentication for the HTTP API. Tokens are configured as
// SHA-256 hashes; the presented token is hashed and compared against every
// configured hash in constant time (CRYPTO_memcmp, no early exit), so neither
// the tokens nor their hashes leak through timing.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "gateway/config.h"

namespace sandgate {

struct AuthOutcome {
  enum class Status { ok, unauthorized, forbidden };
  Status status = Status::unauthorized;
  std::string token_id;  // "" for loopback-without-token, else the matching token's id
  std::string message;   // why not, for the error body
};

class Authenticator {
 public:
  Authenticator(std::vector<ApiToken> tokens, bool allow_loopback_without_token)
      : rules_(std::make_shared<const Rules>(Rules{std::move(tokens), allow_loopback_without_token})) {}

  // Swaps in a new token set (SIGHUP re-reads the configuration file): a
  // request checked before the swap used the old set, one after it the new.
  void replace(std::vector<ApiToken> tokens, bool allow_loopback_without_token);
  size_t token_count() const { return current()->tokens.size(); }

  // `authorization` is the Authorization header value ("" when absent).
  // A presented token is always checked, also from loopback: a wrong token is
  // 401, never silently ignored. Thread-safe.
  AuthOutcome check(const std::string& authorization, bool client_is_loopback,
                    const std::string& profile) const;
  // Same for the administration API: a valid token with admin: true, always
  // (loopback without a token is never an administrator); others get 403.
  AuthOutcome check_admin(const std::string& authorization) const;

 private:
  struct Rules {
    std::vector<ApiToken> tokens;
    bool allow_loopback = false;
  };
  std::shared_ptr<const Rules> current() const {
    std::lock_guard lock(mu_);
    return rules_;
  }
  mutable std::mutex mu_;
  std::shared_ptr<const Rules> rules_;
};

}  // namespace sandgate
