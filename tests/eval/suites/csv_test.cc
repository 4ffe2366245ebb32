// CSV parsing as Python's csv module reads the MMLU files: quoting, doubled quotes, embedded line breaks, CRLF,
// and errors that name the file and line.
#include "eval/suites/csv.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

std::vector<std::vector<std::string>> Fields(const std::vector<CsvRecord>& records) {
  std::vector<std::vector<std::string>> out;
  for (const CsvRecord& r : records) out.push_back(r.fields);
  return out;
}

TEST(CsvTest, QuotesCommasAndEmbeddedLineBreaks) {
  absl::StatusOr<std::vector<CsvRecord>> r =
      ParseCsv("a,\"b, c\",\"say \"\"hi\"\"\"\r\n\"two\nlines\",x,\n,\"\",last", "t.csv");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Fields(*r), (std::vector<std::vector<std::string>>{
                            {"a", "b, c", "say \"hi\""}, {"two\nlines", "x", ""}, {"", "", "last"}}));
  EXPECT_EQ((*r)[0].line, 1);
  EXPECT_EQ((*r)[1].line, 2);
  EXPECT_EQ((*r)[2].line, 4);  // The quoted line break moved it down a line.
}

TEST(CsvTest, QuoteInsideAnUnquotedFieldIsLiteral) {
  absl::StatusOr<std::vector<CsvRecord>> r = ParseCsv("5\" pipe,b\n", "t.csv");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(Fields(*r), (std::vector<std::vector<std::string>>{{"5\" pipe", "b"}}));
}

TEST(CsvTest, ErrorsNameFileAndLine) {
  EXPECT_EQ(ParseCsv("a,b\nc,\"open\nstill", "x.csv").status().message(), "x.csv:2: quoted field is never closed");
  EXPECT_EQ(ParseCsv("a\n\"q\"z,b\n", "x.csv").status().message(),
            "x.csv:2: unexpected character after a closing quote");
}

}  // namespace
}  // namespace ftd
