// `messages` records -> ids and labels: the conversation rendered by the chat template and tokenized once, loss on
// exactly the assistant tokens and their end marker (also when a token straddles the answer's start, as Mistral's
// " " merges into the answer's first word), no extra eos, truncation, and errors that name the message index.
#include <algorithm>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/testing/temp_dir.h"
#include "worker/train/dataset.h"

namespace ftd {
namespace {

using json = nlohmann::json;

const std::string kByteLevelDir = std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tiny_llama";
const std::string kSentencePieceDir =
    std::string(FTD_SOURCE_DIR) + "/tests/fixtures/model_io/tokenizers/sp_bpe_metaspace";
// A real Llama-2 tokenizer (32000 pieces, so "▁Paris" is one token); optional, tests that need it skip without it.
const std::string kLlama2Dir = "/work/shared/data/tokenizers/llama";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The tokenizer in `dir` with `specials` added as special tokens after its last id, and every special token matched
// in the raw text (normalized: false): a small fixture tokenizer that knows the template's markers (<|eot_id|>,
// [INST], </s>) as the real model's tokenizer does.
absl::StatusOr<std::unique_ptr<Tokenizer>> WithSpecials(const std::string& dir,
                                                        const std::vector<std::string>& specials) {
  json root = json::parse(ReadFile(dir + "/tokenizer.json"), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded()) return absl::NotFoundError(absl::StrCat(dir, "/tokenizer.json: not readable JSON"));
  int64_t next = 0;
  for (const auto& [piece, id] : root["model"]["vocab"].items()) next = std::max<int64_t>(next, id.get<int64_t>() + 1);
  for (json& token : root["added_tokens"]) {
    next = std::max<int64_t>(next, token["id"].get<int64_t>() + 1);
    if (token["special"] == true) token["normalized"] = false;
  }
  for (const std::string& content : specials) {
    root["added_tokens"].push_back({{"id", next++}, {"content", content}, {"single_word", false}, {"lstrip", false},
                                    {"rstrip", false}, {"normalized", false}, {"special", true}});
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = Tokenizer::FromJson(root.dump());
  if (!tokenizer.ok()) return tokenizer.status();
  absl::StatusOr<TokenizerConfig> config = ParseTokenizerConfig(ReadFile(dir + "/tokenizer_config.json"));
  if (!config.ok()) return config.status();
  (*tokenizer)->set_config(*config);
  return tokenizer;
}

DatasetOptions ChatOptions(const std::string& template_name, int64_t sequence_len = 2048) {
  DatasetOptions options;
  options.sequence_len = sequence_len;
  options.chat_template = *ParseChatTemplate(template_name);
  return options;
}

std::string Record(const std::vector<std::pair<std::string, std::string>>& turns) {
  json messages = json::array();
  for (const auto& [role, content] : turns) messages.push_back({{"role", role}, {"content", content}});
  return json{{"messages", messages}}.dump();
}

// The labelled tokens, in order.
std::vector<int32_t> Labelled(const Example& e) {
  std::vector<int32_t> out;
  for (int32_t label : e.labels) {
    if (label != kIgnoreIndex) out.push_back(label);
  }
  return out;
}

// Indices of the labelled positions.
std::vector<size_t> LabelledAt(const Example& e) {
  std::vector<size_t> out;
  for (size_t i = 0; i < e.labels.size(); ++i) {
    if (e.labels[i] != kIgnoreIndex) out.push_back(i);
  }
  return out;
}

std::vector<int32_t> Concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

class ChatDatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<Tokenizer>> llama3 = WithSpecials(
        kByteLevelDir, {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>"});
    ASSERT_TRUE(llama3.ok()) << llama3.status();
    byte_level_ = *std::move(llama3);
    eot_ = *byte_level_->TokenToId("<|eot_id|>");
    im_end_ = *byte_level_->TokenToId("<|im_end|>");
  }
  std::unique_ptr<Tokenizer> byte_level_;
  int32_t eot_ = -1;
  int32_t im_end_ = -1;
};

TEST_F(ChatDatasetTest, Llama3LabelsExactlyTheAnswerAndItsEndMarker) {
  const std::string line = Record({{"user", "What is the capital of France?"}, {"assistant", "Paris."}});
  absl::StatusOr<Example> e = TokenizeRecord(line, *byte_level_, ChatOptions("llama3"));
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string text =
      "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>"
      "<|start_header_id|>assistant<|end_header_id|>\n\nParis.<|eot_id|>";
  // Tokenized once, without adding a second BOS, and no eos after the end-of-turn marker.
  EXPECT_EQ(e->input_ids, byte_level_->Encode(text, false));
  EXPECT_EQ(e->input_ids.front(), *byte_level_->TokenToId("<|begin_of_text|>"));
  EXPECT_EQ(e->input_ids.back(), eot_);
  const std::vector<int32_t> answer = Concat(byte_level_->Encode("Paris.", false), {eot_});
  EXPECT_EQ(Labelled(*e), answer);
  // ... and they are the last tokens, contiguous.
  const std::vector<size_t> at = LabelledAt(*e);
  ASSERT_EQ(at.size(), answer.size());
  EXPECT_EQ(at.back(), e->input_ids.size() - 1);
  EXPECT_EQ(at.front(), e->input_ids.size() - answer.size());
}

TEST_F(ChatDatasetTest, MultiTurnLabelsEveryAnswerAndNothingElse) {
  const std::string line = Record({{"system", "You are a patient maths tutor."},
                                   {"user", "What is 7 times 8?"},
                                   {"assistant", "  56. "},  // llama3 trims: the label is "56.".
                                   {"user", "And 56 divided by 4?"},
                                   {"assistant", "14."}});
  absl::StatusOr<Example> e = TokenizeRecord(line, *byte_level_, ChatOptions("llama3"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(Labelled(*e), Concat(Concat(byte_level_->Encode("56.", false), {eot_}),
                                 Concat(byte_level_->Encode("14.", false), {eot_})));
  EXPECT_EQ(Labelled(*e).size(), LabelledAt(*e).size());
  // System and user text never scores: every <|eot_id|> but the answers' two is ignored.
  int labelled_eot = 0;
  int eot = 0;
  for (size_t i = 0; i < e->input_ids.size(); ++i) {
    if (e->input_ids[i] != eot_) continue;
    ++eot;
    labelled_eot += e->labels[i] == eot_ ? 1 : 0;
  }
  EXPECT_EQ(eot, 5);
  EXPECT_EQ(labelled_eot, 2);
}

TEST_F(ChatDatasetTest, ChatMlWithDefaultSystemLabelsTheAnswerAndImEnd) {
  const std::string line = Record({{"user", "Hi"}, {"assistant", "Hello there"}});
  absl::StatusOr<Example> e = TokenizeRecord(line, *byte_level_, ChatOptions("qwen2.5"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(Labelled(*e), Concat(byte_level_->Encode("Hello there", false), {im_end_}));
  // The template's last "\n" after <|im_end|> is context, so the example ends with an unlabelled token.
  EXPECT_EQ(e->labels.back(), kIgnoreIndex);
  EXPECT_EQ(byte_level_->Decode(e->input_ids).substr(0, 33), "<|im_start|>system\nYou are Qwen, ");
}

TEST_F(ChatDatasetTest, FormatIsDetectedByTheMessagesKeyAndCanBeForced) {
  const std::string line = Record({{"user", "Hi"}, {"assistant", "Yo"}});
  DatasetOptions options = ChatOptions("chatml");
  ASSERT_TRUE(TokenizeRecord(line, *byte_level_, options).ok());
  options.format = RecordFormat::kMessages;
  ASSERT_TRUE(TokenizeRecord(line, *byte_level_, options).ok());
  EXPECT_EQ(TokenizeRecord(R"({"text": "hi"})", *byte_level_, options).status().message(),
            "unknown keys \"text\" for a messages record");
  options.format = RecordFormat::kText;
  EXPECT_EQ(TokenizeRecord(line, *byte_level_, options).status().message(),
            "unknown keys \"messages\" for a text record");
}

TEST_F(ChatDatasetTest, TruncationKeepsTheLabelsOfWhatIsLeft) {
  const std::string line = Record({{"user", "Hi"}, {"assistant", "a rather long answer that will not fit"}});
  absl::StatusOr<Example> whole = TokenizeRecord(line, *byte_level_, ChatOptions("llama3"));
  ASSERT_TRUE(whole.ok()) << whole.status();
  const size_t first_answer = LabelledAt(*whole).front();
  const auto cut = static_cast<int64_t>(first_answer + 3);
  absl::StatusOr<Example> e = TokenizeRecord(line, *byte_level_, ChatOptions("llama3", cut));
  ASSERT_TRUE(e.ok()) << e.status();
  ASSERT_EQ(e->input_ids.size(), static_cast<size_t>(cut));
  EXPECT_EQ(e->input_ids, std::vector<int32_t>(whole->input_ids.begin(), whole->input_ids.begin() + cut));
  EXPECT_EQ(e->labels, std::vector<int32_t>(whole->labels.begin(), whole->labels.begin() + cut));

  // Cut before the answer: nothing to learn (a drop in the loader, not a malformed line).
  e = TokenizeRecord(line, *byte_level_, ChatOptions("llama3", static_cast<int64_t>(first_answer)));
  EXPECT_EQ(e.status().message(), absl::StrCat("no token to train on after truncation to sequence_len ",
                                               first_answer,
                                               " (the conversation before the first assistant answer fills it)"));
}

TEST_F(ChatDatasetTest, ErrorsNameTheMessage) {
  struct Case {
    std::string line;
    std::string message;
  };
  const std::vector<Case> cases = {
      {R"({"messages": "hi"})", "\"messages\" must be a list, got string"},
      {R"({"messages": []})", "messages: the conversation is empty"},
      {R"({"messages": [{"role": "user", "content": "a"}, "b"]})",
       "messages[1]: expected an object {role, content}, got string"},
      {R"({"messages": [{"role": "user"}]})", "messages[0]: missing \"content\""},
      {R"({"messages": [{"role": "user", "content": "a"}, {"role": 3, "content": "b"}]})",
       "messages[1]: \"role\" must be a string, got number"},
      {R"({"messages": [{"role": "user", "content": null}]})", "messages[0]: \"content\" must be a string, got null"},
      {R"({"messages": [{"role": "user", "content": "a", "name": "bob"}]})",
       "messages[0]: unknown keys \"name\" (expected role, content)"},
      {Record({{"user", "a"}, {"assistant", "b"}, {"bot", "c"}}),
       "messages[2]: unknown role \"bot\"; expected system, user or assistant"},
      {R"({"messages": [{"role": "user", "content": "a"}]})",
       "\"messages\" has no assistant message: nothing to learn"},
      {R"({"messages": [], "text": "a"})", "has both \"text\" and \"messages\": which one to train on?"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Example> e = TokenizeRecord(c.line, *byte_level_, ChatOptions("llama3"));
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << c.line;
    EXPECT_EQ(e.status().message(), c.message) << c.line;
  }
  // The template's own rule (Mistral: strict alternation) names the message too.
  absl::StatusOr<Example> e = TokenizeRecord(Record({{"user", "a"}, {"user", "b"}, {"assistant", "c"}}),
                                             *byte_level_, ChatOptions("mistral"));
  EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(e.status().message().substr(0, 13), "messages[1]: ") << e.status();
}

TEST_F(ChatDatasetTest, MessagesWithoutAChatTemplateFailTheLoad) {
  const std::string line = Record({{"user", "Hi"}, {"assistant", "Yo"}});
  EXPECT_EQ(TokenizeRecord(line, *byte_level_, {}).status().message(),
            "chat_template: required for a \"messages\" record (one of llama3, chatml, qwen2.5, smollm2, mistral)");
  TempDir tmp("ftd_chat_dataset");
  const std::string path = tmp.file("chats.jsonl");
  std::ofstream(path) << R"({"text": "one"})" << "\n" << line << "\n";
  DatasetOptions lenient;
  lenient.max_bad_line_fraction = 1;  // Not a malformed line: the job's mistake fails the load whatever the limit.
  const absl::Status status = LoadDataset(path, *byte_level_, lenient).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), absl::StrCat("chat_template: required because ", path,
                                           ":2 is a \"messages\" record (set one of llama3, chatml, qwen2.5, smollm2, "
                                           "mistral)"));
}

// Token pieces, for failure messages.
std::string Pieces(const Tokenizer& tokenizer, const std::vector<int32_t>& ids) {
  std::string out;
  for (int32_t id : ids) absl::StrAppend(&out, out.empty() ? "" : " | ", tokenizer.IdToToken(id).value_or("?"));
  return out;
}

// Mistral's " " before the answer is context in the template's segments, but a SentencePiece tokenizer merges it
// into the answer's first piece ("▁Paris"): that token counts as the answer's, as HF's char_to_token on the
// answer's first character does.
void ExpectStraddlingTokenIsTrainable(const Tokenizer& tokenizer, const std::string& answer) {
  const std::string line = Record({{"user", "What is the capital of France?"}, {"assistant", answer}});
  absl::StatusOr<Example> e = TokenizeRecord(line, tokenizer, ChatOptions("mistral"));
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string context = "<s>[INST] What is the capital of France?[/INST] ";
  const std::vector<int32_t> full = tokenizer.Encode(context + answer + "</s>", false);
  ASSERT_EQ(e->input_ids, full);
  const int32_t close = *tokenizer.TokenToId("[/INST]");
  const auto after_inst = static_cast<size_t>(std::find(full.begin(), full.end(), close) - full.begin()) + 1;
  ASSERT_LT(after_inst, full.size());
  // The premise: the context alone ends in a piece the whole text does not have there (the lone "▁").
  const std::vector<int32_t> prefix = tokenizer.Encode(context, false);
  ASSERT_GT(prefix.size(), after_inst);
  ASSERT_NE(prefix[after_inst], full[after_inst]) << "the \" \" did not merge into the answer's first token: "
                                                  << Pieces(tokenizer, full) << " vs "
                                                  << Pieces(tokenizer, prefix);
  EXPECT_EQ(tokenizer.IdToToken(full[after_inst]).value_or("").substr(0, 3), "\xe2\x96\x81");  // "▁..."
  // Labels: from that first answer token through </s>, nothing before.
  std::vector<size_t> want;
  for (size_t i = after_inst; i < full.size(); ++i) want.push_back(i);
  EXPECT_EQ(LabelledAt(*e), want);
  EXPECT_EQ(e->input_ids.back(), *tokenizer.TokenToId("</s>"));
}

TEST(ChatDatasetMistralTest, StraddlingTokenIsTrainableWithTheFixtureTokenizer) {
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = WithSpecials(kSentencePieceDir, {"[INST]", "[/INST]"});
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  ExpectStraddlingTokenIsTrainable(**tokenizer, "the model.");  // Its small vocabulary has "▁the", not "▁Paris".
}

// A legacy SentencePiece tokenizer (Llama-2's Prepend normalizer, as Mistral-7B-v0.1 had; v0.3, whose template
// "mistral" renders, has the Metaspace form above) writes " Paris" after [/INST] as "▁" "▁Paris", and the context
// alone ends in "▁▁": the common-prefix rule then starts the labels at that lone "▁", one piece earlier than HF's
// char_to_token on "P" would. Pinned here so that a change to the rule or the tokenizer shows.
TEST(ChatDatasetMistralTest, LegacyPrependTokenizerAlsoLabelsTheLoneSpacePiece) {
  if (!std::ifstream(kLlama2Dir + "/tokenizer.json").good()) {
    GTEST_SKIP() << kLlama2Dir << " is absent (shared data tokenizers not installed)";
  }
  absl::StatusOr<std::unique_ptr<Tokenizer>> tokenizer = WithSpecials(kLlama2Dir, {"[INST]", "[/INST]"});
  ASSERT_TRUE(tokenizer.ok()) << tokenizer.status();
  const Tokenizer& t = **tokenizer;
  absl::StatusOr<Example> e =
      TokenizeRecord(Record({{"user", "Hi"}, {"assistant", "Paris."}}), t, ChatOptions("mistral"));
  ASSERT_TRUE(e.ok()) << e.status();
  const std::string space = "\xe2\x96\x81";  // "▁"
  std::vector<std::string> labelled;
  for (size_t i : LabelledAt(*e)) labelled.push_back(t.IdToToken(e->input_ids[i]).value_or("?"));
  EXPECT_EQ(labelled, (std::vector<std::string>{space, space + "Paris", ".", "</s>"})) << Pieces(t, e->input_ids);
  const std::vector<int32_t> context = t.Encode("<s>[INST] Hi[/INST] ", false);
  EXPECT_EQ(t.IdToToken(context.back()), space + space) << Pieces(t, context);
}

}  // namespace
}  // namespace ftd
