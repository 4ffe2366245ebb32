// ftctl model inspect / tokenize / import-llama2c / init / quantize over ftd_model_io (model/*.h) and
// ftd_nf4_model (model/quant/nf4_model.h).
#include "cli/model_commands.h"

#include <filesystem>
#include <istream>
#include <map>
#include <memory>
#include <ostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "model/llama2c_import.h"
#include "model/model_config.h"
#include "model/model_init.h"
#include "model/quant/nf4_model.h"
#include "model/tokenizer/tokenizer.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json SpecialTokenJson(const Tokenizer& tok, const std::optional<std::string>& token) {
  if (!token.has_value()) return nullptr;
  std::optional<int32_t> id = tok.TokenToId(*token);
  return {{"token", *token}, {"id", id.has_value() ? json(*id) : json(nullptr)}};
}

json TokenizerSummary(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(fs::path(dir) / "tokenizer.json", ec)) return {{"present", false}};
  absl::StatusOr<std::unique_ptr<Tokenizer>> tok = Tokenizer::FromDir(dir);
  if (!tok.ok()) return {{"present", true}, {"error", std::string(tok.status().message())}};
  const Tokenizer& t = **tok;
  const TokenizerConfig& c = t.config();
  json j = {{"present", true},
            {"kind", t.kind()},
            {"vocab_size", t.vocab_size()},
            {"bos", SpecialTokenJson(t, c.bos_token)},
            {"eos", SpecialTokenJson(t, c.eos_token)},
            {"pad", SpecialTokenJson(t, c.pad_token)},
            {"unk", SpecialTokenJson(t, c.unk_token)},
            {"has_chat_template", !c.chat_template.empty()}};
  // Ids the post-processor adds for an empty text: the BOS/EOS rule as the model will see it.
  j["special_tokens_added"] = t.Encode("", true);
  return j;
}

// Bytes on disk of quantised weight `name` in `model`: the packed codes and every `name.*` part beside them.
absl::StatusOr<int64_t> QuantizedWeightBytes(const HfModel& model, const std::string& name) {
  int64_t bytes = 0;
  for (const std::string& tensor : model.weights->names()) {
    if (tensor != name && tensor.rfind(name + ".", 0) != 0) continue;
    ASSIGN_OR_RETURN(TensorView t, model.weights->Get(tensor));
    bytes += static_cast<int64_t>(t.data.size());
  }
  return bytes;
}

std::string HumanCount(int64_t n) {
  if (n >= 1000000000) return absl::StrFormat("%.2fB", n / 1e9);
  if (n >= 1000000) return absl::StrFormat("%.2fM", n / 1e6);
  if (n >= 1000) return absl::StrFormat("%.2fK", n / 1e3);
  return absl::StrCat(n);
}

void PrintTable(const json& j, std::ostream& out) {
  const json& c = j["config"];
  out << absl::StrFormat("architecture   %s (model_type %s)\n", c["architecture"].get<std::string>(),
                         c["model_type"].get<std::string>());
  out << absl::StrFormat(
      "layers         %d   hidden %d   intermediate %d   heads %d   kv heads %d   head dim %d\n",
      c["num_hidden_layers"].get<int64_t>(), c["hidden_size"].get<int64_t>(), c["intermediate_size"].get<int64_t>(),
      c["num_attention_heads"].get<int64_t>(), c["num_key_value_heads"].get<int64_t>(), c["head_dim"].get<int64_t>());
  out << absl::StrFormat("vocab          %d   max positions %d   rope theta %g (%s)   tied embeddings %s\n",
                         c["vocab_size"].get<int64_t>(), c["max_position_embeddings"].get<int64_t>(),
                         c["rope_theta"].get<double>(), c["rope_scaling"].get<std::string>(),
                         c["tie_word_embeddings"].get<bool>() ? "yes" : "no");
  out << "parameters     ";
  for (const char* m : {"embed", "attention", "mlp", "norm", "lm_head"}) {
    out << m << " " << HumanCount(j["parameters"][m].get<int64_t>()) << "   ";
  }
  out << "total " << j["parameters"]["total"].get<int64_t>() << " (" << HumanCount(j["parameters"]["total"].get<int64_t>())
      << ")\n";
  out << "dtype          config " << c["dtype"].get<std::string>() << ", on disk";
  for (const auto& [dtype, n] : j["dtypes_on_disk"].items()) out << " " << dtype << " x" << n.get<int64_t>();
  out << "\n";
  if (!j["quantization"].is_null()) {
    out << "quantization   bitsandbytes 4-bit NF4, "
        << (j["quantization"]["double_quant"].get<bool>() ? "double quantisation (8-bit absmax)" : "fp32 absmax")
        << ", " << j["quantization"]["quantized_weights"].get<int64_t>() << " weights\n";
  }
  out << "files\n";
  for (const auto& [name, size] : j["files"].items()) {
    out << absl::StrFormat("  %-36s %14d bytes\n", name, size.get<int64_t>());
  }
  const json& t = j["tokenizer"];
  if (!t["present"].get<bool>()) {
    out << "tokenizer      none\n";
  } else if (t.contains("error")) {
    out << "tokenizer      error: " << t["error"].get<std::string>() << "\n";
  } else {
    out << "tokenizer      " << t["kind"].get<std::string>() << ", vocab " << t["vocab_size"].get<int64_t>();
    for (const char* role : {"bos", "eos", "pad", "unk"}) {
      if (!t[role].is_null()) out << ", " << role << " " << t[role]["token"].get<std::string>() << " (" << t[role]["id"].dump() << ")";
    }
    out << "\n";
  }
}

}  // namespace

absl::Status ModelInspect(const std::string& dir, OutputFormat format, std::ostream& out) {
  ASSIGN_OR_RETURN(HfModel model, LoadHfModel(dir));
  const LlamaConfig& c = model.config;
  const ParameterCounts p = CountParameters(c);
  json j;
  j["dir"] = dir;
  j["config"] = {{"architecture", c.architecture},
                 {"model_type", c.model_type},
                 {"num_hidden_layers", c.num_hidden_layers},
                 {"hidden_size", c.hidden_size},
                 {"intermediate_size", c.intermediate_size},
                 {"num_attention_heads", c.num_attention_heads},
                 {"num_key_value_heads", c.num_key_value_heads},
                 {"head_dim", c.head_dim},
                 {"vocab_size", c.vocab_size},
                 {"max_position_embeddings", c.max_position_embeddings},
                 {"rope_theta", c.rope_theta},
                 {"rope_scaling", RopeScalingTypeName(c.rope_scaling.type)},
                 {"tie_word_embeddings", c.tie_word_embeddings},
                 {"rms_norm_eps", c.rms_norm_eps},
                 {"dtype", TorchDTypeName(c.dtype)}};
  j["parameters"] = {{"embed", p.embed}, {"attention", p.attention}, {"mlp", p.mlp},
                     {"norm", p.norm},   {"lm_head", p.lm_head},     {"total", p.total()}};
  // In a quantised directory a packed weight counts its unpacked parameters, and its state tensors
  // (W.absmax, W.quant_map, ...) count none.
  std::map<std::string, std::vector<int64_t>> quantized;  // Name -> unpacked shape.
  if (model.quantization.has_value()) {
    for (const HfTensorSpec& spec : LlamaTensorSpecs(c)) {
      if (IsNf4QuantizedTensor(spec)) quantized[spec.name] = spec.shape;
    }
  }
  std::map<std::string, int64_t> dtypes;
  int64_t on_disk = 0;
  for (const std::string& name : model.weights->names()) {
    ASSIGN_OR_RETURN(TensorView t, model.weights->Get(name));
    ++dtypes[std::string(DTypeName(t.dtype))];
    const size_t dot = name.rfind(".weight.");
    if (auto q = quantized.find(name); q != quantized.end()) {
      on_disk += NumElements(q->second);
    } else if (dot == std::string::npos || !quantized.contains(name.substr(0, dot + 7))) {
      on_disk += NumElements(t.shape);
    }
  }
  j["quantization"] = nullptr;
  if (model.quantization.has_value()) {
    j["quantization"] = {{"method", "bitsandbytes"},
                         {"quant_type", "nf4"},
                         {"double_quant", model.quantization->double_quant},
                         {"quantized_weights", quantized.size()}};
  }
  j["parameters_on_disk"] = on_disk;
  j["dtypes_on_disk"] = dtypes;
  j["weights_bytes"] = model.weights->total_bytes();
  json files = json::object();
  std::error_code ec;
  for (const fs::directory_entry& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file(ec)) files[e.path().filename().string()] = static_cast<int64_t>(e.file_size(ec));
  }
  j["files"] = files;
  j["tokenizer"] = TokenizerSummary(dir);
  if (format == OutputFormat::kJson) {
    out << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    PrintTable(j, out);
  }
  return absl::OkStatus();
}

absl::Status ModelTokenize(const std::string& dir, SpecialTokens special, const std::string& jsonl_path,
                           std::istream& in, std::ostream& out) {
  ASSIGN_OR_RETURN(std::unique_ptr<Tokenizer> tok, Tokenizer::FromDir(dir));
  const bool add = special == SpecialTokens::kAdd;
  if (jsonl_path.empty()) {
    std::string line;
    while (std::getline(in, line)) out << json(tok->Encode(line, add)).dump() << "\n";
    return absl::OkStatus();
  }
  ASSIGN_OR_RETURN(std::string contents, ReadFileToString(jsonl_path, uint64_t{64} << 30));
  for (const NumberedLine& line : NonBlankLines(contents)) {
    json text = json::parse(line.text.begin(), line.text.end(), nullptr, /*allow_exceptions=*/false);
    if (text.is_discarded() || !text.is_string()) {
      return absl::InvalidArgumentError(
          absl::StrCat(jsonl_path, ":", line.number, ": expected a JSON string per line"));
    }
    out << json(tok->Encode(text.get<std::string>(), add)).dump() << "\n";
  }
  return absl::OkStatus();
}

absl::Status ModelImportLlama2c(const std::string& checkpoint, const std::string& tokenizer,
                                const std::string& out_dir, std::ostream& out) {
  RETURN_IF_ERROR(ImportLlama2c(checkpoint, tokenizer, out_dir));
  ASSIGN_OR_RETURN(LlamaConfig config, LoadLlamaConfig(out_dir + "/config.json"));
  out << "imported " << checkpoint << " (" << CountParameters(config).total() << " parameters) into " << out_dir
      << "\n";
  return absl::OkStatus();
}

absl::Status ModelInit(const std::string& config_path, const std::string& tokenizer_dir, uint64_t seed,
                       const std::string& out_dir, std::ostream& out) {
  InitModelOptions options{config_path, tokenizer_dir, seed, out_dir};
  RETURN_IF_ERROR(InitRandomModel(options));
  ASSIGN_OR_RETURN(LlamaConfig config, LoadLlamaConfig(out_dir + "/config.json"));
  out << "initialised " << config.architecture << " with " << CountParameters(config).total()
      << " parameters (seed " << seed << ") in " << out_dir << "\n";
  return absl::OkStatus();
}

absl::Status ModelQuantize(const std::string& dir, const std::string& out_dir, Nf4Statistics statistics,
                           std::ostream& out) {
  ASSIGN_OR_RETURN(HfModel source, LoadHfModel(dir));
  RETURN_IF_ERROR(WriteNf4Model(source, out_dir, statistics));
  ASSIGN_OR_RETURN(HfModel written, LoadHfModel(out_dir));
  int64_t weights = 0, before = 0, after = 0;
  for (const HfTensorSpec& spec : LlamaTensorSpecs(source.config)) {
    if (!IsNf4QuantizedTensor(spec)) continue;
    ASSIGN_OR_RETURN(TensorView t, source.weights->Get(spec.name));
    before += static_cast<int64_t>(t.data.size());
    ASSIGN_OR_RETURN(int64_t bytes, QuantizedWeightBytes(written, spec.name));
    after += bytes;
    ++weights;
  }
  const bool double_quant = statistics == Nf4Statistics::kDoubleQuant;
  out << "quantised " << weights << " projection weights of " << dir << " to NF4 ("
      << (double_quant ? "double quantisation" : "fp32 absmax") << ", blocks of " << kNf4BlockSize << ") into "
      << out_dir << "\n";
  out << absl::StrFormat("linear weights %d bytes -> %d bytes (ratio %.4f)\n", before, after,
                         before > 0 ? static_cast<double>(after) / static_cast<double>(before) : 0.0);
  out << absl::StrFormat("all weights    %d bytes -> %d bytes\n", source.weights->total_bytes(),
                         written.weights->total_bytes());
  return absl::OkStatus();
}

}  // namespace ftd
