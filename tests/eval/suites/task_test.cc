// The task suite's text side and metrics: config and JSONL parsing, the exact prompt, gold labels, np.argmax,
// macro-F1 against numbers worked out by hand (sklearn's f1_score(average="macro", zero_division=0)), and
// exact_match's side: generation items, the budget, and the strip-then-compare rule (lm-eval's remove_whitespace
// filter and exact_match_hf_evaluate with every ignore_* option false).
#include "eval/suites/task.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ftd {
namespace {

constexpr char kConfig[] = R"({
  "name": "sst2", "task_type": "classification", "options": ["positive", "negative"],
  "instruction": "Classify the movie review into either positive or negative.",
  "demonstration_prompt": "Review: {text}\nSentiment: {label}",
  "inference_prompt": "Review: {text}\nSentiment:"
})";

TaskConfig Config() {
  absl::StatusOr<TaskConfig> config = ParseTaskConfig(kConfig, "config.json");
  EXPECT_TRUE(config.ok()) << config.status();
  return config.ok() ? *config : TaskConfig{};
}

std::vector<TaskExample> Examples(absl::string_view jsonl, absl::string_view name) {
  absl::StatusOr<std::vector<TaskExample>> examples = ParseTaskJsonl(jsonl, name);
  EXPECT_TRUE(examples.ok()) << examples.status();
  return examples.ok() ? *examples : std::vector<TaskExample>{};
}

TEST(TaskTest, ParsesConfig) {
  const TaskConfig config = Config();
  EXPECT_EQ(config.name, "sst2");
  EXPECT_EQ(config.options, (std::vector<std::string>{"positive", "negative"}));
  EXPECT_EQ(config.inference_prompt, "Review: {text}\nSentiment:");
  EXPECT_EQ(ParseTaskConfig("[]", "c.json").status().message(), "c.json: not a JSON object");
  EXPECT_EQ(ParseTaskConfig(R"({"name": "x", "instruction": "", "demonstration_prompt": "", "inference_prompt": ""})",
                            "c.json")
                .status()
                .message(),
            "c.json: 'options' must be a non-empty list of strings");
  EXPECT_EQ(ParseTaskConfig(R"({"name": "x", "instruction": ""})", "c.json").status().message(),
            "c.json: missing string field 'demonstration_prompt'");
  EXPECT_EQ(ParseTaskConfig(R"({"name": "x", "instruction": "", "demonstration_prompt": "", "inference_prompt": "",
                                "options": ["a", "a"]})",
                            "c.json")
                .status()
                .message(),
            "c.json: option 'a' appears twice");
}

TEST(TaskTest, PromptAssemblyExactStrings) {
  const TaskConfig config = Config();
  const std::vector<TaskExample> train = Examples(
      "{\"text\": \"a gem \", \"label\": \"positive\", \"id\": \"train_0_0\"}\n"
      "{\"text\": \"dull\", \"label\": \"negative\", \"id\": \"train_0_1\"}\n"
      "{\"text\": \"unused\", \"label\": \"negative\", \"id\": \"train_0_2\"}\n",
      "train_0.jsonl");
  const std::vector<TaskExample> test =
      Examples("{\"text\": \"fine film\", \"label\": \"negative\", \"id\": \"test_0\"}\n", "test.jsonl");
  ASSERT_EQ(train.size(), 3u);
  ASSERT_EQ(test.size(), 1u);

  absl::StatusOr<std::vector<MultipleChoiceItem>> zero = BuildTaskItems(config, train, test, 0, "test.jsonl");
  ASSERT_TRUE(zero.ok()) << zero.status();
  EXPECT_EQ((*zero)[0].context,
            "Classify the movie review into either positive or negative.\n\nReview: fine film\nSentiment:");

  absl::StatusOr<std::vector<MultipleChoiceItem>> two = BuildTaskItems(config, train, test, 2, "test.jsonl");
  ASSERT_TRUE(two.ok()) << two.status();
  const MultipleChoiceItem& item = (*two)[0];
  EXPECT_EQ(item.context,
            "Classify the movie review into either positive or negative.\n\n"
            "Review: a gem \nSentiment: positive\n\n"
            "Review: dull\nSentiment: negative\n\n"
            "Review: fine film\nSentiment:");
  EXPECT_EQ(item.gold, 1);
  EXPECT_EQ(Requests(item), (std::vector<TextRequest>{{item.context, " positive"}, {item.context, " negative"}}));

  // No instruction: the demonstrations start the prompt.
  TaskConfig bare = config;
  bare.instruction.clear();
  absl::StatusOr<std::string> prompt = TaskPrompt(bare, {train[1]}, test[0]);
  ASSERT_TRUE(prompt.ok()) << prompt.status();
  EXPECT_EQ(*prompt, "Review: dull\nSentiment: negative\n\nReview: fine film\nSentiment:");

  EXPECT_EQ(BuildTaskItems(config, train, test, 4, "test.jsonl").status().message(),
            "num_fewshot 4 is outside [0, 3] (the training examples)");
}

TEST(TaskTest, FillTemplateIsNamedStrFormat) {
  const std::map<std::string, std::string> fields = {{"passage", "P"}, {"question", "Q?"}};
  absl::StatusOr<std::string> filled = FillTemplate("{passage}\nquestion: {question}\nanswer: {{x}}", fields);
  ASSERT_TRUE(filled.ok()) << filled.status();
  EXPECT_EQ(*filled, "P\nquestion: Q?\nanswer: {x}");
  EXPECT_EQ(FillTemplate("{text}", fields).status().message(),
            "template \"{text}\": the example has no string field 'text'");
  EXPECT_EQ(FillTemplate("{text", fields).status().message(), "template \"{text\": unmatched '{'");
  EXPECT_EQ(FillTemplate("a } b", fields).status().message(), "template \"a } b\": single '}'");
}

TEST(TaskTest, ErrorsNameFileAndLine) {
  const TaskConfig config = Config();
  EXPECT_EQ(ParseTaskJsonl("{\"text\": \"a\", \"label\": \"positive\"}\nnot json\n", "t.jsonl").status().message(),
            "t.jsonl:2: not a JSON object");
  EXPECT_EQ(ParseTaskJsonl("{\"text\": \"a\", \"label\": 1}\n", "t.jsonl").status().message(),
            "t.jsonl:1: missing string field 'label'");
  const std::vector<TaskExample> test = Examples(
      "{\"text\": \"a\", \"label\": \"positive\"}\n\n{\"text\": \"b\", \"label\": \"neutral\"}\n", "test.jsonl");
  ASSERT_EQ(test.size(), 2u);
  const absl::Status status = BuildTaskItems(config, {}, test, 0, "test.jsonl").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "test.jsonl:3: label 'neutral' is not one of the options [positive, negative]");
  const std::vector<TaskExample> no_text = Examples("{\"review\": \"a\", \"label\": \"positive\"}\n", "test.jsonl");
  EXPECT_EQ(BuildTaskItems(config, {}, no_text, 0, "test.jsonl").status().message(),
            "test.jsonl:1: template \"Review: {text}\nSentiment:\": the example has no string field 'text'");
}

TEST(TaskTest, GenerationTaskConfig) {
  absl::StatusOr<TaskConfig> config = ParseTaskConfig(
      R"({"name": "capitals", "task_type": "generation", "instruction": "Name the capital.",
          "demonstration_prompt": "Country: {text}\nCapital: {label}",
          "inference_prompt": "Country: {text}\nCapital:"})",
      "config.json");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_TRUE(IsGenerationTask(*config));
  EXPECT_TRUE(config->options.empty());
  EXPECT_FALSE(IsGenerationTask(Config()));
  EXPECT_EQ(ParseTaskConfig(R"({"name": "x", "task_type": "generation", "instruction": "", "demonstration_prompt": "",
                                "inference_prompt": "", "options": ["a"]})",
                            "c.json")
                .status()
                .message(),
            "c.json: a generation task has no 'options' (its answer is each example's label)");
  EXPECT_EQ(ParseTaskConfig(R"({"name": "x", "task_type": "ranking", "instruction": "", "demonstration_prompt": "",
                                "inference_prompt": "", "options": ["a"]})",
                            "c.json")
                .status()
                .message(),
            "c.json: task_type \"ranking\" is not scored (want classification or generation)");

  // Generation items: the same prompt as the multiple-choice context, the label as the target (free text).
  const std::vector<TaskExample> train = Examples("{\"text\": \"France\", \"label\": \"Paris\"}\n", "train_0.jsonl");
  const std::vector<TaskExample> test =
      Examples("{\"text\": \"Peru\", \"label\": \"Lima\"}\n{\"text\": \"Chile\", \"label\": \"Santiago de Chile\"}\n",
               "test.jsonl");
  absl::StatusOr<std::vector<TaskGenerationItem>> items =
      BuildTaskGenerationItems(*config, train, test, 1, "test.jsonl");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 2u);
  EXPECT_EQ((*items)[0].prompt, "Name the capital.\n\nCountry: France\nCapital: Paris\n\nCountry: Peru\nCapital:");
  EXPECT_EQ((*items)[1].target, "Santiago de Chile");
  EXPECT_EQ(BuildTaskGenerationItems(*config, train, test, 2, "test.jsonl").status().message(),
            "num_fewshot 2 is outside [0, 1] (the training examples)");

  // The classification items and the generation items share their prompts.
  absl::StatusOr<std::vector<MultipleChoiceItem>> choice =
      BuildTaskItems(Config(), {}, Examples("{\"text\": \"ok\", \"label\": \"negative\"}\n", "t.jsonl"), 0, "t");
  absl::StatusOr<std::vector<TaskGenerationItem>> generation = BuildTaskGenerationItems(
      Config(), {}, Examples("{\"text\": \"ok\", \"label\": \"negative\"}\n", "t.jsonl"), 0, "t");
  ASSERT_TRUE(choice.ok() && generation.ok());
  EXPECT_EQ((*choice)[0].context, (*generation)[0].prompt);
  EXPECT_EQ((*generation)[0].target, "negative");
}

TEST(TaskTest, GenerationBudgetIsLongestAnswerPlusSlack) {
  // A counter of bytes stands in for the tokenizer: " " + answer is what is counted.
  const auto bytes = [](absl::string_view text) { return static_cast<int64_t>(text.size()); };
  EXPECT_EQ(TaskGenerationBudget({"positive", "negative", "ok"}, bytes), 9 + kGenerationSlackTokens);
  EXPECT_EQ(TaskGenerationBudget({}, bytes), kGenerationSlackTokens);
  LoadedTask classification;
  classification.config = Config();
  classification.generations = {{"p", "negative"}};
  EXPECT_EQ(TaskAnswers(classification), (std::vector<std::string>{"positive", "negative"}));
  LoadedTask generation;
  generation.config.task_type = "generation";
  generation.generations = {{"p1", "Lima"}, {"p2", "Santiago de Chile"}};
  EXPECT_EQ(TaskAnswers(generation), (std::vector<std::string>{"Lima", "Santiago de Chile"}));
}

TEST(TaskTest, ExactMatchStripsTheResponseOnly) {
  EXPECT_EQ(TaskExactMatch("positive", "positive"), 1.0);
  // remove_whitespace is Python's str.strip(): both ends, any Unicode whitespace (NBSP, ideographic space, \x1c).
  EXPECT_EQ(TaskExactMatch(" positive", "positive"), 1.0);
  EXPECT_EQ(TaskExactMatch("\t positive \r", "positive"), 1.0);
  EXPECT_EQ(TaskExactMatch("\xc2\xa0positive\xe3\x80\x80", "positive"), 1.0);
  EXPECT_EQ(TaskExactMatch("\x1cpositive", "positive"), 1.0);
  // Whitespace inside is kept; the gold label is not stripped.
  EXPECT_EQ(TaskExactMatch("Santiago  de Chile", "Santiago de Chile"), 0.0);
  EXPECT_EQ(TaskExactMatch("positive", " positive"), 0.0);
  // ignore_case and ignore_punctuation are false.
  EXPECT_EQ(TaskExactMatch("Positive", "positive"), 0.0);
  EXPECT_EQ(TaskExactMatch("positive.", "positive"), 0.0);
  // A zero-width space is not whitespace to Python.
  EXPECT_EQ(TaskExactMatch("\xe2\x80\x8bpositive", "positive"), 0.0);
  // numpy's str_ arrays drop trailing NULs, so they do not count on either side; a leading one does.
  EXPECT_EQ(TaskExactMatch(std::string("positive\0", 9), "positive"), 1.0);
  EXPECT_EQ(TaskExactMatch("positive", std::string("positive\0\0", 10)), 1.0);
  EXPECT_EQ(TaskExactMatch(std::string("\0positive", 9), "positive"), 0.0);
  EXPECT_EQ(TaskExactMatch("", ""), 1.0);
  EXPECT_EQ(TaskExactMatch("  ", ""), 1.0);
}

TEST(TaskTest, ArgmaxIsNumpys) {
  EXPECT_EQ(ArgmaxChoice({-3.0, -1.0, -1.0, -2.0}), 1);  // Ties to the first.
  EXPECT_EQ(ArgmaxChoice({-3.0, NAN, 0.0}), 1);          // A NaN wins.
  EXPECT_EQ(ArgmaxChoice({}), -1);
}

TEST(TaskTest, MacroF1ByHand) {
  // gold 0 0 1 1 2, predicted 0 1 1 1 0:
  //   class 0: TP 1, FP 1, FN 1 -> 2/(2+1+1) = 0.5
  //   class 1: TP 2, FP 1, FN 0 -> 4/(4+1)   = 0.8
  //   class 2: TP 0, FP 0, FN 1 -> 0 (never predicted, still counted: it is in gold)
  //   macro = (0.5 + 0.8 + 0) / 3 = 0.4333...
  absl::StatusOr<double> f1 = MacroF1({0, 0, 1, 1, 2}, {0, 1, 1, 1, 0});
  ASSERT_TRUE(f1.ok()) << f1.status();
  EXPECT_NEAR(*f1, 1.3 / 3.0, 1e-12);
  // A class only predicted counts too: gold 0 0, predicted 0 1 -> class 0: 2/(2+0+1) = 2/3, class 1: 0 -> 1/3.
  EXPECT_NEAR(*MacroF1({0, 0}, {0, 1}), 1.0 / 3.0, 1e-12);
  // A class in neither (option 2 of three) is left out: perfect predictions score 1, not 2/3.
  EXPECT_DOUBLE_EQ(*MacroF1({0, 1, 1}, {0, 1, 1}), 1.0);
  // Binary, the positive class never predicted: class 0: TP 2, FP 2 -> 4/6; class 1: FN 2 -> 0; macro 1/3.
  EXPECT_NEAR(*MacroF1({0, 0, 1, 1}, {0, 0, 0, 0}), 1.0 / 3.0, 1e-12);
  EXPECT_DOUBLE_EQ(*MacroF1({}, {}), 0.0);
  EXPECT_EQ(MacroF1({0}, {}).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(TaskTest, MacroF1BootstrapIsSeeded) {
  const std::vector<int> gold = {0, 0, 1, 1, 2, 2, 0, 1};
  const std::vector<int> predicted = {0, 1, 1, 1, 0, 2, 0, 0};
  const std::optional<double> a = MacroF1BootstrapStderr(gold, predicted, 200, 7);
  const std::optional<double> b = MacroF1BootstrapStderr(gold, predicted, 200, 7);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(*a, *b);
  EXPECT_GT(*a, 0.0);
  EXPECT_LT(*a, 0.5);
  EXPECT_FALSE(MacroF1BootstrapStderr({0}, {0}).has_value());
  // All correct in every resample: no spread.
  EXPECT_DOUBLE_EQ(*MacroF1BootstrapStderr({0, 1, 1}, {0, 1, 1}, 50), 0.0);
}

}  // namespace
}  // namespace ftd
