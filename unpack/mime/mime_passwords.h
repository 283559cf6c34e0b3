// Password candidates for encrypted attachments, taken from the words of a
// message: senders of encrypted zip/7z/rar files put the password in the
// subject or the text ("Invoice (password: Secret123)", "The password is
// "Secret123""). Finds, on each line that names a password ("password",
// "pass", "pwd", "passwort", "kennwort", "mot de passe", "пароль",
// "contraseña", "senha", ... in any case), the token after the keyword and
// its connector (":", "=", "is", "ist", "est", ...), and every quoted
// string on that line; a keyword ending its line takes the next line's
// first token.
//
// Guarantees: reads at most kMaxPasswordText bytes of text, returns at most
// max_candidates distinct candidates of 1..kMaxPasswordBytes bytes, in the
// order found. Total on any input.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sandgate {

inline constexpr size_t kMaxPasswordText = 256 * 1024;
inline constexpr size_t kMaxPasswordBytes = 64;
inline constexpr size_t kMaxPasswordCandidates = 20;

// text: UTF-8 (invalid bytes are tolerated). html: strip tags and decode the
// common character references first.
std::vector<std::string> find_password_candidates(std::string_view text, bool html = false,
                                                  size_t max_candidates = kMaxPasswordCandidates);

}  // namespace sandgate
