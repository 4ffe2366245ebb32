// llama2.c import of the real stories260K checkpoint (../shared/data, optional): shapes, the wq/wk row
// permutation, header values, and tokenizer.json ids equal to llama2.c's own score-greedy BPE encoder.
#include "model/llama2c_import.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"
#include "model/hf_model.h"
#include "model/tokenizer/tokenizer.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

const std::string kData = std::string(FTD_SOURCE_DIR) + "/../shared/data/models/stories260K";
const std::string kCkpt = kData + "/stories260K.bin";
const std::string kTok = kData + "/tok512.bin";

#define SKIP_WITHOUT_DATA() \
  if (!fs::exists(kCkpt) || !fs::exists(kTok)) GTEST_SKIP() << kData << " is absent (shared data not present)"

// Raw fp32 floats of the checkpoint file from float index `offset` (after the 7-int header).
std::vector<float> RawFloats(int64_t offset, int64_t count) {
  std::ifstream in(kCkpt, std::ios::binary);
  in.seekg(28 + 4 * offset);
  std::vector<float> out(static_cast<size_t>(count));
  in.read(reinterpret_cast<char*>(out.data()), count * 4);
  return out;
}

TEST(PermuteTest, InverseAndLayout) {
  // 2 heads of size 4, 3 columns: HF row order within a head is (pair 0 first, pair 1 first, pair 0 second, ...).
  std::vector<float> w(8 * 3);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i);
  std::vector<float> p = PermuteRotaryRows(w, 2, 8, 3);
  // Head 0 rows in llama2.c order r0 r1 r2 r3 become r0 r2 r1 r3.
  EXPECT_EQ(p[1 * 3], w[2 * 3]);
  EXPECT_EQ(p[2 * 3], w[1 * 3]);
  EXPECT_EQ(p[5 * 3], w[6 * 3]);
  EXPECT_EQ(UnpermuteRotaryRows(p, 2, 8, 3), w);
}

TEST(Llama2cImportTest, CheckpointShapesAndPermutation) {
  SKIP_WITHOUT_DATA();
  absl::StatusOr<Llama2cCheckpoint> ckpt = ReadLlama2cCheckpoint(kCkpt);
  ASSERT_TRUE(ckpt.ok()) << ckpt.status();
  const Llama2cHeader& h = ckpt->header;
  EXPECT_EQ(h.dim, 64);
  EXPECT_EQ(h.hidden_dim, 172);
  EXPECT_EQ(h.n_layers, 5);
  EXPECT_EQ(h.n_heads, 8);
  EXPECT_EQ(h.n_kv_heads, 4);
  EXPECT_EQ(h.vocab_size, 512);
  EXPECT_EQ(h.seq_len, 512);
  EXPECT_TRUE(h.shared_classifier);
  const LlamaConfig config = Llama2cConfig(h);
  const std::vector<HfTensorSpec> specs = LlamaTensorSpecs(config);
  ASSERT_EQ(ckpt->tensors.size(), specs.size());
  std::map<std::string, const Tensor*> by_name;
  for (size_t i = 0; i < specs.size(); ++i) {
    EXPECT_EQ(ckpt->tensors[i].first, specs[i].name);
    EXPECT_EQ(ckpt->tensors[i].second.shape, specs[i].shape) << specs[i].name;
    by_name[ckpt->tensors[i].first] = &ckpt->tensors[i].second;
  }
  EXPECT_FALSE(by_name.count("lm_head.weight"));
  // Layer 1's wq starts after embed [512,64], rms_att [5,64] and layer 0's wq.
  const int64_t wq_offset = 512 * 64 + 5 * 64;
  std::vector<float> wq1 = RawFloats(wq_offset + 64 * 64, 64 * 64);
  std::vector<float> q1 = *ToF32(by_name.at("model.layers.1.self_attn.q_proj.weight")->view());
  EXPECT_NE(q1, wq1);  // Permuted...
  EXPECT_EQ(UnpermuteRotaryRows(q1, 8, 64, 64), wq1);  // ...and un-permuting gives the llama2.c rows back.
  const int64_t wk_offset = wq_offset + 5 * 64 * 64;
  std::vector<float> wk2 = RawFloats(wk_offset + 2 * 32 * 64, 32 * 64);
  std::vector<float> k2 = *ToF32(by_name.at("model.layers.2.self_attn.k_proj.weight")->view());
  EXPECT_EQ(UnpermuteRotaryRows(k2, 4, 32, 64), wk2);
  // v_proj is not permuted.
  std::vector<float> wv0 = RawFloats(wk_offset + 5 * 32 * 64, 32 * 64);
  EXPECT_EQ(*ToF32(by_name.at("model.layers.0.self_attn.v_proj.weight")->view()), wv0);
  EXPECT_EQ(CountParameters(config).total(), 260032);
}

TEST(Llama2cImportTest, ImportWritesLoadableModel) {
  SKIP_WITHOUT_DATA();
  TempDir tmp("ftd_l2c");
  const std::string out = tmp.file("model");
  absl::Status status = ImportLlama2c(kCkpt, kTok, out);
  ASSERT_TRUE(status.ok()) << status;
  absl::StatusOr<HfModel> model = LoadHfModel(out);
  ASSERT_TRUE(model.ok()) << model.status();
  const LlamaConfig& c = model->config;
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.intermediate_size, 172);
  EXPECT_EQ(c.num_hidden_layers, 5);
  EXPECT_EQ(c.num_attention_heads, 8);
  EXPECT_EQ(c.num_key_value_heads, 4);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position_embeddings, 512);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.bos_token_id, 1);
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.dtype, DType::kF32);
  EXPECT_TRUE(fs::exists(out + "/tokenizer.json"));
  EXPECT_TRUE(fs::exists(out + "/tokenizer_config.json"));
}

TEST(Llama2cImportTest, TruncatedCheckpointIsDataLoss) {
  SKIP_WITHOUT_DATA();
  TempDir tmp("ftd_l2c");
  const std::string path = tmp.file("truncated.bin");
  {
    std::ifstream in(kCkpt, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(path, std::ios::binary).write(bytes.data(), 5000);
  }
  absl::StatusOr<Llama2cCheckpoint> ckpt = ReadLlama2cCheckpoint(path);
  EXPECT_EQ(ckpt.status().code(), absl::StatusCode::kDataLoss) << ckpt.status();
  EXPECT_FALSE(ReadLlama2cTokenizer(kTok, 600).ok());  // Wrong vocab size: runs off the end.
}

// llama2.c run.c's encode(): dummy-prefix " " token, one token per UTF-8 character (byte fallback + 3
// otherwise), then repeatedly merge the adjacent pair whose concatenation has the highest score.
std::vector<int32_t> Llama2cEncode(const Llama2cTokenizer& tok, const std::string& text) {
  std::map<std::string, int32_t> ids;
  for (size_t i = 0; i < tok.pieces.size(); ++i) ids.emplace(tok.pieces[i], static_cast<int32_t>(i));
  std::vector<int32_t> tokens;
  if (!text.empty()) tokens.push_back(ids.at(" "));
  for (size_t i = 0; i < text.size();) {
    size_t len = 1;
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0xF0) len = 4;
    else if (c >= 0xE0) len = 3;
    else if (c >= 0xC0) len = 2;
    auto it = ids.find(text.substr(i, len));
    if (it != ids.end()) {
      tokens.push_back(it->second);
    } else {
      for (size_t j = 0; j < len; ++j) tokens.push_back(static_cast<unsigned char>(text[i + j]) + 3);
    }
    i += len;
  }
  while (true) {
    float best_score = -1e10f;
    int best_id = -1, best_idx = -1;
    for (size_t i = 0; i + 1 < tokens.size(); ++i) {
      auto it = ids.find(tok.pieces[tokens[i]] + tok.pieces[tokens[i + 1]]);
      if (it != ids.end() && tok.scores[it->second] > best_score) {
        best_score = tok.scores[it->second];
        best_id = it->second;
        best_idx = static_cast<int>(i);
      }
    }
    if (best_idx < 0) break;
    tokens[best_idx] = best_id;
    tokens.erase(tokens.begin() + best_idx + 1);
  }
  return tokens;
}

TEST(Llama2cImportTest, TokenizerJsonMatchesLlama2cEncoder) {
  SKIP_WITHOUT_DATA();
  absl::StatusOr<Llama2cTokenizer> tok = ReadLlama2cTokenizer(kTok, 512);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ(tok->max_token_length, 7);
  const std::vector<std::string> pieces = Llama2cHfPieces(*tok);
  EXPECT_EQ(pieces[1], "<s>");
  EXPECT_EQ(pieces[3], "<0x00>");
  EXPECT_EQ(pieces[259], "\u2581t");
  // The first merge is "▁ t" (the best-scored piece), as in Llama-2's own tokenizer.json.
  const auto merges = SentencePieceMerges(pieces, tok->scores);
  ASSERT_FALSE(merges.empty());
  EXPECT_EQ(merges[0], (std::pair<std::string, std::string>{"\u2581", "t"}));

  absl::StatusOr<std::unique_ptr<Tokenizer>> hf = Tokenizer::FromJson(Llama2cTokenizerJson(*tok));
  ASSERT_TRUE(hf.ok()) << hf.status();
  EXPECT_EQ((*hf)->kind(), "sentencepiece_bpe");
  EXPECT_EQ((*hf)->vocab_size(), 512);
  for (const std::string text : {"Once upon a time", "Once upon a time, there was a little girl named Lily.",
                                 "She loved to play outside in the park!", "Tom said: \"Wow, 42 cats\"",
                                 "caf\xc3\xa9 \xe2\x9c\x93 done"}) {
    std::vector<int32_t> want = Llama2cEncode(*tok, text);
    EXPECT_EQ((*hf)->Encode(text, /*add_special_tokens=*/false), want) << text;
    std::vector<int32_t> with_bos = {1};
    with_bos.insert(with_bos.end(), want.begin(), want.end());
    EXPECT_EQ((*hf)->Encode(text, /*add_special_tokens=*/true), with_bos) << text;
    EXPECT_EQ((*hf)->Decode(want), text);
  }
  // A text that starts with a space gets no second "▁" (transformers' LlamaTokenizer, and lm-eval through it, splits
  // WikiText's " = Robert Boulter = " so): ids from transformers 5.24 on this import.
  EXPECT_EQ((*hf)->Encode(" = Robert", /*add_special_tokens=*/true),
            (std::vector<int32_t>{1, 410, 64, 410, 461, 414, 430, 285, 413}));
  EXPECT_EQ((*hf)->Encode("  two", /*add_special_tokens=*/false)[0], 410);
}

}  // namespace
}  // namespace ftd
