// ftctl's `adapter` commands, flag-free: create a fresh PEFT LoRA adapter for a model, merge one into its base.
#pragma once

#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "model/peft_adapter.h"

namespace ftd {

// Writes a freshly initialised adapter (A uniform, B zero, as PEFT) for the model in `base_dir` to `out_dir`.
absl::Status AdapterInit(const std::string& base_dir, LoraConfig config, uint64_t seed, const std::string& out_dir,
                         std::ostream& out);

// Merges the adapter in `adapter_dir` into the model in `base_dir`, writing a full model to `out_dir`
// (MergeLoraAdapter). FAILED_PRECONDITION, before anything is written, when `base_dir` is a bitsandbytes 4-bit
// directory: merge into the unquantised model instead.
absl::Status AdapterMerge(const std::string& base_dir, const std::string& adapter_dir, const std::string& out_dir,
                          std::ostream& out);

}  // namespace ftd
