// llama2.c v0 checkpoint and tokenizer import into HF layout; see llama2c_import.h.
#include "model/llama2c_import.h"

#include <algorithm>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/status_macros.h"
#include "model/file_io.h"
#include "model/hf_model.h"
#include "nlohmann/json.hpp"

namespace ftd {
namespace {

using nlohmann::json;

// Hands out consecutive fp32 arrays of the checkpoint body.
class FloatReader {
 public:
  FloatReader(const std::string& bytes, size_t offset) : bytes_(bytes), offset_(offset) {}
  std::vector<float> Take(int64_t count) {
    std::vector<float> out(static_cast<size_t>(count));
    std::memcpy(out.data(), bytes_.data() + offset_, out.size() * sizeof(float));
    offset_ += out.size() * sizeof(float);
    return out;
  }
  void Skip(int64_t count) { offset_ += static_cast<size_t>(count) * sizeof(float); }

 private:
  const std::string& bytes_;
  size_t offset_;
};

// Layer `layer` of a stacked [L, rows, cols] array.
std::vector<float> LayerSlice(const std::vector<float>& stacked, int64_t layer, int64_t per_layer) {
  return std::vector<float>(stacked.begin() + layer * per_layer, stacked.begin() + (layer + 1) * per_layer);
}

// Byte length of the UTF-8 sequence starting with `lead` (1 for a stray continuation byte).
size_t Utf8Length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

}  // namespace

std::vector<float> PermuteRotaryRows(absl::Span<const float> w, int64_t n_heads, int64_t dim1, int64_t dim2) {
  std::vector<float> out(w.size());
  const int64_t head = dim1 / n_heads;
  const int64_t half = head / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const float* src = w.data() + (h * head + 2 * i + j) * dim2;
        std::copy(src, src + dim2, out.data() + (h * head + j * half + i) * dim2);
      }
    }
  }
  return out;
}

std::vector<float> UnpermuteRotaryRows(absl::Span<const float> w, int64_t n_heads, int64_t dim1, int64_t dim2) {
  std::vector<float> out(w.size());
  const int64_t head = dim1 / n_heads;
  const int64_t half = head / 2;
  for (int64_t h = 0; h < n_heads; ++h) {
    for (int64_t i = 0; i < half; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const float* src = w.data() + (h * head + j * half + i) * dim2;
        std::copy(src, src + dim2, out.data() + (h * head + 2 * i + j) * dim2);
      }
    }
  }
  return out;
}

LlamaConfig Llama2cConfig(const Llama2cHeader& h) {
  LlamaConfig c;
  c.architecture = "LlamaForCausalLM";
  c.model_type = "llama";
  c.hidden_size = h.dim;
  c.intermediate_size = h.hidden_dim;
  c.num_hidden_layers = h.n_layers;
  c.num_attention_heads = h.n_heads;
  c.num_key_value_heads = h.n_kv_heads;
  c.head_dim = h.dim / h.n_heads;
  c.vocab_size = h.vocab_size;
  c.max_position_embeddings = h.seq_len;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = h.shared_classifier;
  c.dtype = DType::kF32;
  c.bos_token_id = 1;
  c.eos_token_ids = {2};
  return c;
}

absl::StatusOr<Llama2cCheckpoint> ReadLlama2cCheckpoint(const std::string& path) {
  ASSIGN_OR_RETURN(std::string bytes, ReadFileToString(path));
  if (bytes.size() < 7 * sizeof(int32_t)) {
    return absl::DataLossError(absl::StrCat(path, ": ", bytes.size(), " bytes is too short for a llama2.c header"));
  }
  int32_t raw[7];
  std::memcpy(raw, bytes.data(), sizeof(raw));
  Llama2cHeader h{raw[0], raw[1], raw[2], raw[3], raw[4], raw[5] < 0 ? -raw[5] : raw[5], raw[6], raw[5] > 0};
  const bool sane = h.dim > 0 && h.hidden_dim > 0 && h.n_layers > 0 && h.n_heads > 0 && h.n_kv_heads > 0 &&
                    h.vocab_size > 0 && h.seq_len > 0 && h.dim % h.n_heads == 0 && h.n_heads % h.n_kv_heads == 0 &&
                    (h.dim / h.n_heads) % 2 == 0 && h.dim <= (1 << 16) && h.hidden_dim <= (1 << 18) &&
                    h.n_layers <= 1024 && h.vocab_size <= (1 << 22) && h.seq_len <= (1 << 22);
  if (!sane) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": not a llama2.c v0 checkpoint (header dim=", raw[0], " hidden_dim=", raw[1], " n_layers=", raw[2],
        " n_heads=", raw[3], " n_kv_heads=", raw[4], " vocab_size=", raw[5], " seq_len=", raw[6], ")"));
  }
  const int64_t d = h.dim, ff = h.hidden_dim, nl = h.n_layers, v = h.vocab_size;
  const int64_t hs = d / h.n_heads, kv = h.n_kv_heads * hs;
  const int64_t floats = v * d + nl * d + nl * d * d + 2 * nl * kv * d + nl * d * d + nl * d + 3 * nl * ff * d + d +
                         h.seq_len * hs + (h.shared_classifier ? 0 : v * d);
  const uint64_t expected = 28 + 4 * static_cast<uint64_t>(floats);
  if (bytes.size() != expected) {
    return absl::DataLossError(absl::StrCat(path, ": ", bytes.size(), " bytes, but its header implies ", expected,
                                            " (truncated or not a v0 checkpoint)"));
  }
  FloatReader r(bytes, 28);
  std::vector<float> embed = r.Take(v * d);
  std::vector<float> rms_att = r.Take(nl * d);
  std::vector<float> wq = r.Take(nl * d * d);
  std::vector<float> wk = r.Take(nl * kv * d);
  std::vector<float> wv = r.Take(nl * kv * d);
  std::vector<float> wo = r.Take(nl * d * d);
  std::vector<float> rms_ffn = r.Take(nl * d);
  std::vector<float> w1 = r.Take(nl * ff * d);
  std::vector<float> w2 = r.Take(nl * d * ff);
  std::vector<float> w3 = r.Take(nl * ff * d);
  std::vector<float> rms_final = r.Take(d);
  r.Skip(h.seq_len * hs);  // freq_cis_real and freq_cis_imag, seq_len * hs / 2 each: HF recomputes RoPE.
  std::vector<float> classifier = h.shared_classifier ? std::vector<float>() : r.Take(v * d);

  Llama2cCheckpoint ckpt;
  ckpt.header = h;
  auto add = [&](std::string name, std::vector<int64_t> shape, const std::vector<float>& values) {
    ckpt.tensors.emplace_back(std::move(name), Tensor::FromF32(std::move(shape), values));
  };
  add("model.embed_tokens.weight", {v, d}, embed);
  for (int64_t l = 0; l < nl; ++l) {
    const std::string p = absl::StrCat("model.layers.", l, ".");
    add(p + "self_attn.q_proj.weight", {d, d}, PermuteRotaryRows(LayerSlice(wq, l, d * d), h.n_heads, d, d));
    add(p + "self_attn.k_proj.weight", {kv, d}, PermuteRotaryRows(LayerSlice(wk, l, kv * d), h.n_kv_heads, kv, d));
    add(p + "self_attn.v_proj.weight", {kv, d}, LayerSlice(wv, l, kv * d));
    add(p + "self_attn.o_proj.weight", {d, d}, LayerSlice(wo, l, d * d));
    add(p + "mlp.gate_proj.weight", {ff, d}, LayerSlice(w1, l, ff * d));
    add(p + "mlp.up_proj.weight", {ff, d}, LayerSlice(w3, l, ff * d));
    add(p + "mlp.down_proj.weight", {d, ff}, LayerSlice(w2, l, d * ff));
    add(p + "input_layernorm.weight", {d}, LayerSlice(rms_att, l, d));
    add(p + "post_attention_layernorm.weight", {d}, LayerSlice(rms_ffn, l, d));
  }
  add("model.norm.weight", {d}, rms_final);
  if (!h.shared_classifier) add("lm_head.weight", {v, d}, classifier);
  return ckpt;
}

absl::StatusOr<Llama2cTokenizer> ReadLlama2cTokenizer(const std::string& path, int32_t vocab_size) {
  absl::StatusOr<std::string> file = ReadFileToString(path);
  if (!file.ok()) return file.status();
  const std::string& bytes = *file;
  Llama2cTokenizer tok;
  size_t pos = 0;
  auto read = [&](void* dst, size_t n) {
    if (pos + n > bytes.size()) return false;
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  if (!read(&tok.max_token_length, 4)) return absl::DataLossError(absl::StrCat(path, ": empty tokenizer file"));
  for (int32_t i = 0; i < vocab_size; ++i) {
    float score;
    int32_t len;
    if (!read(&score, 4) || !read(&len, 4) || len < 0 || len > tok.max_token_length ||
        pos + static_cast<size_t>(len) > bytes.size()) {
      return absl::DataLossError(
          absl::StrCat(path, ": truncated or malformed at token ", i, " of ", vocab_size, " (byte ", pos, ")"));
    }
    tok.pieces.emplace_back(bytes.data() + pos, static_cast<size_t>(len));
    tok.scores.push_back(score);
    pos += static_cast<size_t>(len);
  }
  if (pos != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", bytes.size() - pos, " bytes after ", vocab_size,
                                                   " tokens: vocabulary size does not match the checkpoint"));
  }
  return tok;
}

std::vector<std::string> Llama2cHfPieces(const Llama2cTokenizer& tokenizer) {
  std::vector<std::string> pieces;
  pieces.reserve(tokenizer.pieces.size());
  for (size_t i = 0; i < tokenizer.pieces.size(); ++i) {
    static const char* kSpecial[] = {"<unk>", "<s>", "</s>"};
    pieces.push_back(i < 3 ? std::string(kSpecial[i]) : absl::StrReplaceAll(tokenizer.pieces[i], {{" ", "\u2581"}}));
  }
  return pieces;
}

std::vector<std::pair<std::string, std::string>> SentencePieceMerges(const std::vector<std::string>& pieces,
                                                                     const std::vector<float>& scores) {
  std::map<std::string, int64_t, std::less<>> vocab;
  for (size_t i = 0; i < pieces.size(); ++i) vocab.emplace(pieces[i], static_cast<int64_t>(i));
  struct Merge {
    int64_t left, right;
    float score;
  };
  std::vector<Merge> merges;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const std::string& piece = pieces[i];
    std::vector<Merge> local;
    for (size_t cut = Utf8Length(static_cast<unsigned char>(piece[0])); cut < piece.size();
         cut += Utf8Length(static_cast<unsigned char>(piece[cut]))) {
      auto l = vocab.find(absl::string_view(piece).substr(0, cut));
      auto r = vocab.find(absl::string_view(piece).substr(cut));
      if (l != vocab.end() && r != vocab.end()) local.push_back({l->second, r->second, scores[i]});
    }
    std::sort(local.begin(), local.end(),
              [](const Merge& a, const Merge& b) { return std::tie(a.left, a.right) < std::tie(b.left, b.right); });
    merges.insert(merges.end(), local.begin(), local.end());
  }
  std::stable_sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) { return a.score > b.score; });
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(merges.size());
  for (const Merge& m : merges) out.emplace_back(pieces[m.left], pieces[m.right]);
  return out;
}

std::string Llama2cTokenizerJson(const Llama2cTokenizer& tokenizer) {
  const std::vector<std::string> pieces = Llama2cHfPieces(tokenizer);
  json vocab = json::object();
  for (size_t i = 0; i < pieces.size(); ++i) vocab[pieces[i]] = i;
  json merges = json::array();
  for (const auto& [l, r] : SentencePieceMerges(pieces, tokenizer.scores)) merges.push_back(l + " " + r);
  json added = json::array();
  for (int id = 0; id < 3 && id < static_cast<int>(pieces.size()); ++id) {
    added.push_back({{"id", id}, {"content", pieces[id]}, {"single_word", false}, {"lstrip", false},
                     {"rstrip", false}, {"normalized", true}, {"special", true}});
  }
  json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}};
  json seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}};
  json bos0 = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}};
  json bos1 = {{"SpecialToken", {{"id", "<s>"}, {"type_id", 1}}}};
  json j = {
      {"version", "1.0"},
      {"truncation", nullptr},
      {"padding", nullptr},
      {"added_tokens", added},
      // What transformers builds for a LlamaTokenizer (tokenizer_config.json names that class) whatever the file
      // says, written out so that the tokenizers library, transformers and ftd all split alike: spaces become "▁"
      // and one "▁" is prepended unless the text already starts with one (not SentencePiece's add_dummy_prefix,
      // which would give " = X" two).
      {"normalizer", nullptr},
      {"pre_tokenizer",
       {{"type", "Metaspace"}, {"replacement", "\u2581"}, {"prepend_scheme", "first"}, {"split", false}}},
      {"post_processor",
       {{"type", "TemplateProcessing"},
        {"single", json::array({bos0, seq_a})},
        {"pair", json::array({bos0, seq_a, bos1, seq_b})},
        {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder",
       {{"type", "Sequence"},
        {"decoders", json::array({{{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
                                  {{"type", "ByteFallback"}},
                                  {{"type", "Fuse"}},
                                  {{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}})}}},
      {"model",
       {{"type", "BPE"},
        {"dropout", nullptr},
        {"unk_token", "<unk>"},
        {"continuing_subword_prefix", nullptr},
        {"end_of_word_suffix", nullptr},
        {"fuse_unk", true},
        {"byte_fallback", true},
        {"vocab", vocab},
        {"merges", merges}}}};
  // Pieces are UTF-8 in any SentencePiece model; replace rather than throw if a file holds a broken one.
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string Llama2cTokenizerConfigJson(int64_t model_max_length) {
  json j = {{"add_bos_token", true},       {"add_eos_token", false},
            {"bos_token", "<s>"},          {"eos_token", "</s>"},
            {"unk_token", "<unk>"},        {"pad_token", nullptr},
            {"clean_up_tokenization_spaces", false},
            {"model_max_length", model_max_length},
            {"tokenizer_class", "LlamaTokenizer"}};
  return j.dump(2) + "\n";
}

absl::Status ImportLlama2c(const std::string& checkpoint_path, const std::string& tokenizer_path,
                           const std::string& out_dir) {
  ASSIGN_OR_RETURN(Llama2cCheckpoint ckpt, ReadLlama2cCheckpoint(checkpoint_path));
  ASSIGN_OR_RETURN(Llama2cTokenizer tok, ReadLlama2cTokenizer(tokenizer_path, ckpt.header.vocab_size));
  std::vector<std::pair<std::string, TensorView>> views;
  for (const auto& [name, tensor] : ckpt.tensors) views.emplace_back(name, tensor.view());
  RETURN_IF_ERROR(SaveHfModel(out_dir, LlamaConfigToJson(Llama2cConfig(ckpt.header)), views));
  RETURN_IF_ERROR(WriteStringToFile(out_dir + "/tokenizer.json", Llama2cTokenizerJson(tok)));
  return WriteStringToFile(out_dir + "/tokenizer_config.json", Llama2cTokenizerConfigJson(ckpt.header.seq_len));
}

}  // namespace ftd
