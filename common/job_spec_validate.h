// The rules a JobSpec must satisfy before ftd accepts it, whether it came from ftctl's YAML or from any gRPC
// client: ranges, required fields and cross-field rules, with messages that name the YAML key.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {

// OK, or absl::InvalidArgumentError naming the FIRST broken rule in proto field order as `key.path: reason`
// (`lora_r: must be > 0, got -1`, `datasets[1].path: required`,
// `lora_r: only applies to method lora or qlora, got method full`), the same key paths the YAML loader uses.
//
// Works on a spec with or without ApplyJobSpecDefaults applied: range rules apply to present fields only and
// an UNSPECIFIED method counts as lora; required fields are required either way. Beyond the ranges written in
// the proto comments it also rejects non-finite doubles (NaN, +-inf) everywhere and enum numbers with no name
// (proto3 enums are open, so a client can send any number).
absl::Status ValidateJobSpec(const ftd::v1::JobSpec& spec);

// The benchmark rules of ValidateJobSpec for one benchmark outside a spec (RunEvaluation's), its errors naming
// `key_path` ("benchmarks[0]") as the spec's would.
absl::Status ValidateBenchmark(const ftd::v1::Benchmark& benchmark, const std::string& key_path);

}  // namespace ftd
