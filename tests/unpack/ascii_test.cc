#include <doctest/doctest.h>

#include <string>

#include "unpack/ascii.h"

using namespace sandgate;

TEST_CASE("ASCII folding: only A-Z fold, other bytes compare as themselves") {
  CHECK(ascii_lower(std::string_view("WordDocument \x01Ole10Native")) == "worddocument \x01ole10native");
  CHECK(ascii_iequals("Content-Type", "content-TYPE"));
  CHECK_FALSE(ascii_iequals("Content-Type", "Content-Typ"));
  // '@' and '[' sit just outside A-Z: they must not fold onto '`' and '{'.
  CHECK_FALSE(ascii_iequals("[", "{"));
  CHECK_FALSE(ascii_iequals("@", "`"));
  // UTF-8 bytes (here "É" and "é") are not letters to ASCII folding.
  CHECK_FALSE(ascii_iequals("\xc3\x89", "\xc3\xa9"));
  // Embedded NULs are compared, not taken as the end (strncasecmp would stop).
  CHECK_FALSE(ascii_iequals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
  CHECK(ascii_istarts_with("from:<a@b>", "FROM:"));
  CHECK_FALSE(ascii_istarts_with("FRO", "FROM:"));
  CHECK(ascii_iends_with("Invoice.PDF.EXE", ".exe"));
  CHECK_FALSE(ascii_iends_with("exe", ".exe"));
}
