// Tests of model/dtype: names and sizes, and the fp16/bf16 conversions on known bit patterns (ties to even,
// overflow, subnormals, NaN), exhaustive round trips, and fp16 against the compiler's own _Float16 casts.
#include "model/dtype.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "gtest/gtest.h"

namespace ftd {
namespace {

float FromBits(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof(f));
  return f;
}

uint32_t ToBits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
}

TEST(DTypeTest, NamesSizesAndKinds) {
  const struct {
    DType dtype;
    const char* name;
    size_t size;
    bool floating;
  } kAll[] = {{DType::kF64, "F64", 8, true},   {DType::kF32, "F32", 4, true},  {DType::kF16, "F16", 2, true},
              {DType::kBF16, "BF16", 2, true}, {DType::kI64, "I64", 8, false}, {DType::kI32, "I32", 4, false},
              {DType::kI16, "I16", 2, false},  {DType::kI8, "I8", 1, false},   {DType::kU8, "U8", 1, false},
              {DType::kBool, "BOOL", 1, false}};
  for (const auto& c : kAll) {
    EXPECT_EQ(DTypeName(c.dtype), c.name);
    EXPECT_EQ(DTypeSize(c.dtype), c.size) << c.name;
    EXPECT_EQ(IsFloating(c.dtype), c.floating) << c.name;
    absl::StatusOr<DType> parsed = ParseDType(c.name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, c.dtype);
  }
  for (const char* bad : {"F8_E4M3", "f32", "U16", "", "F32 "}) {
    absl::StatusOr<DType> parsed = ParseDType(bad);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(parsed.status().message(), std::string("unsupported dtype \"") + bad + "\"");
  }
}

TEST(DTypeTest, Bf16RoundsToNearestEven) {
  EXPECT_EQ(F32ToBf16(1.0f), 0x3F80);
  EXPECT_EQ(F32ToBf16(-2.0f), 0xC000);
  EXPECT_EQ(F32ToBf16(0.0f), 0x0000);
  EXPECT_EQ(F32ToBf16(-0.0f), 0x8000);
  // 1 + 2^-8 is halfway between 0x3F80 and 0x3F81: ties go to the even mantissa.
  EXPECT_EQ(F32ToBf16(1.00390625f), 0x3F80);
  EXPECT_EQ(F32ToBf16(FromBits(0x3F808001)), 0x3F81);               // Just above the tie.
  EXPECT_EQ(F32ToBf16(FromBits(0x3F807FFF)), 0x3F80);               // Just below.
  EXPECT_EQ(F32ToBf16(1.01171875f), 0x3F82);                        // 1 + 3 * 2^-8: tie between 0x3F81 and 0x3F82.
  EXPECT_EQ(F32ToBf16(std::numeric_limits<float>::max()), 0x7F80);  // Rounds up to inf, as torch.
  EXPECT_EQ(F32ToBf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  EXPECT_EQ(F32ToBf16(FromBits(0x00018000)), 0x0002);  // Subnormal tie: 0x0001 is odd, goes up.
  EXPECT_EQ(F32ToBf16(FromBits(0x00008000)), 0x0000);  // Subnormal tie to even 0.
  EXPECT_EQ(Bf16ToF32(0x3F80), 1.0f);
  EXPECT_EQ(Bf16ToF32(0x0001), std::ldexp(1.0f, -133));
  EXPECT_EQ(Bf16ToF32(0xFF80), -std::numeric_limits<float>::infinity());
}

TEST(DTypeTest, Bf16NanStaysQuietNan) {
  // torch's scalar cast gives 0x7FC0 and its vectorised CPU path 0xFFFF: we only promise a quiet NaN.
  for (uint32_t bits : {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FFFFFFFu, 0xFF800001u}) {
    const uint16_t b = F32ToBf16(FromBits(bits));
    EXPECT_TRUE(std::isnan(Bf16ToF32(b))) << std::hex << bits;
    EXPECT_EQ(b & 0x0040, 0x0040) << std::hex << bits;  // Quiet bit set: a signalling NaN must not become inf.
  }
  EXPECT_TRUE(std::isnan(Bf16ToF32(0x7FC1)));
}

TEST(DTypeTest, F16RoundsOverflowsAndHandlesSubnormals) {
  EXPECT_EQ(F32ToF16(1.0f), 0x3C00);
  EXPECT_EQ(F32ToF16(-2.0f), 0xC000);
  EXPECT_EQ(F32ToF16(-0.0f), 0x8000);
  EXPECT_EQ(F32ToF16(65504.0f), 0x7BFF);  // Largest half.
  EXPECT_EQ(F32ToF16(65519.0f), 0x7BFF);  // Below the midpoint to the next (missing) step.
  EXPECT_EQ(F32ToF16(65520.0f), 0x7C00);  // Tie: the even neighbour is inf.
  EXPECT_EQ(F32ToF16(1e6f), 0x7C00);
  EXPECT_EQ(F32ToF16(-1e6f), 0xFC00);
  EXPECT_EQ(F32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // Tie to even.
  EXPECT_EQ(F32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // Tie to even, upwards.
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -24)), 0x0001);             // Smallest subnormal.
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25)), 0x0000);             // Tie between 0 and 1: even is 0.
  EXPECT_EQ(F32ToF16(std::ldexp(1.5f, -24)), 0x0002);             // Tie between 1 and 2.
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -25) * 1.0001f), 0x0001);   // Above the tie.
  EXPECT_EQ(F32ToF16(-std::ldexp(1023.0f, -24)), 0x83FF);         // Largest subnormal.
  EXPECT_EQ(F32ToF16(std::ldexp(1023.5f, -24)), 0x0400);          // Rounds up into the normals.
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -14)), 0x0400);             // Smallest normal.
  EXPECT_EQ(F32ToF16(std::ldexp(1.0f, -30)), 0x0000);             // Underflow.
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::infinity()), 0x7C00);
  EXPECT_EQ(F32ToF16(std::numeric_limits<float>::quiet_NaN()), 0x7E00);
  EXPECT_EQ(F32ToF16(FromBits(0xFF800001)), 0xFE00);  // Sign kept, quiet, as torch's fp16_ieee_from_fp32.
  EXPECT_EQ(F16ToF32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToF32(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(F16ToF32(0xFBFF), -65504.0f);
  EXPECT_EQ(F16ToF32(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(F16ToF32(0x7E00)));
  EXPECT_TRUE(std::isnan(F16ToF32(0x7C01)));
}

// Every non-NaN half and bfloat16 survives the trip through fp32 unchanged (fp32 holds them all exactly).
TEST(DTypeTest, ExhaustiveRoundTripsThroughF32) {
  for (uint32_t h = 0; h <= 0xFFFF; ++h) {
    const uint16_t bits = static_cast<uint16_t>(h);
    const float f16 = F16ToF32(bits);
    if (!std::isnan(f16)) {
      ASSERT_EQ(F32ToF16(f16), bits) << std::hex << h;
    }
    const float bf16 = Bf16ToF32(bits);
    if (!std::isnan(bf16)) {
      ASSERT_EQ(F32ToBf16(bf16), bits) << std::hex << h;
      ASSERT_EQ(ToBits(bf16), static_cast<uint32_t>(bits) << 16);
    }
  }
}

#if defined(__FLT16_MAX__)
// The compiler's float -> _Float16 cast is IEEE round-to-nearest-even: an independent oracle.
TEST(DTypeTest, F16MatchesCompilerFloat16OnRandomAndBoundaryInputs) {
  std::mt19937 rng(42);
  auto check = [](uint32_t bits) {
    const float f = FromBits(bits);
    if (std::isnan(f)) return;
    const _Float16 h = static_cast<_Float16>(f);
    uint16_t want;
    std::memcpy(&want, &h, sizeof(want));
    ASSERT_EQ(F32ToF16(f), want) << std::hex << bits;
    ASSERT_EQ(ToBits(F16ToF32(want)), ToBits(static_cast<float>(h))) << std::hex << want;
  };
  for (int i = 0; i < 1000000; ++i) check(static_cast<uint32_t>(rng()));
  // Every float whose low 13 bits sit at or around the rounding point, across the half range.
  for (uint32_t exponent = 100; exponent <= 145; ++exponent) {
    for (uint32_t mantissa_high = 0; mantissa_high < 1024; mantissa_high += 7) {
      for (uint32_t low : {0x0FFFu, 0x1000u, 0x1001u, 0x0000u, 0x1FFFu}) {
        const uint32_t bits = (exponent << 23) | (mantissa_high << 13) | low;
        check(bits);
        check(bits | 0x80000000u);
      }
    }
  }
}
#endif

}  // namespace
}  // namespace ftd
