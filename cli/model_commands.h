// ftctl's `model` commands, flag-free: inspect a model directory, tokenize text with its tokenizer, import a
// llama2.c checkpoint, initialise a random model, quantise one to NF4. Each returns a Status; the CLI layer
// prints errors.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>

#include "absl/status/status.h"
#include "cli/output_format.h"
#include "model/quant/nf4.h"

namespace ftd {

// Architecture, dimensions, parameter counts by module, on-disk dtypes, file sizes, the quantisation (bitsandbytes
// NF4, with or without double quantisation) and the tokenizer summary.
absl::Status ModelInspect(const std::string& dir, OutputFormat format, std::ostream& out);

enum class SpecialTokens { kAdd, kOmit };

// One JSON array of token ids per input line. Input is `in` (one text per line) or, when jsonl_path is
// non-empty, a JSONL file whose every non-empty line is a JSON string.
absl::Status ModelTokenize(const std::string& dir, SpecialTokens special, const std::string& jsonl_path,
                           std::istream& in, std::ostream& out);

absl::Status ModelImportLlama2c(const std::string& checkpoint, const std::string& tokenizer,
                                const std::string& out_dir, std::ostream& out);

absl::Status ModelInit(const std::string& config_path, const std::string& tokenizer_dir, uint64_t seed,
                       const std::string& out_dir, std::ostream& out);

// Writes `out_dir`, the bitsandbytes 4-bit NF4 directory transformers would save for the unquantised model in
// `dir` (WriteNf4Model), and prints what it wrote: the weights quantised, the bytes of those weights before and
// after (all their tensors on disk: codes, absmax, code tables, quant_state) and the ratio after / before.
absl::Status ModelQuantize(const std::string& dir, const std::string& out_dir, Nf4Statistics statistics,
                           std::ostream& out);

}  // namespace ftd
