// Tokenizer tests: hand-checked ids on the real HF files in ../shared/data (skipped when absent), parity with
// HF tokenizers' ids from tests/fixtures/model_io/token_ids/*.jsonl, config parsing and malformed input.
#include "model/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ftd {
namespace {

namespace fs = std::filesystem;

const fs::path kSharedTokenizers = fs::path(FTD_SOURCE_DIR "/../shared/data/tokenizers");
const fs::path kFixtures = fs::path(FTD_SOURCE_DIR "/tests/fixtures/model_io");

bool Contains(absl::string_view haystack, absl::string_view needle) {
  return haystack.find(needle) != absl::string_view::npos;
}

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Loads ../shared/data/tokenizers/<name>; null (and the caller skips) when the shared data is absent.
std::unique_ptr<Tokenizer> LoadShared(const std::string& name) {
  const fs::path dir = kSharedTokenizers / name;
  if (!fs::exists(dir / "tokenizer.json")) return nullptr;
  auto tokenizer = Tokenizer::FromDir(dir.string());
  EXPECT_TRUE(tokenizer.ok()) << tokenizer.status();
  return tokenizer.ok() ? *std::move(tokenizer) : nullptr;
}

#define LOAD_SHARED_OR_SKIP(var, name)                                                       \
  std::unique_ptr<Tokenizer> var = LoadShared(name);                                         \
  if (var == nullptr) {                                                                      \
    GTEST_SKIP() << "no " << (kSharedTokenizers / name).string() << " (shared data absent)"; \
  }

TEST(TokenizerRealFiles, Gpt2HelloWorld) {
  LOAD_SHARED_OR_SKIP(tok, "gpt2");
  EXPECT_EQ(tok->kind(), "byte_level_bpe");
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->TokenToId("Hello"), 15496);
  EXPECT_EQ(tok->Encode("Hello world"), (std::vector<int32_t>{15496, 995}));
  // The ByteLevel post-processor adds nothing; <|endoftext|> is split out of the text as one id.
  EXPECT_EQ(tok->Encode("Hello<|endoftext|> Hello"), (std::vector<int32_t>{15496, 50256, 18435}));
  EXPECT_EQ(tok->Encode("\n"), (std::vector<int32_t>{198}));
  EXPECT_TRUE(tok->IsSpecial(50256));
  EXPECT_FALSE(tok->IsSpecial(15496));
  EXPECT_EQ(tok->Decode({15496, 50256, 18435}), "Hello<|endoftext|> Hello");
  EXPECT_EQ(tok->Decode({15496, 50256, 18435}, /*skip_special_tokens=*/true), "Hello Hello");
  EXPECT_EQ(tok->config().model_max_length, 1024);
}

TEST(TokenizerRealFiles, Gpt2RoundTripsUnicode) {
  LOAD_SHARED_OR_SKIP(tok, "gpt2");
  for (const std::string text :
       {"naïve café 😀 日本語", "  two  spaces\t\ttabs\n\n", "x = f(a[1], 2**3) # ok", "12345 67.89", ""}) {
    EXPECT_EQ(tok->Decode(tok->Encode(text)), text);
  }
}

TEST(TokenizerRealFiles, LlamaAddsBos) {
  LOAD_SHARED_OR_SKIP(tok, "llama");
  EXPECT_EQ(tok->kind(), "sentencepiece_bpe");
  EXPECT_EQ(tok->TokenToId("▁Hello"), 15043);
  EXPECT_EQ(tok->Encode("Hello world"), (std::vector<int32_t>{1, 15043, 3186}));
  EXPECT_EQ(tok->Encode("Hello world", /*add_special_tokens=*/false), (std::vector<int32_t>{15043, 3186}));
  EXPECT_EQ(tok->Decode({1, 15043, 3186}), "<s> Hello world");
  EXPECT_EQ(tok->Decode({1, 15043, 3186}, /*skip_special_tokens=*/true), "Hello world");
  const TokenizerConfig& config = tok->config();
  EXPECT_EQ(config.bos_token, "<s>");
  EXPECT_EQ(config.eos_token, "</s>");
  EXPECT_EQ(config.unk_token, "<unk>");
  EXPECT_FALSE(config.pad_token.has_value());
  EXPECT_EQ(config.add_bos_token, true);
  EXPECT_EQ(config.add_eos_token, false);
  EXPECT_EQ(config.model_max_length, 2048);
}

TEST(TokenizerRealFiles, LlamaByteFallbackOnEmoji) {
  LOAD_SHARED_OR_SKIP(tok, "llama");
  // U+1F600 is F0 9F 98 80 and not in the vocab: "▁" then one <0xXX> token per byte.
  ASSERT_EQ(tok->TokenToId("<0xF0>"), 243);
  EXPECT_EQ(tok->Encode("😀", false), (std::vector<int32_t>{29871, 243, 162, 155, 131}));
  EXPECT_EQ(tok->Decode({29871, 243, 162, 155, 131}), "😀");
  // A lone continuation byte decodes to U+FFFD.
  EXPECT_EQ(tok->Decode({15043, 162}), "Hello\xEF\xBF\xBD");
  for (const std::string text : {"naïve café 😀 日本語", "  two  spaces", "a\nb\tc", "12345 67.89"}) {
    EXPECT_EQ(tok->Decode(tok->Encode(text), /*skip_special_tokens=*/true), text);
  }
}

TEST(TokenizerRealFiles, Phi3MiniHasNoBos) {
  LOAD_SHARED_OR_SKIP(tok, "phi3_mini");
  EXPECT_EQ(tok->Encode("Hello world"), (std::vector<int32_t>{15043, 3186}));
  EXPECT_EQ(tok->TokenToId("<|user|>"), 32010);
  EXPECT_TRUE(tok->IsSpecial(32010));
  EXPECT_EQ(tok->vocab_size(), 32011);
  EXPECT_EQ(tok->config().add_bos_token, false);
  EXPECT_FALSE(tok->config().chat_template.empty());
}

TEST(TokenizerRealFiles, Phi2SplitsWhitespaceRunTokens) {
  LOAD_SHARED_OR_SKIP(tok, "phi2");
  const std::optional<int32_t> two_tabs = tok->TokenToId("\t\t");
  ASSERT_EQ(two_tabs, 50294);
  const std::vector<int32_t> ids = tok->Encode("a\t\tb", false);
  EXPECT_NE(std::find(ids.begin(), ids.end(), 50294), ids.end()) << absl::StrJoin(ids, ",");
  EXPECT_EQ(tok->Decode(ids), "a\t\tb");
}

TEST(TokenizerRealFiles, Gpt2LargeTextRoundTrips) {
  LOAD_SHARED_OR_SKIP(tok, "gpt2");
  const fs::path path = kSharedTokenizers.parent_path() / "text/tinyshakespeare.txt";
  if (!fs::exists(path)) GTEST_SKIP() << "no " << path.string();
  const std::string text = ReadText(path);
  const std::vector<int32_t> ids = tok->Encode(text);
  EXPECT_GT(ids.size(), text.size() / 8);
  EXPECT_EQ(tok->Decode(ids), text);
}

TEST(TokenizerRealFiles, RefusesUnigramByName) {
  const fs::path path = kSharedTokenizers / "t5_small/tokenizer.json";
  if (!fs::exists(path)) GTEST_SKIP() << "no " << path.string();
  auto tok = Tokenizer::FromFile(path.string());
  ASSERT_FALSE(tok.ok());
  EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_PRED2(Contains, tok.status().message(), "model.type: unsupported tokenizer model \"Unigram\"");
}

// A tiny hermetic byte-level BPE: "Ġ" is the byte-level form of a space.
constexpr char kTinyByteLevel[] = R"({
  "added_tokens": [{"id": 7, "content": "<eos>", "special": true, "normalized": false,
                    "lstrip": false, "rstrip": false, "single_word": false}],
  "normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing", "single": [{"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<eos>", "type_id": 0}}],
                     "special_tokens": {"<eos>": {"id": "<eos>", "ids": [7], "tokens": ["<eos>"]}}},
  "decoder": {"type": "ByteLevel"},
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "Ġ": 2, "ab": 3, "Ġab": 4, "c": 5, "abc": 6},
            "merges": [["a", "b"], "Ġ ab", "ab c"]}
})";

TEST(TokenizerTiny, MergesByRank) {
  auto tok = Tokenizer::FromJson(kTinyByteLevel);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->Encode("ab abc", false), (std::vector<int32_t>{3, 4, 5}));
  EXPECT_EQ((*tok)->Encode("abc<eos>", true), (std::vector<int32_t>{6, 7, 7}));
  EXPECT_EQ((*tok)->Decode({3, 4, 5, 7}, true), "ab abc");
  EXPECT_EQ((*tok)->vocab_size(), 8);
  EXPECT_EQ((*tok)->IdToToken(4), "Ġab");
}

TEST(TokenizerMalformed, Errors) {
  const struct {
    std::string json;
    std::string message;
  } cases[] = {
      {"{", "not valid JSON"},
      {R"({"added_tokens": []})", "model: missing"},
      {R"({"model": {"type": "Unigram", "vocab": [["a", 0.0]]}})",
       "model.type: unsupported tokenizer model \"Unigram\""},
      {R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})", "unsupported tokenizer model \"WordPiece\""},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a"]}})",
       "model.merges[0]: merge \"a\" is not two tokens"},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a z"]}})",
       "model.merges[0]: merge token \"z\""},
      {R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}})", "model.merges[0]"},
      {R"({"normalizer": {"type": "Precompiled"}, "model": {"type": "BPE", "vocab": {}, "merges": []}})",
       "normalizer.type: unsupported normalizer \"Precompiled\""},
      {R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "BertPreTokenizer"}]},
           "model": {"type": "BPE", "vocab": {}, "merges": []}})",
       "pre_tokenizer.pretokenizers[0].type: unsupported pre-tokenizer \"BertPreTokenizer\""},
      {R"({"model": {"type": "BPE", "vocab": {}, "merges": [], "unk_token": "<unk>"}})", "model.unk_token"},
  };
  for (const auto& c : cases) {
    auto tok = Tokenizer::FromJson(c.json);
    ASSERT_FALSE(tok.ok()) << c.json;
    EXPECT_EQ(tok.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_PRED2(Contains, tok.status().message(), c.message) << c.json;
  }
}

TEST(TokenizerConfigTest, ParsesFieldsInBothForms) {
  auto config = ParseTokenizerConfig(R"({
    "bos_token": {"__type": "AddedToken", "content": "<s>"}, "eos_token": "</s>", "pad_token": null,
    "add_bos_token": true, "model_max_length": 1000000000000000019884624838656,
    "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->bos_token, "<s>");
  EXPECT_EQ(config->eos_token, "</s>");
  EXPECT_FALSE(config->pad_token.has_value());
  EXPECT_FALSE(config->unk_token.has_value());
  EXPECT_EQ(config->add_bos_token, true);
  EXPECT_FALSE(config->add_eos_token.has_value());
  EXPECT_EQ(config->chat_template, "D");
  EXPECT_EQ(config->model_max_length, 0);

  auto plain = ParseTokenizerConfig(R"({"chat_template": "{{ x }}", "model_max_length": 4096})");
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->chat_template, "{{ x }}");
  EXPECT_EQ(plain->model_max_length, 4096);

  EXPECT_FALSE(ParseTokenizerConfig("[").ok());
  EXPECT_FALSE(ParseTokenizerConfig(R"({"add_bos_token": "yes"})").ok());
}

// Parity with HF tokenizers: every tests/fixtures/model_io/token_ids/<name>.jsonl line's ids, ids without
// special tokens and decoded text, for the tokenizer at tests/fixtures/model_io/tokenizers/<name> or else
// ../shared/data/tokenizers/<name>.
TEST(TokenizerParity, MatchesHfTokenizersFixtures) {
  const fs::path ids_dir = kFixtures / "token_ids";
  if (!fs::is_directory(ids_dir)) GTEST_SKIP() << "no fixtures at " << ids_dir.string();
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(ids_dir)) {
    if (entry.path().extension() == ".jsonl") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_FALSE(files.empty()) << "no .jsonl files in " << ids_dir.string();
  int checked_files = 0;
  for (const fs::path& file : files) {
    const std::string name = file.stem().string();
    fs::path tokenizer_path = kFixtures / "tokenizers" / name / "tokenizer.json";
    if (!fs::exists(tokenizer_path)) tokenizer_path = kSharedTokenizers / name / "tokenizer.json";
    if (!fs::exists(tokenizer_path)) {
      std::cout << "[ NOTE ] skipping " << name << ": no tokenizer (shared data absent)\n";
      continue;
    }
    auto tok = Tokenizer::FromFile(tokenizer_path.string());
    ASSERT_TRUE(tok.ok()) << name << ": " << tok.status();
    std::istringstream lines(ReadText(file));
    std::string line;
    int total = 0, mismatched = 0;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      const nlohmann::json row = nlohmann::json::parse(line, nullptr, false);
      ASSERT_FALSE(row.is_discarded()) << file << ": bad line " << line;
      const std::string text = row.at("text").get<std::string>();
      const auto ids = row.at("ids").get<std::vector<int32_t>>();
      const auto ids_no_special = row.at("ids_no_special").get<std::vector<int32_t>>();
      const std::string decoded = row.at("decoded").get<std::string>();
      ++total;
      const std::vector<int32_t> got = (*tok)->Encode(text, true);
      const std::vector<int32_t> got_plain = (*tok)->Encode(text, false);
      const std::string got_decoded = (*tok)->Decode(ids, false);
      if (got == ids && got_plain == ids_no_special && got_decoded == decoded) continue;
      ++mismatched;
      if (mismatched <= 5) {
        ADD_FAILURE()
            << name << ": text " << nlohmann::json(text).dump() << "\n  ids      want ["
            << absl::StrJoin(ids, ",") << "]\n           got  [" << absl::StrJoin(got, ",")
            << "]\n  no_spec  want [" << absl::StrJoin(ids_no_special, ",") << "]\n           got  ["
            << absl::StrJoin(got_plain, ",") << "]\n  decoded  want " << nlohmann::json(decoded).dump()
            << "\n           got  "
            << nlohmann::json(got_decoded).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
      }
    }
    std::cout << "[ PARITY ] " << name << ": " << (total - mismatched) << "/" << total << " lines match\n";
    EXPECT_EQ(mismatched, 0) << name;
    ++checked_files;
  }
  if (checked_files == 0) GTEST_SKIP() << "no fixture had its tokenizer available";
}

}  // namespace
}  // namespace ftd
