// CRC-32 against published check values.
#include "common/base/crc32.h"

#include <string>

#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

TEST(Crc32Test, KnownVectors) {
  EXPECT_EQ(Crc32(""), 0u);
  // The CRC-32/ISO-HDLC check value.
  EXPECT_EQ(Crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(Crc32("The quick brown fox jumps over the lazy dog"), 0x414FA339u);
  EXPECT_EQ(Crc32(std::string(32, '\0')), 0x190A55ADu);
}

TEST(Crc32Test, ExtendEqualsWhole) {
  const std::string a = "The quick brown fox ", b = "jumps over the lazy dog";
  EXPECT_EQ(Crc32Extend(Crc32(a), b.data(), b.size()), Crc32(a + b));
  EXPECT_EQ(Crc32Extend(0, a.data(), a.size()), Crc32(a));
}

}  // namespace
}  // namespace latentsearch::base
