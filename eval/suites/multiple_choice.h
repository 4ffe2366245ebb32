// A multiple-choice item as lm-eval's output_type multiple_choice poses it: one context, the choice texts
// (doc_to_choice) and the gold index. Each choice is one loglikelihood request (context, " " + choice): lm-eval's
// target_delimiter " " goes in front of the choice, while acc_norm divides by len(choice) without it.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace ftd {

struct TextRequest {
  std::string context;
  std::string continuation;
  bool operator==(const TextRequest&) const = default;
};

struct MultipleChoiceItem {
  std::string context;
  std::vector<std::string> choices;  // doc_to_choice, without the target delimiter.
  int gold = 0;                      // Index into choices.
};

// lm-eval's default target_delimiter (lm_eval/config/task.py).
inline constexpr char kTargetDelimiter[] = " ";

// The requests in choice order: (context, target_delimiter + choice).
inline std::vector<TextRequest> Requests(const MultipleChoiceItem& item) {
  std::vector<TextRequest> out;
  out.reserve(item.choices.size());
  for (const std::string& choice : item.choices) out.push_back({item.context, kTargetDelimiter + choice});
  return out;
}

}  // namespace ftd
