// Little-endian loads, stores and the bounds-checked reader.
#include "common/base/little_endian.h"

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace latentsearch::base {
namespace {

TEST(LittleEndianTest, LoadsLeastSignificantByteFirst) {
  const unsigned char b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
  EXPECT_EQ(LoadLittleEndian<uint16_t>(b), 0x0201u);
  EXPECT_EQ(LoadLittleEndian<uint32_t>(b), 0x04030201u);
  EXPECT_EQ(LoadLittleEndian<uint64_t>(b), 0x0807060504030201ull);
  EXPECT_EQ(LoadLittleEndian<uint32_t>(b + 1), 0x05040302u);  // unaligned
  EXPECT_EQ(LoadLittleEndian<int32_t>("\xff\xff\xff\xff"), -1);
}

TEST(LittleEndianTest, AppendRoundTrips) {
  std::string out;
  AppendLittleEndian<uint32_t>(0xAABBCCDDu, &out);
  AppendLittleEndian<double>(0.5, &out);
  AppendLittleEndian<uint8_t>(7, &out);
  ASSERT_EQ(out.size(), 13u);
  EXPECT_EQ(out.substr(0, 4), std::string("\xDD\xCC\xBB\xAA", 4));
  EXPECT_EQ(LoadLittleEndian<double>(out.data() + 4), 0.5);
  EXPECT_EQ(LoadLittleEndian<uint8_t>(out.data() + 12), 7);
}

TEST(LittleEndianTest, ReaderStopsAtTheEndWithoutConsuming) {
  std::string bytes;
  AppendLittleEndian<uint32_t>(42, &bytes);
  AppendLittleEndian<uint16_t>(9, &bytes);
  LittleEndianReader r(bytes);
  uint32_t a = 0;
  uint64_t too_big = 0;
  uint16_t b = 0;
  ASSERT_TRUE(r.Read(&a));
  EXPECT_EQ(a, 42u);
  EXPECT_FALSE(r.Read(&too_big));  // 8 bytes wanted, 2 left
  EXPECT_EQ(r.pos(), 4u);
  ASSERT_TRUE(r.Read(&b));
  EXPECT_EQ(b, 9u);
  EXPECT_EQ(r.remaining(), 0u);
  absl::string_view rest;
  EXPECT_TRUE(r.ReadBytes(0, &rest));
  EXPECT_FALSE(r.Skip(1));
}

}  // namespace
}  // namespace latentsearch::base
