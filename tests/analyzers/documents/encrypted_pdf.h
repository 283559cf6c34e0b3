// Test helper: a PDF encrypted by qpdf. In a C++17 file of its own, like
// unpack/pdf's qpdf code: qpdf 11.3's headers do not compile with clang in
// C++20 mode (tests/analyzers/documents/meson.build).
#pragma once

#include <string>

namespace sandgate::testing {

// `pdf` written by qpdf with AES-256 (R6) encryption, `user` as the user
// password ("" opens without one) and a fixed owner password.
std::string encrypted_pdf(const std::string& pdf, const char* user);

}  // namespace sandgate::testing
