// The suites over the real public data in ../shared/data (see its README): item counts and a few prompts.
// Each test skips, saying why, where the data (or, for HellaSwag, the bzip2 tool) is absent.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/text_file.h"
#include "eval/suites/hellaswag.h"
#include "eval/suites/mmlu.h"
#include "eval/suites/perplexity.h"
#include "eval/suites/piqa.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

const std::string kData = std::string(FTD_SOURCE_DIR) + "/../shared/data";

#define SKIP_WITHOUT(path)                                                               \
  if (!std::filesystem::exists(path)) {                                                  \
    GTEST_SKIP() << (path) << " is absent (../shared/data is optional; see its README)"; \
  }

TEST(SharedDataTest, MmluSubjects) {
  SKIP_WITHOUT(kData + "/mmlu/test");
  absl::StatusOr<std::vector<std::string>> subjects = ListMmluSubjects(kData + "/mmlu", "test");
  ASSERT_TRUE(subjects.ok()) << subjects.status();
  EXPECT_EQ(subjects->size(), 57u);
  int64_t total = 0;
  for (const std::string& subject : *subjects) {
    for (const char* split : {"dev", "val", "test"}) {
      absl::StatusOr<std::vector<MmluQuestion>> qs = LoadMmluSubject(kData + "/mmlu", subject, split);
      ASSERT_TRUE(qs.ok()) << qs.status();
      if (std::string(split) == "dev") {
        EXPECT_EQ(qs->size(), 5u) << subject;
      }
      if (std::string(split) == "test") total += static_cast<int64_t>(qs->size());
    }
  }
  EXPECT_EQ(total, 14079);  // The pre-release snapshot's count (README); the release has 14042.

  absl::StatusOr<std::vector<MmluQuestion>> dev = LoadMmluSubject(kData + "/mmlu", "abstract_algebra", "dev");
  absl::StatusOr<std::vector<MmluQuestion>> test = LoadMmluSubject(kData + "/mmlu", "abstract_algebra", "test");
  ASSERT_TRUE(dev.ok() && test.ok());
  EXPECT_EQ(test->size(), 100u);
  absl::StatusOr<std::vector<MultipleChoiceItem>> items = BuildMmluItems("abstract_algebra", *dev, *test, 5);
  ASSERT_TRUE(items.ok()) << items.status();
  const std::string& context = (*items)[0].context;
  const std::string first =
      "The following are multiple choice questions (with answers) about abstract algebra.\n\n"
      "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\nAnswer: B\n\n"
      "Statement 1 | If aH is ";
  EXPECT_EQ(context.substr(0, first.size()), first);
  const std::string last =
      "\n\nFind the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
      "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:";
  ASSERT_GT(context.size(), last.size());
  EXPECT_EQ(context.substr(context.size() - last.size()), last);
  EXPECT_EQ((*items)[0].gold, 1);
}

TEST(SharedDataTest, Piqa) {
  SKIP_WITHOUT(kData + "/piqa/valid.jsonl");
  absl::StatusOr<std::vector<MultipleChoiceItem>> items =
      LoadPiqa(kData + "/piqa/valid.jsonl", kData + "/piqa/valid-labels.lst");
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 1838u);
  EXPECT_EQ((*items)[0].context, "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:");
  EXPECT_EQ((*items)[1].context, "Question: dresser\nAnswer:");
  EXPECT_EQ(Requests((*items)[1])[1].continuation, " finish, woodgrain with  bobby pin ");
  EXPECT_EQ((*items)[1].gold, 1);
}

TEST(SharedDataTest, HellaSwagTextForm) {
  const std::string bz2 = kData + "/hellaswag/hellaswag_val_full.txt.bz2";
  SKIP_WITHOUT(bz2);
  if (std::system("command -v bzip2 >/dev/null 2>&1") != 0) GTEST_SKIP() << "the bzip2 tool is absent";
  const std::filesystem::path out =
      std::filesystem::temp_directory_path() / ("ftd_hellaswag_" + std::to_string(::getpid()) + ".txt");
  ASSERT_EQ(std::system(("bzip2 -dc '" + bz2 + "' > '" + out.string() + "'").c_str()), 0);
  absl::StatusOr<std::vector<MultipleChoiceItem>> items = LoadHellaSwagText(out.string());
  std::filesystem::remove(out);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 10042u);
  EXPECT_EQ((*items)[0].context, "Roof shingle removal: A man is sitting on a roof. he");
  EXPECT_EQ((*items)[0].choices[3], "starts pulling up roofing on a roof.");
  EXPECT_EQ((*items)[0].gold, 3);
  EXPECT_EQ(Requests((*items)[1])[3].continuation, " stands and lifts the weight over her head.");
}

TEST(SharedDataTest, WikiText) {
  const std::string path = kData + "/text/wikitext-2-raw-test.txt";
  SKIP_WITHOUT(path);
  absl::StatusOr<std::string> raw = ReadTextFile(path);
  ASSERT_TRUE(raw.ok()) << raw.status();
  const std::vector<std::string> pages = SplitWikiTextPages(*raw);
  // wikitext-2-raw-v1 test has 62 articles (EleutherAI/wikitext_document_level's test split).
  EXPECT_EQ(pages.size(), 62u);
  EXPECT_EQ(pages[0].substr(0, 40), " = Robert Boulter = \n Robert Boulter is ");
  const std::vector<PerplexityDocument> docs = WikiTextDocuments(*raw);
  const std::string start = " = Robert Boulter =\nRobert Boulter is an English film, television and theatre actor.";
  EXPECT_EQ(docs[0].text.substr(0, start.size()), start);
  int64_t bytes = 0;
  for (const PerplexityDocument& d : docs) bytes += d.bytes;
  EXPECT_GT(bytes, 1000000);
}

}  // namespace
}  // namespace ftd
