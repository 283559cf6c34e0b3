#include <doctest/doctest.h>

#include "unpack/cursor.h"

using namespace sandgate;

TEST_CASE("cursor reads little and big endian values in bounds") {
  const unsigned char data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  ByteCursor c(data, sizeof data);
  CHECK(c.u16le() == 0x0201);
  CHECK(c.u16be() == 0x0304);
  CHECK(c.u32le() == 0x08070605u);
  CHECK(c.remaining() == 0);
  CHECK_FALSE(c.failed());
}

TEST_CASE("reading past the end fails without touching memory") {
  const unsigned char data[] = {0xff, 0xff, 0xff};
  ByteCursor c(data, sizeof data);
  CHECK(c.u32le() == 0);
  CHECK(c.failed());
  CHECK(c.remaining() == 0);
  ByteCursor d(data, sizeof data);
  CHECK(d.bytes(4).empty());
  CHECK(d.failed());
  ByteCursor e(data, sizeof data);
  CHECK_FALSE(e.skip(4));
  ByteCursor f(data, sizeof data);
  CHECK(f.seek(3));
  CHECK_FALSE(f.failed());
  CHECK_FALSE(f.seek(4));
  CHECK(f.failed());
}

TEST_CASE("starts_with peeks without moving") {
  ByteCursor c(std::string_view("MZ\x90"));
  CHECK(c.starts_with("MZ"));
  CHECK(c.offset() == 0);
  CHECK_FALSE(c.starts_with(std::string_view("MZ\x90\x00", 4)));
}
