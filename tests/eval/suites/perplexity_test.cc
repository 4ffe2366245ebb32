// Perplexity documents as lm_eval 0.4.13's tasks/wikitext counts and detokenizes them. The detokenized page and
// its counts (74 words, 259 bytes) are lm-eval's own wikitext_detokenizer/process_results on the same page, run
// once under /opt/fixture-venv/bin/python and pasted here.
#include "eval/suites/perplexity.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

constexpr char kPage[] =
    " = Robert Boulter = \n Robert Boulter is an English film , television and theatre actor . He had a guest "
    "@-@ starring role , in 2000 @,@ 1 @.@ 5 ( as \" Craig \" ) [ 1 ] { x } ' s ' the actors ' roles /' 5/ at 5 "
    "\xc2\xb0 C . N is big ; a : b ! c ? d \n = = Career = = \n";

TEST(PerplexityTest, DetokenizesAsLmEval) {
  EXPECT_EQ(WikiTextDetokenize(kPage),
            " = Robert Boulter =\nRobert Boulter is an English film, television and theatre actor. He had a "
            "guest-starring role, in 2000,1.5 (as \"Craig\") [1] {x}'s' the actors'roles /'[0-9]/ at 5\xc2\xb0"
            "C. 1 "
            "is big; a: b! c? d\n== Career ==\n");
}

TEST(PerplexityTest, CountsThePageBeforeDetokenizing) {
  const PerplexityDocument doc = WikiTextDocuments(kPage)[0];
  EXPECT_EQ(doc.words, 74);
  EXPECT_EQ(doc.bytes, 259);
  EXPECT_EQ(doc.text, WikiTextDetokenize(kPage));
}

TEST(PerplexityTest, WordCountIsLenOfReSplit) {
  // len(re.split(r"\s+", s)) in CPython 3.11.
  EXPECT_EQ(LmEvalWordCount(""), 1);
  EXPECT_EQ(LmEvalWordCount(" a"), 2);
  EXPECT_EQ(LmEvalWordCount("a b\tc\n"), 4);
  EXPECT_EQ(LmEvalWordCount("a\xc2\xa0"
                            "b\xe2\x80\x83"
                            "c\x1c"
                            "d"),
            4);  // NBSP, EM SPACE, U+001C.
  EXPECT_EQ(LmEvalWordCount("x  \n y"), 2);
}

TEST(PerplexityTest, SplitsAtTopLevelHeadingsOnly) {
  const std::vector<std::string> pages = SplitWikiTextPages(
      " = A = \r\n text a \r\n = = Sub = = \r\n more \r\n = B = \r\n = = = Deep = = = \r\n b \r\n =A= \r\n");
  ASSERT_EQ(pages.size(), 2u);
  EXPECT_EQ(pages[0], " = A = \n text a \n = = Sub = = \n more \n");
  EXPECT_EQ(pages[1], " = B = \n = = = Deep = = = \n b \n =A= \n");
  // Text before the first heading is a page of its own.
  EXPECT_EQ(SplitWikiTextPages("intro\n = T = \nx\n"), (std::vector<std::string>{"intro\n", " = T = \nx\n"}));
}

TEST(PerplexityTest, PlainTextIsScoredAsIs) {
  const PerplexityDocument doc = PlainTextDocument("First Citizen :\nBefore we proceed");
  EXPECT_EQ(doc.text, "First Citizen :\nBefore we proceed");
  EXPECT_EQ(doc.words, 6);
  EXPECT_EQ(doc.bytes, 33);
}

}  // namespace
}  // namespace ftd
