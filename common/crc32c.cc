// CRC32C: a hardware path (SSE4.2 crc32, compiled for that target alone, so the rest of the build keeps the baseline
// ISA) and a portable slicing-by-8 path, picked once per process by what the CPU supports.
#include "common/crc32c.h"

#include <array>
#include <bit>
#include <cstddef>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace ftd {
namespace crc32c_internal {
namespace {

// The Castagnoli polynomial 0x1EDC6F41, bit-reversed (the CRC is computed LSB first).
constexpr uint32_t kPolynomial = 0x82F63B78u;

using Tables = std::array<std::array<uint32_t, 256>, 8>;

// tables[0] advances the CRC by one byte; tables[k] by a byte followed by k zero bytes, so eight lookups
// advance it by eight bytes at once.
constexpr Tables MakeTables() {
  Tables tables{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1u) != 0 ? kPolynomial : 0u);
    tables[0][i] = crc;
  }
  for (size_t k = 1; k < 8; ++k) {
    for (size_t i = 0; i < 256; ++i) {
      const uint32_t previous = tables[k - 1][i];
      tables[k][i] = (previous >> 8) ^ tables[0][previous & 0xFFu];
    }
  }
  return tables;
}

constexpr Tables kTables = MakeTables();

uint32_t LoadLittleEndian32(const unsigned char* p) {
  uint32_t value;
  std::memcpy(&value, p, sizeof(value));
  return value;  // Only called on little-endian hosts (see Crc32cPortable).
}

}  // namespace

uint32_t Crc32cPortable(absl::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t state = ~crc;
  if constexpr (std::endian::native == std::endian::little) {
    while (n >= 8) {
      const uint32_t low = state ^ LoadLittleEndian32(p);
      const uint32_t high = LoadLittleEndian32(p + 4);
      state = kTables[7][low & 0xFFu] ^ kTables[6][(low >> 8) & 0xFFu] ^ kTables[5][(low >> 16) & 0xFFu] ^
              kTables[4][low >> 24] ^ kTables[3][high & 0xFFu] ^ kTables[2][(high >> 8) & 0xFFu] ^
              kTables[1][(high >> 16) & 0xFFu] ^ kTables[0][high >> 24];
      p += 8;
      n -= 8;
    }
  }
  for (; n > 0; --n, ++p) state = (state >> 8) ^ kTables[0][(state ^ *p) & 0xFFu];
  return ~state;
}

#if defined(__x86_64__)

bool Crc32cHardwareAvailable() {
  __builtin_cpu_init();  // Needed when called before the runtime's own constructors ran (static initialisers).
  return __builtin_cpu_supports("sse4.2");
}

// A single dependency chain of crc32q: about 8 bytes per 3 cycles, far above what the disks and the network
// deliver checkpoint bytes at, so the three-way interleaved variant is not worth its combine step here.
__attribute__((target("sse4.2"))) uint32_t Crc32cHardware(absl::string_view data, uint32_t crc) {
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint64_t state = ~crc;
  // Byte steps up to 8-byte alignment, so the wide loads below never straddle a cache line.
  while (n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0) {
    state = _mm_crc32_u8(static_cast<uint32_t>(state), *p);
    ++p;
    --n;
  }
  while (n >= 8) {
    uint64_t word;
    std::memcpy(&word, p, sizeof(word));
    state = _mm_crc32_u64(state, word);
    p += 8;
    n -= 8;
  }
  for (; n > 0; --n, ++p) state = _mm_crc32_u8(static_cast<uint32_t>(state), *p);
  return ~static_cast<uint32_t>(state);
}

#else  // Not x86-64: no hardware path (yet); the portable one stands in so callers need no #if.

bool Crc32cHardwareAvailable() { return false; }
uint32_t Crc32cHardware(absl::string_view data, uint32_t crc) { return Crc32cPortable(data, crc); }

#endif

}  // namespace crc32c_internal

uint32_t Crc32c(absl::string_view data, uint32_t crc) {
  using Implementation = uint32_t (*)(absl::string_view, uint32_t);
  static const Implementation implementation = crc32c_internal::Crc32cHardwareAvailable()
                                                   ? &crc32c_internal::Crc32cHardware
                                                   : &crc32c_internal::Crc32cPortable;
  return implementation(data, crc);
}

}  // namespace ftd
