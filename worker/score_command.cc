// RunScore: load the model and tokenizer once, then encode (eval/loglikelihood_request) and score
// (eval/loglikelihood) each request line.
#include "worker/score_command.h"

#include <ostream>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "model/file_io.h"
#include "nlohmann/json.hpp"
#include "worker/inference_model.h"

namespace ftd {
namespace {

using json = nlohmann::json;

absl::StatusOr<json> ScoreLine(absl::string_view line, LlamaModel& model, const Tokenizer& tokenizer,
                               int64_t max_length) {
  const json request = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded() || !request.is_object()) return absl::InvalidArgumentError("expected a JSON object");
  for (const auto& [key, value] : request.items()) {
    if (key != "context" && key != "continuation" && key != "text") {
      return absl::InvalidArgumentError(absl::StrCat("unknown key \"", key, "\""));
    }
    if (!value.is_string()) return absl::InvalidArgumentError(absl::StrCat("\"", key, "\" must be a string"));
  }
  LoglikelihoodResult result;
  if (request.contains("text")) {
    if (request.size() != 1) return absl::InvalidArgumentError("a \"text\" request takes no other key");
    ASSIGN_OR_RETURN(std::vector<int32_t> tokens, LmEvalEncode(tokenizer, request["text"].get<std::string>()));
    ASSIGN_OR_RETURN(int32_t prefix, PrefixTokenId(tokenizer));
    ASSIGN_OR_RETURN(result, ScoreRolling(model, tokens, prefix, max_length));
  } else {
    if (!request.contains("context") || !request.contains("continuation")) {
      return absl::InvalidArgumentError("expected \"context\" and \"continuation\", or \"text\"");
    }
    ASSIGN_OR_RETURN(TokenRequest tokens,
                     EncodeLoglikelihoodRequest(tokenizer, request["context"].get<std::string>(),
                                                request["continuation"].get<std::string>()));
    ASSIGN_OR_RETURN(result, ScoreRequest(model, tokens, max_length));
  }
  return json{{"logprob", result.logprob}, {"is_greedy", result.is_greedy}, {"tokens", result.tokens}};
}

}  // namespace

absl::Status RunScore(const ScoreOptions& options, std::ostream& out) {
  const LlamaLoadOptions load{.quantize = options.quantize_base};
  ASSIGN_OR_RETURN(InferenceModel loaded, LoadInferenceModel(options.model_dir, options.adapter_dir, load));
  LlamaModel& model = *loaded.model;
  const Tokenizer& tokenizer = *loaded.tokenizer;
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.config().max_position_embeddings;
  ASSIGN_OR_RETURN(std::string contents, ReadFileToString(options.requests_path));

  absl::Status first_error;
  int64_t failed = 0;
  for (const NumberedLine& line : NonBlankLines(contents)) {
    absl::StatusOr<json> result = ScoreLine(line.text, model, tokenizer, max_length);
    if (result.ok()) {
      out << result->dump() << "\n";
      continue;
    }
    ++failed;
    const std::string message = absl::StrCat(options.requests_path, ":", line.number, ": ", result.status().message());
    out << json{{"error", message}}.dump() << "\n";
    if (first_error.ok()) first_error = absl::Status(result.status().code(), message);
  }
  if (failed > 0) {
    return absl::Status(first_error.code(), absl::StrCat(failed, " request(s) failed; first: ", first_error.message()));
  }
  return absl::OkStatus();
}

}  // namespace ftd
