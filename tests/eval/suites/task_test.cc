// The task suite's text side and metrics: config and JSONL parsing, the exact prompt, gold labels, np.argmax, and
// macro-F1 against numbers worked out by hand (sklearn's f1_score(average="macro", zero_division=0)).
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
