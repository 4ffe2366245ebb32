// Quantised model directories in the layout transformers' save_pretrained writes for a bitsandbytes 4-bit NF4
// model (load_in_4bit, bnb_4bit_quant_type "nf4"): reading one projection weight's NF4 state with every part
// checked, and writing such a directory from an unquantised model (ftctl model quantize).
//
// Layout, per projection weight W (IsNf4QuantizedTensor in model/hf_model.h), beside the floating tensors:
//   W                                   U8  (ceil(out * in / 2), 1)  packed codes, first in the high nibble
//   W.absmax                            F32 (blocks), or U8 (blocks) under double quantisation
//   W.quant_map                         F32 (16)   == Nf4Code()
//   W.nested_absmax                     F32 (ceil(blocks / 256))     double quantisation only
//   W.nested_quant_map                  F32 (256)  == Nf4DynamicMap() double quantisation only
//   W.quant_state.bitsandbytes__nf4     U8  (len)  JSON: {"quant_type": "nf4", "blocksize": 64, "dtype": ..,
//                                       "shape": [out, in]} + "nested_blocksize": 256, "nested_dtype":
//                                       "float32", "nested_offset": .. under double quantisation.
// config.json is the source's plus "quantization_config" (HfQuantization in model/hf_model.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "model/dtype.h"
#include "model/hf_model.h"
#include "model/quant/nf4.h"

namespace ftd {

// The NF4 state of projection weight `name` (e.g. "model.layers.0.self_attn.q_proj.weight") of a directory
// whose config.json says bitsandbytes 4-bit nf4 (hf.quantization), checked against `shape` (out, in): packed
// size, absmax / nested sizes and dtypes, quant_map == Nf4Code(), nested_quant_map == Nf4DynamicMap(), the
// quant_state JSON (quant_type nf4, blocksize 64, nested_blocksize 256, shape), finite absmax.
// INVALID_ARGUMENT naming the directory, the tensor and the cause; FAILED_PRECONDITION when hf is not quantised.
absl::StatusOr<Nf4Tensor> ReadNf4Weight(const HfModel& hf, const std::string& name,
                                        const std::vector<int64_t>& shape);

// Quantises every projection weight of `hf` (an unquantised model) and writes the directory transformers'
// save_pretrained writes for it under load_in_4bit: config.json with quantization_config
// (bnb_4bit_compute_dtype = the model's dtype), model.safetensors (metadata {"format": "pt"}; the tensors
// LlamaTensorSpecs names, floating ones unchanged), the tokenizer files and generation_config.json copied.
// For an fp32 source the weights file is byte-equal to transformers 5.24 + bitsandbytes 0.50.2 on CPU
// (tests/model/nf4_model_test.cc). FAILED_PRECONDITION if hf is already quantised; INVALID_ARGUMENT when
// out_dir is hf's own directory or a weight holds a non-finite value.
absl::Status WriteNf4Model(const HfModel& hf, const std::string& out_dir, Nf4Statistics statistics);

// The quant_state JSON text bitsandbytes stores for `tensor` (a weight of `shape`, quantised from `dtype`),
// formatted as Python's json.dumps: ", " and ": " separators, nested_offset as PythonFloatRepr.
std::string Nf4QuantStateJson(const Nf4Tensor& tensor, const std::vector<int64_t>& shape, DType dtype);

// repr() of a Python float: the shortest digits that round-trip, fixed notation for exponents -4..15 ("0.0001",
// "123.0"), scientific otherwise ("1e-05", "1.5e+16"); "NaN", "Infinity", "-Infinity" as json.dumps writes them.
std::string PythonFloatRepr(double value);

}  // namespace ftd
