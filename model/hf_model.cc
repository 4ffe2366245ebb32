// Model-directory layout, loading with shape checks, and saving; see hf_model.h.
#include "model/hf_model.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

constexpr const char* kTokenizerFiles[] = {"tokenizer.json",         "tokenizer_config.json",
                                           "special_tokens_map.json", "tokenizer.model",
                                           "generation_config.json", "chat_template.jinja"};

}  // namespace

const std::vector<std::string>& LlamaLinearModules() {
  static const auto* modules = new std::vector<std::string>{
      "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
      "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
  return *modules;
}

std::vector<HfTensorSpec> LlamaTensorSpecs(const LlamaConfig& c) {
  const int64_t d = c.hidden_size;
  const int64_t ff = c.intermediate_size;
  std::vector<HfTensorSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {c.vocab_size, d}, HfTensorKind::kEmbedding});
  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat("model.layers.", i, ".");
    specs.push_back({p + "self_attn.q_proj.weight", {c.q_dim(), d}, HfTensorKind::kLinear});
    if (c.qkv_bias) specs.push_back({p + "self_attn.q_proj.bias", {c.q_dim()}, HfTensorKind::kBias});
    specs.push_back({p + "self_attn.k_proj.weight", {c.kv_dim(), d}, HfTensorKind::kLinear});
    if (c.qkv_bias) specs.push_back({p + "self_attn.k_proj.bias", {c.kv_dim()}, HfTensorKind::kBias});
    specs.push_back({p + "self_attn.v_proj.weight", {c.kv_dim(), d}, HfTensorKind::kLinear});
    if (c.qkv_bias) specs.push_back({p + "self_attn.v_proj.bias", {c.kv_dim()}, HfTensorKind::kBias});
    specs.push_back({p + "self_attn.o_proj.weight", {d, c.q_dim()}, HfTensorKind::kLinear});
    if (c.o_proj_bias) specs.push_back({p + "self_attn.o_proj.bias", {d}, HfTensorKind::kBias});
    specs.push_back({p + "mlp.gate_proj.weight", {ff, d}, HfTensorKind::kLinear});
    if (c.mlp_bias) specs.push_back({p + "mlp.gate_proj.bias", {ff}, HfTensorKind::kBias});
    specs.push_back({p + "mlp.up_proj.weight", {ff, d}, HfTensorKind::kLinear});
    if (c.mlp_bias) specs.push_back({p + "mlp.up_proj.bias", {ff}, HfTensorKind::kBias});
    specs.push_back({p + "mlp.down_proj.weight", {d, ff}, HfTensorKind::kLinear});
    if (c.mlp_bias) specs.push_back({p + "mlp.down_proj.bias", {d}, HfTensorKind::kBias});
    specs.push_back({p + "input_layernorm.weight", {d}, HfTensorKind::kNorm});
    specs.push_back({p + "post_attention_layernorm.weight", {d}, HfTensorKind::kNorm});
  }
  specs.push_back({"model.norm.weight", {d}, HfTensorKind::kNorm});
  if (!c.tie_word_embeddings) specs.push_back({"lm_head.weight", {c.vocab_size, d}, HfTensorKind::kLinear});
  return specs;
}

absl::StatusOr<HfModel> LoadHfModel(const std::string& dir) {
  HfModel model;
  model.dir = dir;
  ASSIGN_OR_RETURN(model.config, LoadLlamaConfig(dir + "/config.json"));
  ASSIGN_OR_RETURN(model.weights, SafetensorsModel::OpenDir(dir));
  for (const HfTensorSpec& spec : LlamaTensorSpecs(model.config)) {
    absl::StatusOr<TensorView> t = model.weights->Get(spec.name);
    if (!t.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": tensor ", spec.name, " that config.json implies is missing from the weights"));
    }
    if (t->shape != spec.shape) {
      return absl::InvalidArgumentError(absl::StrCat(dir, ": tensor ", spec.name, " has shape ",
                                                     ShapeString(t->shape), ", config.json implies ",
                                                     ShapeString(spec.shape)));
    }
    if (!IsFloating(t->dtype)) {
      return absl::InvalidArgumentError(
          absl::StrCat(dir, ": tensor ", spec.name, " has non-floating dtype ", DTypeName(t->dtype)));
    }
  }
  return model;
}

std::vector<std::string> TokenizerFileNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const char* name : kTokenizerFiles) {
    std::error_code ec;
    if (fs::is_regular_file(fs::path(dir) / name, ec)) names.push_back(name);
  }
  return names;
}

absl::Status CopyTokenizerFiles(const std::string& from_dir, const std::string& to_dir) {
  for (const std::string& name : TokenizerFileNames(from_dir)) {
    std::error_code ec;
    fs::copy_file(fs::path(from_dir) / name, fs::path(to_dir) / name, fs::copy_options::overwrite_existing, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("copying ", from_dir, "/", name, " to ", to_dir, ": ", ec.message()));
    }
    // Files copied from read-only sources (shared data) must stay writable for later saves into `to_dir`.
    fs::permissions(fs::path(to_dir) / name, fs::perms::owner_write, fs::perm_options::add, ec);
  }
  return absl::OkStatus();
}

absl::Status SaveHfModel(const std::string& dir, const std::string& config_json,
                         const std::vector<std::pair<std::string, TensorView>>& tensors,
                         const std::string& tokenizer_dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  RETURN_IF_ERROR(WriteStringToFile(dir + "/config.json", config_json));
  RETURN_IF_ERROR(WriteSafetensorsModel(dir, tensors));
  if (!tokenizer_dir.empty()) RETURN_IF_ERROR(CopyTokenizerFiles(tokenizer_dir, dir));
  return absl::OkStatus();
}

}  // namespace ftd
