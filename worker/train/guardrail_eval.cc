// TaskValidationNll / GeneralNll: evaluation-mode forwards (no dropout, nothing trained) during training.
#include "worker/train/guardrail_eval.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "worker/train/batching.h"

namespace ftd {

absl::StatusOr<NllSum> TaskValidationNll(LlamaModel& model, const std::vector<Example>& examples,
                                         int64_t micro_batch_size, int32_t pad_id, int share, int shares) {
  if (micro_batch_size < 1 || shares < 1 || share < 0 || share >= shares) {
    return absl::InvalidArgumentError("TaskValidationNll: bad micro-batch size or share");
  }
  std::vector<int64_t> mine;
  for (int64_t i = share; i < static_cast<int64_t>(examples.size()); i += shares) mine.push_back(i);
  const int64_t vocab = model.config().vocab_size;
  NllSum sum;
  for (size_t begin = 0; begin < mine.size(); begin += static_cast<size_t>(micro_batch_size)) {
    const size_t end = std::min(mine.size(), begin + static_cast<size_t>(micro_batch_size));
    const MicroBatch mb = Collate(examples, absl::MakeConstSpan(mine).subspan(begin, end - begin), pad_id);
    ASSIGN_OR_RETURN(const std::vector<float> logits, model.Forward(mb.ids, mb.batch, mb.seq));  // (B, T, V)
    for (int64_t b = 0; b < mb.batch; ++b) {
      for (int64_t t = 0; t + 1 < mb.seq; ++t) {
        const int32_t label = mb.labels[static_cast<size_t>(b * mb.seq + t + 1)];
        if (label == kIgnoreIndex) continue;
        const float* row = logits.data() + (b * mb.seq + t) * vocab;
        const float max = *std::max_element(row, row + vocab);
        double total = 0;
        for (int64_t v = 0; v < vocab; ++v) total += std::exp(static_cast<double>(row[v]) - max);
        sum.nll += std::log(total) + max - row[label];
        ++sum.tokens;
      }
    }
  }
  return sum;
}

absl::StatusOr<GeneralEvalSet> LoadGeneralEvalSet(const std::string& path, const Tokenizer& tokenizer,
                                                  int64_t max_length) {
  ASSIGN_OR_RETURN(const std::string contents, ReadFileToString(path, uint64_t{4} << 30));
  std::vector<std::string> texts;
  if (absl::EndsWith(path, ".jsonl")) {
    for (const NumberedLine& line : NonBlankLines(contents)) {
      const nlohmann::json record = nlohmann::json::parse(line.text, nullptr, /*allow_exceptions=*/false);
      if (!record.is_object() || !record.contains("text") || !record["text"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(path, ":", line.number, ": expected {\"text\": string}"));
      }
      texts.push_back(record["text"].get<std::string>());
    }
  } else {
    texts.push_back(contents);
  }
  GeneralEvalSet set;
  set.max_length = max_length;
  ASSIGN_OR_RETURN(set.prefix_token, PrefixTokenId(tokenizer));
  for (const std::string& text : texts) {
    ASSIGN_OR_RETURN(std::vector<int32_t> tokens, LmEvalEncode(tokenizer, text));
    if (!tokens.empty()) set.documents.push_back(std::move(tokens));
  }
  if (set.documents.empty()) return absl::InvalidArgumentError(absl::StrCat(path, ": no document with a token"));
  return set;
}

absl::StatusOr<NllSum> GeneralNll(LlamaModel& model, const GeneralEvalSet& set, int share, int shares) {
  if (shares < 1 || share < 0 || share >= shares) return absl::InvalidArgumentError("GeneralNll: bad share");
  NllSum sum;
  for (size_t i = static_cast<size_t>(share); i < set.documents.size(); i += static_cast<size_t>(shares)) {
    ASSIGN_OR_RETURN(const LoglikelihoodResult r,
                     ScoreRolling(model, set.documents[i], set.prefix_token, set.max_length));
    sum.nll -= r.logprob;
    sum.tokens += r.tokens;
  }
  return sum;
}

}  // namespace ftd
