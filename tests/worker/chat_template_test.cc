// worker/data/chat_template against transformers' own renderings (tests/fixtures/chat_templates, written by
// gen_chat_templates.py from the models' real chat templates): byte-equal text, the assistant-token spans, and the
// template's errors; plus the contract's own errors.
#include "worker/data/chat_template.h"

#include <cstdint>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

#ifndef FTD_SOURCE_DIR
#error "chat_template_test needs FTD_SOURCE_DIR (target_compile_definitions)"
#endif

namespace ftd {
namespace {

using json = nlohmann::json;
using ::testing::HasSubstr;
using Spans = std::vector<std::pair<int64_t, int64_t>>;

std::string FixturePath(const std::string& name) {
  return absl::StrCat(FTD_SOURCE_DIR, "/tests/fixtures/chat_templates/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// rendered.jsonl, one object a line (the file escapes every non-ASCII character, so '\n' splits lines).
std::vector<json> ReadRows() {
  std::vector<json> rows;
  std::istringstream in(ReadFile(FixturePath("rendered.jsonl")));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

std::vector<ChatMessage> Messages(const json& row) {
  std::vector<ChatMessage> out;
  for (const json& m : row.at("messages")) {
    out.push_back(ChatMessage{m.at("role").get<std::string>(), m.at("content").get<std::string>()});
  }
  return out;
}

// [start, end) byte offsets of the trainable segments.
Spans TrainableSpans(const std::vector<ChatSegment>& segments) {
  Spans spans;
  int64_t pos = 0;
  for (const ChatSegment& s : segments) {
    const int64_t end = pos + static_cast<int64_t>(s.text.size());
    if (s.trainable) spans.emplace_back(pos, end);
    pos = end;
  }
  return spans;
}

Spans JsonSpans(const json& spans) {
  Spans out;
  for (const json& s : spans) out.emplace_back(s.at(0).get<int64_t>(), s.at(1).get<int64_t>());
  return out;
}

// Code points in text[0, byte_offset): the fixture's character offsets.
int64_t CodePoints(const std::string& text, int64_t byte_offset) {
  int64_t n = 0;
  for (int64_t i = 0; i < byte_offset; ++i) n += (static_cast<uint8_t>(text[i]) & 0xC0) != 0x80;
  return n;
}

std::vector<ChatSegment> RenderOk(const std::string& name, const std::vector<ChatMessage>& messages) {
  absl::StatusOr<ChatTemplate> t = ParseChatTemplate(name);
  EXPECT_TRUE(t.ok()) << t.status();
  if (!t.ok()) return {};
  absl::StatusOr<std::vector<ChatSegment>> segments = RenderChat(*t, messages);
  EXPECT_TRUE(segments.ok()) << name << ": " << segments.status();
  return segments.ok() ? *segments : std::vector<ChatSegment>{};
}

absl::Status RenderStatus(const std::string& name, const std::vector<ChatMessage>& messages) {
  absl::StatusOr<ChatTemplate> t = ParseChatTemplate(name);
  if (!t.ok()) return t.status();
  return RenderChat(*t, messages).status();
}

TEST(ChatTemplateTest, FixtureRowsMatchTransformers) {
  const std::vector<json> rows = ReadRows();
  ASSERT_GE(rows.size(), 80u) << "regenerate with tests/fixtures/gen_chat_templates.py";
  std::map<std::string, int> per_template;
  int errors = 0;
  int spans_checked = 0;
  for (const json& row : rows) {
    const std::string name = row.at("template").get<std::string>();
    const std::string where = absl::StrCat(name, "/", row.at("case").get<std::string>());
    ++per_template[name];
    absl::StatusOr<ChatTemplate> t = ParseChatTemplate(name);
    ASSERT_TRUE(t.ok()) << where << ": " << t.status();
    absl::StatusOr<std::vector<ChatSegment>> segments = RenderChat(*t, Messages(row));
    if (row.contains("error")) {
      ++errors;
      EXPECT_EQ(segments.status().code(), absl::StatusCode::kInvalidArgument) << where;
      EXPECT_THAT(segments.status().message(), HasSubstr(row.at("error").get<std::string>())) << where;
      continue;
    }
    ASSERT_TRUE(segments.ok()) << where << ": " << segments.status();
    const std::string text = row.at("text").get<std::string>();
    EXPECT_EQ(JoinChatSegments(*segments), text) << where;
    for (size_t i = 0; i < segments->size(); ++i) {
      EXPECT_FALSE((*segments)[i].text.empty()) << where << " segment " << i;
      if (i > 0) {
        EXPECT_NE((*segments)[i].trainable, (*segments)[i - 1].trainable) << where << " segment " << i;
      }
    }
    const Spans bytes = TrainableSpans(*segments);
    EXPECT_EQ(bytes, JsonSpans(row.at("trainable_bytes"))) << where;
    Spans chars;
    for (const auto& [a, b] : bytes) chars.emplace_back(CodePoints(text, a), CodePoints(text, b));
    EXPECT_EQ(chars, JsonSpans(row.at("trainable_chars"))) << where;
    spans_checked += static_cast<int>(bytes.size());
  }
  // Every named model template is covered, and the mistral rows include the template's raises.
  for (const char* name : {"llama3", "qwen2.5", "smollm2", "mistral"}) EXPECT_GE(per_template[name], 20) << name;
  EXPECT_GE(errors, 5);
  EXPECT_GE(spans_checked, 100);
}

// Plain ChatML has no model of its own to record: it is Qwen2.5's rendering without the default system turn.
TEST(ChatTemplateTest, PlainChatMlIsQwenWithoutTheDefaultSystemTurn) {
  const std::string header =
      "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n";
  int checked = 0;
  for (const json& row : ReadRows()) {
    if (row.at("template") != "qwen2.5" || row.contains("error")) continue;
    const std::vector<ChatMessage> messages = Messages(row);
    const std::vector<ChatSegment> segments = RenderOk("chatml", messages);
    std::string want = row.at("text").get<std::string>();
    Spans want_spans = JsonSpans(row.at("trainable_bytes"));
    if (messages.front().role != "system") {
      ASSERT_EQ(want.rfind(header, 0), 0u) << row.at("case");
      want = want.substr(header.size());
      for (auto& [a, b] : want_spans) a -= header.size(), b -= header.size();
    }
    EXPECT_EQ(JoinChatSegments(segments), want) << row.at("case");
    EXPECT_EQ(TrainableSpans(segments), want_spans) << row.at("case");
    ++checked;
  }
  EXPECT_GE(checked, 20);
}

// llama3 and mistral trim with Python's str.strip(): exactly the code points str.isspace() accepts, which the
// fixture script recorded from the Python that rendered the references.
TEST(ChatTemplateTest, TrimStripsExactlyPythonWhitespace) {
  const json meta = json::parse(ReadFile(FixturePath("meta.json")));
  std::set<uint32_t> whitespace;
  for (const json& cp : meta.at("python_whitespace")) whitespace.insert(cp.get<uint32_t>());
  ASSERT_EQ(whitespace.size(), 29u);
  auto utf8 = [](uint32_t cp) {
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return s;
  };
  // Every whitespace code point, and a sample of near misses (zero-width, BOM, Mongolian vowel separator, ...).
  std::vector<uint32_t> probes(whitespace.begin(), whitespace.end());
  for (uint32_t cp : {0x08u, 0x1Bu, 0x21u, 0x84u, 0x86u, 0x9Fu, 0xA1u, 0x180Eu, 0x200Bu, 0x200Cu, 0x2027u, 0x202Au,
                      0x2060u, 0x3001u, 0xFEFFu, 0x1F600u}) {
    probes.push_back(cp);
  }
  for (uint32_t cp : probes) {
    const std::string pad = utf8(cp) + utf8(cp);
    for (const char* name : {"llama3", "mistral"}) {
      const std::vector<ChatSegment> segments =
          RenderOk(name, {{"user", "q"}, {"assistant", pad + "answer" + pad}});
      const std::string want_content = whitespace.count(cp) ? "answer" : pad + "answer" + pad;
      const std::string eot = std::string(name) == "llama3" ? "<|eot_id|>" : "</s>";
      ASSERT_FALSE(segments.empty());
      EXPECT_EQ(segments.back().text, want_content + eot) << name << " U+" << std::hex << cp;
    }
  }
}

TEST(ChatTemplateTest, ParseKnowsTheNamesAndListsThemOnError) {
  for (const std::string& name : ChatTemplateNames()) {
    absl::StatusOr<ChatTemplate> t = ParseChatTemplate(name);
    ASSERT_TRUE(t.ok()) << name;
    EXPECT_EQ(t->name, name);
  }
  EXPECT_EQ(ParseChatTemplate("llama3")->format, ChatFormat::kLlama3);
  EXPECT_EQ(ParseChatTemplate("mistral")->format, ChatFormat::kMistral);
  EXPECT_FALSE(ParseChatTemplate("chatml")->default_system.has_value());
  EXPECT_TRUE(ParseChatTemplate("qwen2.5")->default_system.has_value());
  EXPECT_NE(*ParseChatTemplate("qwen2.5")->default_system, *ParseChatTemplate("smollm2")->default_system);
  for (const char* bad : {"", "Llama3", "llama-3", "qwen", "zephyr"}) {
    absl::StatusOr<ChatTemplate> t = ParseChatTemplate(bad);
    EXPECT_EQ(t.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(t.status().message(), HasSubstr("llama3, chatml, qwen2.5, smollm2, mistral")) << bad;
  }
}

TEST(ChatTemplateTest, RejectsEmptyConversationsUnknownRolesAndBadUtf8) {
  for (const std::string& name : ChatTemplateNames()) {
    absl::Status empty = RenderStatus(name, {});
    EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(empty.message(), HasSubstr("empty")) << name;

    absl::Status tool = RenderStatus(name, {{"user", "q"}, {"tool", "42"}});
    EXPECT_EQ(tool.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(tool.message(), HasSubstr("messages[1]: unknown role \"tool\"")) << name;

    absl::Status upper = RenderStatus(name, {{"User", "q"}});
    EXPECT_THAT(upper.message(), HasSubstr("messages[0]: unknown role \"User\"")) << name;

    for (const char* bad : {"\xff", "a\xc3", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80"}) {
      absl::Status s = RenderStatus(name, {{"user", "q"}, {"assistant", std::string("ok ") + bad}});
      EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
      EXPECT_THAT(s.message(), HasSubstr("messages[1]: content is not valid UTF-8")) << name;
    }
  }
}

TEST(ChatTemplateTest, MistralErrorsNameTheMessage) {
  absl::Status s = RenderStatus("mistral", {{"system", "s"}, {"user", "a"}, {"assistant", "b"}, {"assistant", "c"}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("messages[3]: After the optional system message, conversation roles must "
                                     "alternate user/assistant/user/assistant/..."));
  s = RenderStatus("mistral", {{"user", "a"}, {"system", "s"}, {"user", "b"}});
  EXPECT_THAT(s.message(), HasSubstr("messages[1]: Only user and assistant roles are supported"));
  // The alternation check covers the whole conversation before any role is refused, as the template's loops do.
  s = RenderStatus("mistral", {{"user", "a"}, {"system", "s"}, {"user", "b"}, {"assistant", "c"}, {"assistant", "d"}});
  EXPECT_THAT(s.message(), HasSubstr("messages[4]: After the optional system message"));
}

TEST(ChatTemplateTest, TrainableIsAssistantContentAndEndOfTurnOnly) {
  const std::vector<ChatMessage> chat = {{"system", "S"}, {"user", "U"}, {"assistant", " A "}, {"user", "V"},
                                         {"assistant", ""}};
  const std::map<std::string, std::vector<std::string>> want = {
      {"llama3", {"A<|eot_id|>", "<|eot_id|>"}},
      {"chatml", {" A <|im_end|>", "<|im_end|>"}},
      {"qwen2.5", {" A <|im_end|>", "<|im_end|>"}},
      {"smollm2", {" A <|im_end|>", "<|im_end|>"}},
      {"mistral", {"A</s>", "</s>"}},
  };
  for (const auto& [name, trainable] : want) {
    std::vector<std::string> got;
    for (const ChatSegment& s : RenderOk(name, chat)) {
      if (s.trainable) got.push_back(s.text);
    }
    EXPECT_EQ(got, trainable) << name;
  }
  // No assistant message: rendered, nothing to train on.
  for (const std::string& name : ChatTemplateNames()) {
    for (const ChatSegment& s : RenderOk(name, {{"user", "only a question"}})) EXPECT_FALSE(s.trainable) << name;
  }
}

}  // namespace
}  // namespace ftd
