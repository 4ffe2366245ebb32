// Chat templates without a Jinja interpreter: one hand-written renderer per template family whose output is
// byte-equal to transformers' tokenizer.apply_chat_template(messages, tokenize=False) for the named model, split
// into segments that say which characters the loss is taken on (the assistant turns, as TRL's assistant_only_loss).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace ftd {

// How a family lays a conversation out; the template's name picks one and its constants.
enum class ChatFormat {
  // Meta-Llama-3-8B-Instruct: <|begin_of_text|> once, then per message
  // <|start_header_id|>ROLE<|end_header_id|>\n\n + trimmed content + <|eot_id|>.
  kLlama3,
  // ChatML (Qwen2.5-Instruct, SmolLM2-Instruct): <|im_start|>ROLE\n + content + <|im_end|>\n per message, with
  // an optional default system message when the conversation does not open with one.
  kChatMl,
  // Mistral-7B-Instruct-v0.3: <s>[INST] user[/INST] trimmed-answer</s>..., strict user/assistant alternation
  // after an optional first system message.
  kMistral,
};

// A named template: what a job spec's `chat_template` resolves to. Plain data; copy freely.
struct ChatTemplate {
  std::string name;    // The name it was parsed from ("llama3", "qwen2.5", ...).
  ChatFormat format = ChatFormat::kChatMl;
  // kChatMl only: the system turn rendered when messages[0] is not a system message (Qwen2.5's and SmolLM2's
  // templates differ only here); nullopt renders none (plain ChatML).
  std::optional<std::string> default_system;
};

// The names ParseChatTemplate accepts, in the order error messages list them:
//   llama3   Meta-Llama-3-8B-Instruct
//   chatml   plain ChatML, no default system message
//   qwen2.5  ChatML with Qwen2.5-Instruct's default system message
//   smollm2  ChatML with SmolLM2-Instruct's default system message
//   mistral  Mistral-7B-Instruct-v0.3
std::vector<std::string> ChatTemplateNames();

// INVALID_ARGUMENT naming the known names for anything else. Names are matched exactly (lower case).
absl::StatusOr<ChatTemplate> ParseChatTemplate(absl::string_view name);

// One message of a conversation. role is "system", "user" or "assistant"; content is UTF-8 text.
struct ChatMessage {
  std::string role;
  std::string content;
};

// A piece of the rendered conversation. trainable marks an assistant message's rendered content (after the
// template's own trimming) plus the end-of-turn marker that closes it (<|eot_id|>, <|im_end|>, </s>); all else
// (BOS, headers, role names, system and user text, separators) is context only.
struct ChatSegment {
  std::string text;
  bool trainable = false;
};

// Renders `messages` as transformers' apply_chat_template(messages, tokenize=False) (add_generation_prompt
// False) with the template's model tokenizer: concatenating the segments' text gives that string byte for byte.
// Segments are never empty and adjacent segments differ in `trainable`. The text already holds the BOS where the
// template writes one (llama3, mistral): tokenize it without adding special tokens again.
// INVALID_ARGUMENT, naming the message index, for: no messages; a role other than system/user/assistant;
// content that is not valid UTF-8; and whatever the real template raises on, with its message (mistral: roles
// must alternate user/assistant after an optional first system message, and no system message later on).
// A conversation without an assistant message renders fine; it simply has no trainable segment.
// Whitespace follows the templates: llama3 trims every message and mistral every assistant message with
// Python's str.strip() (Unicode whitespace), chatml keeps content verbatim. Mistral-7B-Instruct-v0.3 writes the
// system message only into the last message when that is a user message: a conversation that ends with an
// assistant message loses its system message, exactly as the model's own template does.
absl::StatusOr<std::vector<ChatSegment>> RenderChat(const ChatTemplate& chat_template,
                                                    absl::Span<const ChatMessage> messages);

// The segments' text concatenated: the string apply_chat_template returns.
std::string JoinChatSegments(absl::Span<const ChatSegment> segments);

}  // namespace ftd
