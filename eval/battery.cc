// RunSuite: load -> requests -> loglikelihoods (or greedy answers, long_context) -> metrics, per suite kind.
#include "eval/battery.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "common/text_file.h"
#include "eval/choice_scorer.h"
#include "eval/greedy_decode.h"
#include "eval/loglikelihood.h"
#include "eval/loglikelihood_request.h"
#include "eval/suites/hellaswag.h"
#include "eval/suites/long_context.h"
#include "eval/suites/mmlu.h"
#include "eval/suites/perplexity.h"
#include "eval/suites/piqa.h"
#include "eval/suites/scores.h"
#include "eval/suites/task.h"

namespace ftd {
namespace {

template <typename T>
void Limit(std::vector<T>& items, int64_t limit) {
  if (limit > 0 && static_cast<int64_t>(items.size()) > limit) items.resize(static_cast<size_t>(limit));
}

SuiteMetric Metric(std::string name, const MeanStderr& score) {
  return {std::move(name), score.mean, score.standard_error, true};
}

// Every item's choices scored (the shared context once per item).
absl::StatusOr<std::vector<std::vector<ChoiceLoglikelihood>>> ScoreItems(LlamaModel& model, const Tokenizer& tokenizer,
                                                                         const std::vector<MultipleChoiceItem>& items,
                                                                         int64_t max_length, int64_t done_before,
                                                                         int64_t total,
                                                                         const SuiteRunOptions& options) {
  std::vector<std::vector<ChoiceLoglikelihood>> lls;
  lls.reserve(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    std::vector<TokenRequest> requests;
    for (const TextRequest& text : Requests(items[i])) {
      ASSIGN_OR_RETURN(TokenRequest request, EncodeLoglikelihoodRequest(tokenizer, text.context, text.continuation));
      requests.push_back(std::move(request));
    }
    ASSIGN_OR_RETURN(const std::vector<LoglikelihoodResult> scored, ScoreChoices(model, requests, max_length));
    std::vector<ChoiceLoglikelihood>& item = lls.emplace_back();
    for (const LoglikelihoodResult& r : scored) item.push_back({r.logprob, r.is_greedy});
    if (options.progress) options.progress(done_before + static_cast<int64_t>(i) + 1, total);
  }
  return lls;
}

absl::StatusOr<SuiteResult> MultipleChoice(std::string name, LlamaModel& model, const Tokenizer& tokenizer,
                                           const std::vector<MultipleChoiceItem>& items, int64_t max_length,
                                           const SuiteRunOptions& options, bool with_acc_norm) {
  ASSIGN_OR_RETURN(const auto lls, ScoreItems(model, tokenizer, items, max_length, 0,
                                              static_cast<int64_t>(items.size()), options));
  ASSIGN_OR_RETURN(const MultipleChoiceScores scores, ScoreMultipleChoice(items, lls));
  SuiteResult result;
  result.name = std::move(name);
  result.items = static_cast<int64_t>(items.size());
  result.metrics.push_back(Metric("acc", scores.acc));
  if (with_acc_norm) result.metrics.push_back(Metric("acc_norm", scores.acc_norm));
  return result;
}

absl::StatusOr<SuiteResult> Mmlu(LlamaModel& model, const Tokenizer& tokenizer, const SuiteSpec& spec,
                                 int64_t max_length, const SuiteRunOptions& options) {
  std::vector<std::string> subjects = spec.subjects;
  if (subjects.empty()) {
    ASSIGN_OR_RETURN(subjects, ListMmluSubjects(spec.data, spec.split));
  }
  if (subjects.empty()) return absl::NotFoundError(absl::StrCat("mmlu: no subjects under ", spec.data));
  std::vector<std::vector<MultipleChoiceItem>> per_subject;
  int64_t total = 0;
  for (const std::string& subject : subjects) {
    ASSIGN_OR_RETURN(const std::vector<MmluQuestion> dev, LoadMmluSubject(spec.data, subject, "dev"));
    ASSIGN_OR_RETURN(std::vector<MmluQuestion> questions, LoadMmluSubject(spec.data, subject, spec.split));
    Limit(questions, spec.limit);
    ASSIGN_OR_RETURN(std::vector<MultipleChoiceItem> items, BuildMmluItems(subject, dev, questions, spec.num_fewshot));
    total += static_cast<int64_t>(items.size());
    per_subject.push_back(std::move(items));
  }
  SuiteResult group;
  group.name = "mmlu";
  std::vector<MeanStderr> subject_scores;
  int64_t done = 0;
  for (size_t s = 0; s < subjects.size(); ++s) {
    const std::vector<MultipleChoiceItem>& items = per_subject[s];
    ASSIGN_OR_RETURN(const auto lls, ScoreItems(model, tokenizer, items, max_length, done, total, options));
    done += static_cast<int64_t>(items.size());
    ASSIGN_OR_RETURN(const MultipleChoiceScores scores, ScoreMultipleChoice(items, lls));
    SuiteResult& subject = group.subtasks.emplace_back();
    subject.name = absl::StrCat("mmlu_", subjects[s]);
    subject.items = static_cast<int64_t>(items.size());
    subject.metrics.push_back(Metric("acc", scores.acc));
    subject_scores.push_back(scores.acc);
  }
  ASSIGN_OR_RETURN(const MeanStderr micro, GroupScore(subject_scores));
  group.items = total;
  group.metrics.push_back(Metric("acc", micro));
  return group;
}

absl::StatusOr<SuiteResult> Perplexity(LlamaModel& model, const Tokenizer& tokenizer, const SuiteSpec& spec,
                                       int64_t max_length, const SuiteRunOptions& options) {
  ASSIGN_OR_RETURN(std::string text, ReadTextFile(spec.data));
  const bool wikitext =
      absl::StrContains(absl::AsciiStrToLower(std::filesystem::path(spec.data).filename().string()), "wikitext");
  std::vector<PerplexityDocument> documents;
  if (wikitext) {
    documents = WikiTextDocuments(text);
  } else {
    documents.push_back(PlainTextDocument(std::move(text)));
  }
  Limit(documents, spec.limit);
  ASSIGN_OR_RETURN(const int32_t prefix, PrefixTokenId(tokenizer));
  std::vector<double> lls;
  for (size_t i = 0; i < documents.size(); ++i) {
    ASSIGN_OR_RETURN(const std::vector<int32_t> tokens, LmEvalEncode(tokenizer, documents[i].text));
    ASSIGN_OR_RETURN(const LoglikelihoodResult rolling, ScoreRolling(model, tokens, prefix, max_length));
    lls.push_back(rolling.logprob);
    if (options.progress) options.progress(static_cast<int64_t>(i) + 1, static_cast<int64_t>(documents.size()));
  }
  ASSIGN_OR_RETURN(const std::vector<DocumentLoglikelihood> docs, WithLoglikelihoods(documents, lls));
  ASSIGN_OR_RETURN(const PerplexityScores scores, ScorePerplexity(docs));
  SuiteResult result;
  result.name = wikitext ? "wikitext" : "perplexity";
  result.items = static_cast<int64_t>(documents.size());
  result.metrics.push_back({"word_perplexity", scores.word_perplexity, scores.word_perplexity_stderr, false});
  result.metrics.push_back({"byte_perplexity", scores.byte_perplexity, scores.byte_perplexity_stderr, false});
  result.metrics.push_back({"bits_per_byte", scores.bits_per_byte, scores.bits_per_byte_stderr, false});
  return result;
}

// exact_match over the task's generation items: lm-eval's generate_until (until "\n", greedy) and its
// remove_whitespace + exact_match scoring, the mean with mean_stderr.
absl::StatusOr<SuiteMetric> TaskExactMatchMetric(LlamaModel& model, const Tokenizer& tokenizer, const LoadedTask& task,
                                                 int64_t max_gen_toks, int64_t max_length, int64_t done_before,
                                                 int64_t total, const SuiteRunOptions& options) {
  std::vector<double> scores;
  scores.reserve(task.generations.size());
  for (const TaskGenerationItem& item : task.generations) {
    ASSIGN_OR_RETURN(const GenerateUntilResult generated,
                     GenerateUntil(model, tokenizer, item.prompt, {kTaskStopSequence}, max_gen_toks, max_length));
    scores.push_back(TaskExactMatch(generated.text, item.target));
    if (options.progress) options.progress(done_before + static_cast<int64_t>(scores.size()), total);
  }
  return Metric("exact_match", MeanWithStderr(scores));
}

// The job's own task. Classification: multiple choice over config.options (acc as lm-eval, macro-F1 of the argmax
// predictions), then exact_match of the generated answer; generation: exact_match only. Progress counts both
// passes over the items.
absl::StatusOr<SuiteResult> Task(LlamaModel& model, const Tokenizer& tokenizer, const SuiteSpec& spec,
                                 int64_t max_length, const SuiteRunOptions& options) {
  ASSIGN_OR_RETURN(LoadedTask task, LoadTask(spec.data, spec.num_fewshot));
  const int64_t max_gen_toks = TaskGenerationBudget(TaskAnswers(task), [&tokenizer](absl::string_view text) {
    return static_cast<int64_t>(tokenizer.Encode(text, /*add_special_tokens=*/false).size());
  });
  Limit(task.items, spec.limit);
  Limit(task.generations, spec.limit);
  SuiteResult result;
  result.name = task.config.name.empty() ? std::filesystem::path(spec.data).filename().string() : task.config.name;
  result.items = static_cast<int64_t>(task.generations.size());
  const int64_t total = static_cast<int64_t>(task.items.size() + task.generations.size());
  if (!task.items.empty()) {
    ASSIGN_OR_RETURN(const auto lls, ScoreItems(model, tokenizer, task.items, max_length, 0, total, options));
    ASSIGN_OR_RETURN(const MultipleChoiceScores scores, ScoreMultipleChoice(task.items, lls));
    std::vector<int> gold, predicted;
    for (size_t i = 0; i < task.items.size(); ++i) {
      std::vector<double> logprobs;
      for (const ChoiceLoglikelihood& ll : lls[i]) logprobs.push_back(ll.logprob);
      gold.push_back(task.items[i].gold);
      predicted.push_back(ArgmaxChoice(logprobs));
    }
    ASSIGN_OR_RETURN(const double macro_f1, MacroF1(gold, predicted));
    result.metrics.push_back(Metric("acc", scores.acc));
    result.metrics.push_back({"macro_f1", macro_f1, MacroF1BootstrapStderr(gold, predicted), true});
  }
  ASSIGN_OR_RETURN(SuiteMetric exact_match,
                   TaskExactMatchMetric(model, tokenizer, task, max_gen_toks, max_length,
                                        static_cast<int64_t>(task.items.size()), total, options));
  result.metrics.push_back(std::move(exact_match));
  return result;
}

// RULER's niah_single decode budget: the answer is a 7-digit number after "is:".
constexpr int64_t kNeedleAnswerTokens = 10;

std::string DepthName(double depth) { return absl::StrFormat("%g", depth); }

absl::StatusOr<SuiteResult> LongContext(LlamaModel& model, const Tokenizer& tokenizer, const SuiteSpec& spec,
                                        int64_t max_length, const SuiteRunOptions& options) {
  std::vector<int64_t> lengths;
  for (int64_t length : spec.context_lengths.empty() ? std::vector<int64_t>{256, 512} : spec.context_lengths) {
    if (length < 1) return absl::InvalidArgumentError(absl::StrCat("context length ", length, " must be >= 1"));
    length = std::min({length, max_length, model.config().max_position_embeddings});
    if (std::find(lengths.begin(), lengths.end(), length) == lengths.end()) lengths.push_back(length);
  }
  const std::vector<double> depths =
      spec.depths.empty() ? std::vector<double>{0.0, 0.25, 0.5, 0.75, 1.0} : spec.depths;
  for (double depth : depths) {
    if (!(depth >= 0.0 && depth <= 1.0)) {
      return absl::InvalidArgumentError(absl::StrCat("depth ", depth, " is outside [0, 1]"));
    }
  }
  if (spec.samples < 1) return absl::InvalidArgumentError(absl::StrCat("samples must be >= 1, got ", spec.samples));
  ASSIGN_OR_RETURN(const std::string text, ReadTextFile(spec.data));
  ASSIGN_OR_RETURN(const Haystack haystack, SplitHaystack(text, spec.data));
  const std::vector<Needle> needles = MakeNeedles(spec.seed, spec.samples);
  const std::set<int32_t> stop_ids = StopTokenIds(model.config(), tokenizer);
  const TokenCounter count = [&tokenizer](absl::string_view prompt) {
    return static_cast<int64_t>(tokenizer.Encode(prompt, /*add_special_tokens=*/true).size());
  };
  const int64_t total = static_cast<int64_t>(lengths.size() * depths.size() * needles.size());
  int64_t done = 0;
  SuiteResult result;
  result.name = "long_context";
  std::vector<double> all;
  std::vector<SuiteMetric> per_length;
  for (int64_t length : lengths) {
    std::vector<double> at_length;
    for (double depth : depths) {
      std::vector<double> cell;
      for (const Needle& needle : needles) {
        ASSIGN_OR_RETURN(const FittedPrompt fitted, FitNeedlePrompt(haystack, length, depth, needle, count));
        const std::vector<int32_t> ids = tokenizer.Encode(fitted.prompt, /*add_special_tokens=*/true);
        ASSIGN_OR_RETURN(const std::vector<int32_t> generated,
                         GreedyDecode(model, ids, kNeedleAnswerTokens, stop_ids));
        cell.push_back(StringMatchAll(ContinuationText(tokenizer, ids, generated), {needle.value}));
        if (options.progress) options.progress(++done, total);
      }
      SuiteResult& sub = result.subtasks.emplace_back();
      sub.name = absl::StrCat("long_context@", length, "/depth=", DepthName(depth));
      sub.items = static_cast<int64_t>(cell.size());
      sub.metrics.push_back(Metric("acc", MeanWithStderr(cell)));
      at_length.insert(at_length.end(), cell.begin(), cell.end());
    }
    per_length.push_back(Metric(absl::StrCat("acc@", length), MeanWithStderr(at_length)));
    all.insert(all.end(), at_length.begin(), at_length.end());
  }
  result.items = static_cast<int64_t>(all.size());
  result.metrics = std::move(per_length);
  result.metrics.push_back(Metric("acc", MeanWithStderr(all)));
  return result;
}

}  // namespace

absl::StatusOr<SuiteKind> ParseSuiteKind(absl::string_view name) {
  for (SuiteKind kind : {SuiteKind::kMmlu, SuiteKind::kHellaSwag, SuiteKind::kPiqa, SuiteKind::kPerplexity,
                         SuiteKind::kTask, SuiteKind::kLongContext}) {
    if (name == SuiteName(kind)) return kind;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("suite \"", name, "\": want one of mmlu, hellaswag, piqa, perplexity, task, long_context"));
}

const char* SuiteName(SuiteKind kind) {
  switch (kind) {
    case SuiteKind::kMmlu:
      return "mmlu";
    case SuiteKind::kHellaSwag:
      return "hellaswag";
    case SuiteKind::kPiqa:
      return "piqa";
    case SuiteKind::kPerplexity:
      return "perplexity";
    case SuiteKind::kTask:
      return "task";
    case SuiteKind::kLongContext:
      return "long_context";
  }
  return "unknown";
}

absl::StatusOr<SuiteResult> RunSuite(LlamaModel& model, const Tokenizer& tokenizer, const SuiteSpec& spec,
                                     const SuiteRunOptions& options) {
  if (spec.data.empty()) return absl::InvalidArgumentError("the suite's data path is empty");
  if (spec.num_fewshot < 0) return absl::InvalidArgumentError("num_fewshot must be >= 0");
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.config().max_position_embeddings;
  switch (spec.kind) {
    case SuiteKind::kMmlu:
      return Mmlu(model, tokenizer, spec, max_length, options);
    case SuiteKind::kHellaSwag: {
      std::vector<MultipleChoiceItem> items;
      if (absl::EndsWith(spec.data, ".jsonl")) {
        ASSIGN_OR_RETURN(items, LoadHellaSwagJsonl(spec.data));
      } else if (absl::EndsWith(spec.data, ".bz2")) {
        return absl::InvalidArgumentError(
            absl::StrCat(spec.data, ": decompress it first (bzip2 -dk FILE) and pass the .txt"));
      } else {
        ASSIGN_OR_RETURN(items, LoadHellaSwagText(spec.data));
      }
      Limit(items, spec.limit);
      return MultipleChoice("hellaswag", model, tokenizer, items, max_length, options, /*with_acc_norm=*/true);
    }
    case SuiteKind::kPiqa: {
      const std::string labels =
          spec.labels.empty() ? (std::filesystem::path(spec.data).parent_path() / "valid-labels.lst").string()
                              : spec.labels;
      ASSIGN_OR_RETURN(std::vector<MultipleChoiceItem> items, LoadPiqa(spec.data, labels));
      Limit(items, spec.limit);
      return MultipleChoice("piqa", model, tokenizer, items, max_length, options, /*with_acc_norm=*/true);
    }
    case SuiteKind::kPerplexity:
      return Perplexity(model, tokenizer, spec, max_length, options);
    case SuiteKind::kTask:
      return Task(model, tokenizer, spec, max_length, options);
    case SuiteKind::kLongContext:
      return LongContext(model, tokenizer, spec, max_length, options);
  }
  return absl::InternalError("unknown suite kind");
}

}  // namespace ftd
