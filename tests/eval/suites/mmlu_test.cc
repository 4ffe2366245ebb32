// MMLU prompts as lm_eval 0.4.13's tasks/mmlu/default builds them (_default_template_yaml: question.strip(),
// choices "A".."D", first_n few-shot from dev; api/task.py: target_delimiter " ", fewshot_delimiter "\n\n";
// every subject's description is "...about {subject with '_' -> ' '}.\n\n", checked over all 57 yaml files).
#include "eval/suites/mmlu.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

constexpr char kCsv[] =
    "\"  What is 1+1?\n\",1,2,\"3, or so\",4,B\n"
    "\"Pick the \"\"best\"\"\",x,y,z,w,D\n";

TEST(MmluTest, ParsesTheOriginalCsv) {
  absl::StatusOr<std::vector<MmluQuestion>> qs = ParseMmluCsv(kCsv, "dev/x_dev.csv");
  ASSERT_TRUE(qs.ok()) << qs.status();
  ASSERT_EQ(qs->size(), 2u);
  EXPECT_EQ((*qs)[0].question, "  What is 1+1?\n");
  EXPECT_EQ((*qs)[0].options[2], "3, or so");
  EXPECT_EQ((*qs)[0].answer, 1);
  EXPECT_EQ((*qs)[1].question, "Pick the \"best\"");
  EXPECT_EQ((*qs)[1].answer, 3);
}

TEST(MmluTest, RejectsBadRowsWithFileAndLine) {
  EXPECT_EQ(ParseMmluCsv("q,a,b,c,d,A\nq,a,b,c,d,E\n", "t.csv").status().message(), "t.csv:2: answer 'E' is not A-D");
  EXPECT_EQ(ParseMmluCsv("q,a,b,c,d,A\n\"multi\nline\",a,b\n", "t.csv").status().message(),
            "t.csv:2: expected 6 fields, found 3");
}

TEST(MmluTest, ZeroShotPrompt) {
  std::vector<MmluQuestion> qs = *ParseMmluCsv(kCsv, "t.csv");
  absl::StatusOr<std::vector<MultipleChoiceItem>> items = BuildMmluItems("high_school_physics", {}, qs, 0);
  ASSERT_TRUE(items.ok()) << items.status();
  const MultipleChoiceItem& item = (*items)[0];
  EXPECT_EQ(item.context,
            "The following are multiple choice questions (with answers) about high school physics.\n\n"
            "What is 1+1?\nA. 1\nB. 2\nC. 3, or so\nD. 4\nAnswer:");
  EXPECT_EQ(item.gold, 1);
  EXPECT_EQ(Requests(item),
            (std::vector<TextRequest>{
                {item.context, " A"}, {item.context, " B"}, {item.context, " C"}, {item.context, " D"}}));
}

TEST(MmluTest, FewShotUsesTheFirstDevQuestions) {
  std::vector<MmluQuestion> dev = *ParseMmluCsv(kCsv, "t.csv");
  std::vector<MmluQuestion> test = *ParseMmluCsv("Q?,a,b,c,d,C\n", "t.csv");
  absl::StatusOr<std::vector<MultipleChoiceItem>> items = BuildMmluItems("anatomy", dev, test, 2);
  ASSERT_TRUE(items.ok()) << items.status();
  EXPECT_EQ((*items)[0].context,
            "The following are multiple choice questions (with answers) about anatomy.\n\n"
            "What is 1+1?\nA. 1\nB. 2\nC. 3, or so\nD. 4\nAnswer: B\n\n"
            "Pick the \"best\"\nA. x\nB. y\nC. z\nD. w\nAnswer: D\n\n"
            "Q?\nA. a\nB. b\nC. c\nD. d\nAnswer:");
  EXPECT_EQ((*items)[0].gold, 2);
  EXPECT_EQ(BuildMmluItems("anatomy", dev, test, 3).status().message(),
            "mmlu anatomy: 3-shot needs that many dev questions, have 2");
}

}  // namespace
}  // namespace ftd
