// libFuzzer target for the safetensors parser: any byte string must give a Status, never a crash, and every
// tensor of an accepted image must lie inside it (each byte is read, so ASan flags a bad offset).
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/types/span.h"
#include "model/safetensors.h"

namespace {

// Aborts (a crash libFuzzer records) when an accepted header breaks the parser's promises.
void Require(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "safetensors_fuzz: accepted header violates: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::StatusOr<ftd::SafetensorsHeader> header = ftd::ParseSafetensors(absl::MakeConstSpan(data, size));
  if (!header.ok()) {
    Require(!header.status().message().empty(), "an error has a message");
    return 0;
  }
  Require(header->data_start >= 8 && header->data_start <= size, "data_start inside the image");
  uint64_t covered = 0;
  uint64_t checksum = 0;
  for (const auto& [name, entry] : header->tensors) {
    Require(entry.begin <= entry.end, "begin <= end");
    Require(entry.end <= size - header->data_start, "tensor inside the data buffer");
    Require(
        static_cast<uint64_t>(ftd::NumElements(entry.shape)) * ftd::DTypeSize(entry.dtype) == entry.end - entry.begin,
        "shape x dtype size == byte count");
    const uint8_t* bytes = data + header->data_start;
    for (uint64_t i = entry.begin; i < entry.end; ++i) checksum = checksum * 131 + bytes[i];
    covered += entry.end - entry.begin;
  }
  Require(covered == size - header->data_start, "tensors tile the data buffer exactly");
  volatile uint64_t sink = checksum;  // Keeps the reads from being optimised away.
  (void)sink;
  return 0;
}
