// Fills the absent fields of a JobSpec with the defaults documented in proto/ftd/v1/job_spec.proto, so every
// consumer (coordinator, worker, ftctl display) reads one fully specified spec.
#pragma once

#include "ftd/v1/job_spec.pb.h"

namespace ftd {

// Sets every absent field of `*spec` (non-null) to its documented default and leaves present fields alone, so
// it is idempotent and safe on a spec from any client. "Absent" is field presence: has_xxx() for proto3
// `optional` fields, UNSPECIFIED for enums, empty for repeated fields.
//   - The LoRA fields get defaults only for method lora/qlora (the default method is lora), and
//     bnb_4bit_use_double_quant only for qlora, so a full fine-tune carries no adapter settings.
//   - Fields of rehearsal, early_stopping and each benchmark get defaults only when that message is present;
//     an absent rehearsal/early_stopping stays absent (optional features are never switched on).
//   - long_context benchmarks without context_lengths get [sequence_len].
//   - chat_template has no default (UNSPECIFIED means "none").
void ApplyJobSpecDefaults(ftd::v1::JobSpec* spec);

}  // namespace ftd
