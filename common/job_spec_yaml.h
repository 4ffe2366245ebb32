// The YAML form of ftd.v1.JobSpec that users write for `ftctl submit`: load (strict, key-named errors), and
// write back out so that YAML -> JobSpec -> YAML -> JobSpec gives the same JobSpec.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {

// YAML -> JobSpec with the defaults applied and validated: DecodeJobSpecYaml, then ApplyJobSpecDefaults, then
// ValidateJobSpec. This is what ftctl calls before it submits.
//
// The mapping is driven by protobuf reflection, so it follows the proto without a hand-kept key table:
//   - a YAML key is the proto field name; nested messages are YAML maps, repeated fields YAML sequences;
//   - enums are the lowercase suffix of the value name (`method: qlora` is METHOD_QLORA), hyphens accepted for
//     underscores (`type: chat-template`); the UNSPECIFIED value is never accepted by name;
//   - `lora_target_modules` takes a list of module names or the single string `all-linear`;
//   - scalars are strict: integers only from plain (unquoted) decimal integers in the field's range, doubles
//     from plain YAML numbers (`2e-4`, `3`, `.inf`, `.nan`; non-finite values are then rejected by validation),
//     bools only `true`/`false`; string fields take any scalar's text. Null values (`key:` or `key: ~`),
//     duplicate keys, unknown keys and more than one YAML document are errors.
//
// Errors are absl::InvalidArgumentError with ONE message, the first error found: while decoding, the first in
// document order; then the first validation error in proto field order. The message names the key path as
// written in YAML and the reason: `early_stopping.patience: expected an integer, got "two"`,
// `datasets[1].path: required`, `lorra_r: unknown key (did you mean lora_r?)`. YAML syntax errors carry the
// line and column from yaml-cpp: `yaml syntax error at line 3, column 2: end of sequence flow not found`.
absl::StatusOr<ftd::v1::JobSpec> ParseJobSpecYaml(absl::string_view yaml_text);

// ParseJobSpecYaml on the contents of the file at `path`. Every error message starts with the path
// ("job.yaml: lora_r: must be > 0, got -1"); a file that cannot be read gives NotFound / PermissionDenied /
// FailedPrecondition with the OS reason.
absl::StatusOr<ftd::v1::JobSpec> LoadJobSpecFile(const std::string& path);

// YAML -> JobSpec only: the strict mapping above, without defaults and without validation, so a spec can be
// inspected as the user wrote it. Fails only on what cannot be stored in the proto.
absl::StatusOr<ftd::v1::JobSpec> DecodeJobSpecYaml(absl::string_view yaml_text);

// JobSpec -> YAML: every present field in proto field order (absent ones are left out, so the defaults show
// only if they were applied), enums by their lowercase name, doubles in their shortest exact form.
// DecodeJobSpecYaml(JobSpecToYaml(s)) equals s for every s whose enum fields hold known values.
std::string JobSpecToYaml(const ftd::v1::JobSpec& spec);

}  // namespace ftd
