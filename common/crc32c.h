// CRC32C (Castagnoli, the iSCSI polynomial of RFC 3720): the per-chunk checksum of checkpoints (DESIGN.md,
// Storage). Uses the SSE4.2 crc32 instruction when the CPU has it (chosen once at run time) and a portable
// slicing-by-8 table otherwise; both give the same value.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace ftd {

// The CRC32C of `data`, extending `crc`, the CRC32C of the bytes before it (0 for none): so
// Crc32c(b, Crc32c(a)) == Crc32c(a + b). Thread-safe.
uint32_t Crc32c(absl::string_view data, uint32_t crc = 0);

namespace crc32c_internal {

// The two implementations behind Crc32c, exposed so the test can hold them against each other.
uint32_t Crc32cPortable(absl::string_view data, uint32_t crc);
// True when the CPU has SSE4.2 (x86-64 only); Crc32cHardware must not be called otherwise.
bool Crc32cHardwareAvailable();
uint32_t Crc32cHardware(absl::string_view data, uint32_t crc);

}  // namespace crc32c_internal
}  // namespace ftd
