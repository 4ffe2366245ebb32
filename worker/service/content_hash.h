// Content hashes of what an evaluation scores, so the coordinator's cache of base-model results follows the bytes
// rather than the paths: a moved copy of a model or dataset hits, an edited file misses. Lowercase hex SHA-256:
//   - a file: its SHA-256;
//   - a directory: the SHA-256 of one line per regular file below it (symlinks followed), in path order,
//     "<path relative to the directory>\0<its SHA-256>\n";
//   - a model with an adapter: the SHA-256 of "<model hash>+<adapter hash>";
//   - a model whose base is NF4-quantised at load (`ftd-worker eval --quantize-base Q`, a QLoRA job's tuned model):
//     the SHA-256 of "<model hash>|quantize-base=<Q>". The same files scored as stored and scored quantised give
//     different numbers, so they must never share a key.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "ftd/v1/job_spec.pb.h"

namespace ftd {

// NOT_FOUND naming the path when it does not exist or cannot be read.
absl::StatusOr<std::string> ContentSha256(const std::string& path);

// The model an EVALUATE rank scores: `model` (a directory), with `adapter` applied when non-empty.
absl::StatusOr<std::string> ModelSha256(const std::string& model, const std::string& adapter);
// The same from hashes already taken (ContentSha256 of each), so a base model hashed once serves twice.
std::string CombineModelSha256(const std::string& model_sha256, const std::string& adapter_sha256);
// The hash of a model (ModelSha256 / CombineModelSha256) scored with `--quantize-base quantize_base`; the hash
// itself when quantize_base is empty (the weights as stored).
std::string QuantizedModelSha256(const std::string& model_sha256, const std::string& quantize_base);

// The data a benchmark's suite reads (eval/battery.h): mmlu and task, the directory; piqa, the JSONL followed by
// its labels file (valid-labels.lst beside it) as one two-file tree; every other suite, the file. "" for a
// benchmark without a path.
absl::StatusOr<std::string> BenchmarkDataSha256(const ftd::v1::Benchmark& benchmark);

}  // namespace ftd
