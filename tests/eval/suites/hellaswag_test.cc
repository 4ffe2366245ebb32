// HellaSwag as lm_eval 0.4.13's tasks/hellaswag/utils.py poses it. Expected preprocess outputs are that file's
// own preprocess() run once under /opt/fixture-venv/bin/python and pasted here.
#include "eval/suites/hellaswag.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

TEST(HellaSwagTest, PreprocessMatchesLmEval) {
  // Strip, " [title]" -> ". ", bracket tags deleted, one pass of "  " -> " " (three spaces leave two).
  EXPECT_EQ(HellaSwagPreprocess("  Hello [header] world [title]How  to   swim [step] x "),
            "Hello world. How to  swim x");
  EXPECT_EQ(HellaSwagPreprocess("a [b\nc] d"), "a [b\nc] d");  // `.` does not cross a line break.
  EXPECT_EQ(HellaSwagPreprocess("[title] x"), " x");           // No space before [title]: the tag is just removed.
  EXPECT_EQ(HellaSwagPreprocess("a [x] [y] b"), "a  b");       // Three spaces left; one replace pass leaves two.
}

TEST(HellaSwagTest, QueryCapitalizesCtxB) {
  HellaSwagDoc doc{
      "Roof shingle removal", "A man is sitting on a roof.", "he IS", {"e1 [step] x", " e2 ", "e3", "e4"}, 3};
  const MultipleChoiceItem item = HellaSwagItem(doc);
  EXPECT_EQ(item.context, "Roof shingle removal: A man is sitting on a roof. He is");
  EXPECT_EQ(item.choices, (std::vector<std::string>{"e1 x", "e2", "e3", "e4"}));
  EXPECT_EQ(Requests(item)[1], (TextRequest{item.context, " e2"}));
  EXPECT_EQ(item.gold, 3);
}

TEST(HellaSwagTest, ParsesTheOriginalJsonl) {
  const std::string jsonl =
      R"({"ind": 4, "activity_label": "Removing ice from car", "ctx_a": "Then, the man writes over the snow.", "ctx_b": "then", "endings": ["a", "b", "c", "d"], "label": 3})"
      "\n"
      R"({"activity_label": "X", "ctx_a": "y", "ctx_b": "", "endings": ["a", "b"], "label": "1"})"
      "\n";
  absl::StatusOr<std::vector<HellaSwagDoc>> docs = ParseHellaSwagJsonl(jsonl, "h.jsonl");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  EXPECT_EQ(HellaSwagItem((*docs)[0]).context, "Removing ice from car: Then, the man writes over the snow. Then");
  EXPECT_EQ(HellaSwagItem((*docs)[1]).context, "X: y");  // Trailing space stripped by preprocess.
  EXPECT_EQ((*docs)[1].label, 1);
  EXPECT_EQ(ParseHellaSwagJsonl("{}\n", "h.jsonl").status().message(),
            "h.jsonl:1: missing string field 'activity_label'");
  EXPECT_EQ(ParseHellaSwagJsonl(R"({"activity_label":"a","ctx_a":"","ctx_b":"","endings":["x"],"label":2})", "h.jsonl")
                .status()
                .message(),
            "h.jsonl:1: label 2 is not an ending's index");
}

TEST(HellaSwagTest, ParsesTheSixLineTextForm) {
  absl::StatusOr<std::vector<MultipleChoiceItem>> items =
      ParseHellaSwagText("Roof: A man. he\n3\ne0\ne1\ne2\n starts pulling  up.\n", "h.txt");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 1u);
  EXPECT_EQ((*items)[0].context, "Roof: A man. he");  // ctx_b's boundary is lost: not capitalized.
  EXPECT_EQ((*items)[0].choices[3], "starts pulling up.");
  EXPECT_EQ((*items)[0].gold, 3);
  EXPECT_EQ(ParseHellaSwagText("c\n7\na\nb\nc\nd\n", "h.txt").status().message(), "h.txt:2: gold index '7' is not 0-3");
  EXPECT_EQ(ParseHellaSwagText("c\n1\na\n", "h.txt").status().message(),
            "h.txt:3: 3 lines is not a whole number of 6-line items");
}

}  // namespace
}  // namespace ftd
