// FTD_LOG: level filtering, line format (level letter, UTC time, file:line), sink capture; FTD_CHECK aborts.
#include "common/logging.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ftd {
namespace {

class LoggingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SetLogSink([this](LogLevel level, absl::string_view line) { lines_.push_back({level, std::string(line)}); });
    SetMinLogLevel(LogLevel::kInfo);
  }
  void TearDown() override {
    SetLogSink(nullptr);
    SetMinLogLevel(LogLevel::kInfo);
  }
  struct Line {
    LogLevel level;
    std::string text;
  };
  std::vector<Line> lines_;
};

TEST_F(LoggingTest, FormatsLevelTimeFileAndMessage) {
  FTD_LOG(WARNING) << "disk " << 93 << "% full";
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(lines_[0].level, LogLevel::kWarning);
  const std::string& t = lines_[0].text;
  EXPECT_EQ(t[0], 'W');
  EXPECT_EQ(t[11], 'T');  // W2026-11-28T...
  EXPECT_NE(t.find("Z logging_test.cc:"), std::string::npos) << t;
  EXPECT_NE(t.find("] disk 93% full"), std::string::npos) << t;
}

TEST_F(LoggingTest, DropsMessagesBelowTheMinimumLevelWithoutEvaluatingThem) {
  int evaluated = 0;
  auto count = [&evaluated] { return ++evaluated; };
  FTD_LOG(DEBUG) << "hidden " << count();
  EXPECT_TRUE(lines_.empty());
  EXPECT_EQ(evaluated, 0);
  SetMinLogLevel(LogLevel::kDebug);
  FTD_LOG(DEBUG) << "shown " << count();
  ASSERT_EQ(lines_.size(), 1u);
  EXPECT_EQ(evaluated, 1);
}

TEST(LogLevelTest, ParsesNamesCaseInsensitively) {
  LogLevel level = LogLevel::kInfo;
  EXPECT_TRUE(ParseLogLevel("DEBUG", &level));
  EXPECT_EQ(level, LogLevel::kDebug);
  EXPECT_TRUE(ParseLogLevel("warn", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
  EXPECT_FALSE(ParseLogLevel("verbose", &level));
  EXPECT_EQ(level, LogLevel::kWarning);
}

TEST(LoggingDeathTest, CheckFailureAbortsWithTheCondition) {
  int x = 2;
  EXPECT_DEATH(FTD_CHECK(x == 3) << "x was " << x, "Check failed: x == 3 x was 2");
}

}  // namespace
}  // namespace ftd
