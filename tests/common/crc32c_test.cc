// CRC32C: the RFC 3720 (B.4) vectors, the extend contract, and the hardware path against the portable table on
// random lengths and alignments.
#include "common/crc32c.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ftd {
namespace {

using crc32c_internal::Crc32cHardware;
using crc32c_internal::Crc32cHardwareAvailable;
using crc32c_internal::Crc32cPortable;

struct Vector {
  const char* label;
  std::string bytes;
  uint32_t crc;
};

std::vector<Vector> Rfc3720Vectors() {
  std::string ascending(32, '\0');
  for (int i = 0; i < 32; ++i) ascending[i] = static_cast<char>(i);
  std::string descending(32, '\0');
  for (int i = 0; i < 32; ++i) descending[i] = static_cast<char>(31 - i);
  return {
      {"32 zero bytes", std::string(32, '\0'), 0x8A9136AAu},
      {"32 bytes 0xFF", std::string(32, '\xFF'), 0x62A8AB43u},
      {"0..31", ascending, 0x46DD794Eu},
      {"31..0", descending, 0x113FDB5Cu},
      {"123456789", "123456789", 0xE3069283u},
      {"empty", "", 0u},
  };
}

TEST(Crc32cTest, Rfc3720Vectors) {
  for (const Vector& v : Rfc3720Vectors()) {
    EXPECT_EQ(Crc32c(v.bytes), v.crc) << v.label;
    EXPECT_EQ(Crc32cPortable(v.bytes, 0), v.crc) << v.label;
  }
}

TEST(Crc32cTest, HardwareMatchesVectors) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU: only the portable path runs here";
  for (const Vector& v : Rfc3720Vectors()) EXPECT_EQ(Crc32cHardware(v.bytes, 0), v.crc) << v.label;
}

TEST(Crc32cTest, ExtendsAcrossSplits) {
  const std::string text = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox jumps again.";
  const uint32_t whole = Crc32c(text);
  for (size_t split = 0; split <= text.size(); ++split) {
    const absl::string_view view(text);
    EXPECT_EQ(Crc32c(view.substr(split), Crc32c(view.substr(0, split))), whole) << "split at " << split;
    EXPECT_EQ(Crc32cPortable(view.substr(split), Crc32cPortable(view.substr(0, split), 0)), whole) << split;
  }
}

TEST(Crc32cTest, DetectsASingleFlippedBit) {
  std::string bytes(4096, 'x');
  const uint32_t clean = Crc32c(bytes);
  bytes[1234] ^= 0x10;
  EXPECT_NE(Crc32c(bytes), clean);
}

TEST(Crc32cTest, HardwareEqualsPortableOnRandomLengthsAndAlignments) {
  if (!Crc32cHardwareAvailable()) GTEST_SKIP() << "no SSE4.2 on this CPU: nothing to compare the table with";
  std::mt19937_64 random(20240607);
  std::string buffer(1 << 16, '\0');
  for (char& c : buffer) c = static_cast<char>(random());
  std::uniform_int_distribution<size_t> offset_of(0, 15);
  std::uniform_int_distribution<size_t> length_of(0, 4000);
  for (int trial = 0; trial < 2000; ++trial) {
    const size_t offset = offset_of(random);
    // Mostly short lengths (head/tail byte loops), sometimes long ones (the 8-byte loop).
    const size_t length = trial % 10 == 0 ? length_of(random) * 16 : length_of(random) % 64;
    const absl::string_view piece(buffer.data() + offset, length);
    const auto seed = static_cast<uint32_t>(random());
    ASSERT_EQ(Crc32cHardware(piece, seed), Crc32cPortable(piece, seed))
        << "offset " << offset << " length " << length << " seed " << seed;
  }
}

}  // namespace
}  // namespace ftd
