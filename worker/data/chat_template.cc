// Hand-written renderers for the chat templates ParseChatTemplate knows. Each mirrors one model's Jinja template
// as transformers renders it (ImmutableSandboxedEnvironment, trim_blocks and lstrip_blocks, which these templates
// leave no visible trace of); tests/fixtures/gen_chat_templates.py records the real renderings they must equal.
#include "worker/data/chat_template.h"

#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ftd {
namespace {

// The exceptions Mistral-7B-Instruct-v0.3's template raises (raise_exception), word for word.
constexpr absl::string_view kMistralAlternationError =
    "After the optional system message, conversation roles must alternate user/assistant/user/assistant/...";
constexpr absl::string_view kMistralRoleError =
    "Only user and assistant roles are supported, with the exception of an initial optional system message!";

// The default system turns of the ChatML models (the text between "<|im_start|>system\n" and "<|im_end|>").
constexpr absl::string_view kQwen25DefaultSystem =
    "You are Qwen, created by Alibaba Cloud. You are a helpful assistant.";
constexpr absl::string_view kSmolLm2DefaultSystem =
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face";

// ---- UTF-8 and Python's str.strip() ---------------------------------------------------------------------------

// Decodes the code point at text[pos]; false for anything but shortest-form UTF-8 of a scalar value (no
// surrogates, nothing above U+10FFFF), which is exactly what a Python str can hold.
bool DecodeUtf8(absl::string_view text, size_t pos, uint32_t* code_point, size_t* length) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(pos);
  size_t n = 0;
  uint32_t cp = 0;
  uint32_t min = 0;
  if (lead < 0x80) {
    *code_point = lead;
    *length = 1;
    return true;
  } else if ((lead & 0xE0) == 0xC0) {
    n = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    n = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    n = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return false;
  }
  if (pos + n > text.size()) return false;
  for (size_t i = 1; i < n; ++i) {
    if ((byte(pos + i) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (byte(pos + i) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  *code_point = cp;
  *length = n;
  return true;
}

// The byte offset of the first invalid UTF-8 sequence, or npos.
size_t FirstInvalidUtf8(absl::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    uint32_t cp = 0;
    size_t length = 0;
    if (!DecodeUtf8(text, pos, &cp, &length)) return pos;
    pos += length;
  }
  return absl::string_view::npos;
}

// Python's str.isspace(): bidirectional class WS, B or S, or general category Zs (Unicode 15; the fixture script
// checks this list against the Python that rendered the references).
bool IsPythonWhitespace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Jinja's `trim` filter, i.e. Python's str.strip() with no argument. `text` is valid UTF-8 (checked up front).
absl::string_view PythonStrip(absl::string_view text) {
  size_t begin = 0;
  while (begin < text.size()) {
    uint32_t cp = 0;
    size_t length = 0;
    DecodeUtf8(text, begin, &cp, &length);
    if (!IsPythonWhitespace(cp)) break;
    begin += length;
  }
  size_t end = text.size();
  while (end > begin) {
    size_t start = end - 1;  // Back up over continuation bytes to the code point's lead byte.
    while (start > begin && (static_cast<uint8_t>(text[start]) & 0xC0) == 0x80) --start;
    uint32_t cp = 0;
    size_t length = 0;
    DecodeUtf8(text, start, &cp, &length);
    if (!IsPythonWhitespace(cp)) break;
    end = start;
  }
  return text.substr(begin, end - begin);
}

// ---- Output ---------------------------------------------------------------------------------------------------

// Collects the rendering, merging adjacent text of the same kind and dropping empty pieces.
class SegmentWriter {
 public:
  void Context(absl::string_view text) { Append(text, /*trainable=*/false); }
  void Trainable(absl::string_view text) { Append(text, /*trainable=*/true); }
  std::vector<ChatSegment> Take() && { return std::move(segments_); }

 private:
  void Append(absl::string_view text, bool trainable) {
    if (text.empty()) return;
    if (segments_.empty() || segments_.back().trainable != trainable) {
      segments_.push_back(ChatSegment{std::string(text), trainable});
    } else {
      segments_.back().text.append(text.data(), text.size());
    }
  }

  std::vector<ChatSegment> segments_;
};

absl::Status MessageError(size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("messages[", index, "]: ", what));
}

// What every template needs: a conversation, known roles, text Python could have held.
absl::Status CheckMessages(absl::Span<const ChatMessage> messages) {
  if (messages.empty()) return absl::InvalidArgumentError("messages: the conversation is empty");
  for (size_t i = 0; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role != "system" && m.role != "user" && m.role != "assistant") {
      return MessageError(i, absl::StrCat("unknown role \"", m.role, "\"; expected system, user or assistant"));
    }
    if (size_t bad = FirstInvalidUtf8(m.content); bad != absl::string_view::npos) {
      return MessageError(i, absl::StrCat("content is not valid UTF-8 (byte ", bad, ")"));
    }
  }
  return absl::OkStatus();
}

// ---- Renderers ------------------------------------------------------------------------------------------------

// {% for message in messages %}: BOS before the first message; header; content|trim; <|eot_id|>.
std::vector<ChatSegment> RenderLlama3(absl::Span<const ChatMessage> messages) {
  SegmentWriter out;
  out.Context("<|begin_of_text|>");
  for (const ChatMessage& m : messages) {
    out.Context(absl::StrCat("<|start_header_id|>", m.role, "<|end_header_id|>\n\n"));
    const bool trainable = m.role == "assistant";
    const absl::string_view content = PythonStrip(m.content);
    if (trainable) {
      out.Trainable(content);
      out.Trainable("<|eot_id|>");
    } else {
      out.Context(content);
      out.Context("<|eot_id|>");
    }
  }
  return std::move(out).Take();
}

// Qwen2.5 renders messages[0] as the system turn when it is one (else its default) and skips it in the loop;
// SmolLM2 writes its default before the first message unless that is a system message. Both come to: optional
// default system turn, then every message as <|im_start|>ROLE\nCONTENT<|im_end|>\n, content verbatim.
std::vector<ChatSegment> RenderChatMl(const std::optional<std::string>& default_system,
                                      absl::Span<const ChatMessage> messages) {
  SegmentWriter out;
  if (default_system.has_value() && messages.front().role != "system") {
    out.Context(absl::StrCat("<|im_start|>system\n", *default_system, "<|im_end|>\n"));
  }
  for (const ChatMessage& m : messages) {
    out.Context(absl::StrCat("<|im_start|>", m.role, "\n"));
    if (m.role == "assistant") {
      out.Trainable(m.content);
      out.Trainable("<|im_end|>");
    } else {
      out.Context(m.content);
      out.Context("<|im_end|>");
    }
    out.Context("\n");
  }
  return std::move(out).Take();
}

// Mistral-7B-Instruct-v0.3 (no tools): an optional first system message is set aside; the rest must alternate
// user/assistant starting with user (checked over all messages before anything is written, as the template's
// first loop does); then BOS, "[INST] " + content + "[/INST]" per user message (the system message and "\n\n"
// go in front of the content only when that user message is the last message), " " + content|trim + "</s>" per
// assistant message, and any other role raises.
absl::StatusOr<std::vector<ChatSegment>> RenderMistral(absl::Span<const ChatMessage> messages) {
  const bool has_system = messages.front().role == "system";
  const size_t first = has_system ? 1 : 0;
  for (size_t i = first; i < messages.size(); ++i) {
    const bool expect_user = (i - first) % 2 == 0;
    if ((messages[i].role == "user") != expect_user) return MessageError(i, kMistralAlternationError);
  }
  SegmentWriter out;
  out.Context("<s>");
  for (size_t i = first; i < messages.size(); ++i) {
    const ChatMessage& m = messages[i];
    if (m.role == "user") {
      out.Context("[INST] ");
      if (has_system && i + 1 == messages.size()) out.Context(absl::StrCat(messages[0].content, "\n\n"));
      out.Context(m.content);
      out.Context("[/INST]");
    } else if (m.role == "assistant") {
      out.Context(" ");
      out.Trainable(PythonStrip(m.content));
      out.Trainable("</s>");
    } else {
      return MessageError(i, kMistralRoleError);
    }
  }
  return std::move(out).Take();
}

}  // namespace

std::vector<std::string> ChatTemplateNames() { return {"llama3", "chatml", "qwen2.5", "smollm2", "mistral"}; }

absl::StatusOr<ChatTemplate> ParseChatTemplate(absl::string_view name) {
  ChatTemplate t;
  t.name = std::string(name);
  if (name == "llama3") {
    t.format = ChatFormat::kLlama3;
  } else if (name == "chatml") {
    t.format = ChatFormat::kChatMl;
  } else if (name == "qwen2.5") {
    t.format = ChatFormat::kChatMl;
    t.default_system = std::string(kQwen25DefaultSystem);
  } else if (name == "smollm2") {
    t.format = ChatFormat::kChatMl;
    t.default_system = std::string(kSmolLm2DefaultSystem);
  } else if (name == "mistral") {
    t.format = ChatFormat::kMistral;
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown chat template \"", name,
                                                   "\"; known: ", absl::StrJoin(ChatTemplateNames(), ", ")));
  }
  return t;
}

absl::StatusOr<std::vector<ChatSegment>> RenderChat(const ChatTemplate& chat_template,
                                                    absl::Span<const ChatMessage> messages) {
  if (absl::Status s = CheckMessages(messages); !s.ok()) return s;
  switch (chat_template.format) {
    case ChatFormat::kLlama3:
      return RenderLlama3(messages);
    case ChatFormat::kChatMl:
      return RenderChatMl(chat_template.default_system, messages);
    case ChatFormat::kMistral:
      return RenderMistral(messages);
  }
  return absl::InternalError("RenderChat: unhandled ChatFormat");
}

std::string JoinChatSegments(absl::Span<const ChatSegment> segments) {
  std::string text;
  for (const ChatSegment& s : segments) text += s.text;
  return text;
}

}  // namespace ftd
