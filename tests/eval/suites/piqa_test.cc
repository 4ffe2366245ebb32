// PIQA as lm_eval 0.4.13's tasks/piqa/piqa.yaml poses it: "Question: {goal}\nAnswer:", choices [sol1, sol2].
#include "eval/suites/piqa.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

TEST(PiqaTest, PromptAndChoices) {
  absl::StatusOr<std::vector<PiqaDoc>> docs = ParsePiqa(
      R"({"goal": "dresser", "sol1": "replace drawer with bobby pin ", "sol2": "finish, woodgrain with  bobby pin "})"
      "\n",
      "1\n", "valid.jsonl", "valid-labels.lst");
  ASSERT_TRUE(docs.ok()) << docs.status();
  const MultipleChoiceItem item = PiqaItem((*docs)[0]);
  EXPECT_EQ(item.context, "Question: dresser\nAnswer:");
  EXPECT_EQ(Requests(item), (std::vector<TextRequest>{{item.context, " replace drawer with bobby pin "},
                                                      {item.context, " finish, woodgrain with  bobby pin "}}));
  EXPECT_EQ(item.gold, 1);
}

TEST(PiqaTest, ErrorsNameFileAndLine) {
  const std::string doc = R"({"goal": "g", "sol1": "a", "sol2": "b"})";
  EXPECT_EQ(ParsePiqa(doc + "\n" + doc + "\n", "0\n", "v.jsonl", "l.lst").status().message(),
            "v.jsonl has 2 lines but l.lst has 1");
  EXPECT_EQ(ParsePiqa(doc + "\n" + doc + "\n", "0\n2\n", "v.jsonl", "l.lst").status().message(),
            "l.lst:2: label '2' is not 0 or 1");
  EXPECT_EQ(ParsePiqa("{\"goal\": 1}\n", "0\n", "v.jsonl", "l.lst").status().message(),
            "v.jsonl:1: missing string field 'goal'");
  EXPECT_EQ(ParsePiqa("not json\n", "0\n", "v.jsonl", "l.lst").status().message(), "v.jsonl:1: not a JSON object");
}

}  // namespace
}  // namespace ftd
