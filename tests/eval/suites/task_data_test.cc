// The task suite over the real tasks in ../shared/data/tasks (see its README): item counts and a prompt. Each
// test skips, saying why, where the data is absent.
#include <filesystem>
#include <string>

#include "eval/suites/task.h"
#include "gtest/gtest.h"

namespace ftd {
namespace {

const std::string kTasks = std::string(FTD_SOURCE_DIR) + "/../shared/data/tasks";

#define SKIP_WITHOUT(path)                                                               \
  if (!std::filesystem::exists(path)) {                                                  \
    GTEST_SKIP() << (path) << " is absent (../shared/data is optional; see its README)"; \
  }

TEST(TaskDataTest, Sst2) {
  SKIP_WITHOUT(kTasks + "/sst2/config.json");
  absl::StatusOr<LoadedTask> task = LoadTask(kTasks + "/sst2", 2);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->config.name, "sst2");
  EXPECT_EQ(task->config.options, (std::vector<std::string>{"positive", "negative"}));
  ASSERT_EQ(task->items.size(), 100u);
  EXPECT_EQ(task->items[0].context,
            "Classify the movie review into either positive or negative.\n\n"
            "Review: enhanced by a surplus of vintage archive footage \nSentiment: positive\n\n"
            "Review: gaping plot holes sink this ` sub ' \nSentiment: negative\n\n"
            "Review: it gets onto the screen just about as much of the novella as one could reasonably expect , and "
            "is engrossing and moving in its own right . \nSentiment:");
  EXPECT_EQ(task->items[0].gold, 0);
  int positive = 0;
  for (const MultipleChoiceItem& item : task->items) positive += item.gold == 0;
  EXPECT_EQ(positive, 57);
}

TEST(TaskDataTest, FunctionOfDecisionSection) {
  SKIP_WITHOUT(kTasks + "/function_of_decision_section/config.json");
  absl::StatusOr<LoadedTask> task = LoadTask(kTasks + "/function_of_decision_section", 0);
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->config.options.size(), 7u);
  ASSERT_EQ(task->items.size(), 100u);
  EXPECT_EQ(task->items[0].context,
            "This task is to classify a paragraph extracted from a written decision into one of seven possible "
            "categories: Facts, Procedural History, Issue, Rule, Analysis, Conclusion, or Decree.\n\n"
            "Input: Darby argues that her liberty interest is not in obtaining discretionary relief, but in having "
            "the BIA consider the evidence she presented in her motion\nLabel:");
  EXPECT_EQ(task->config.options[static_cast<size_t>(task->items[0].gold)], "Decree");
  EXPECT_EQ(task->items[0].choices.size(), 7u);
  // Every train_0 line loads as a demonstration (140 of them).
  EXPECT_TRUE(LoadTask(kTasks + "/function_of_decision_section", 140).ok());
  EXPECT_EQ(LoadTask(kTasks + "/function_of_decision_section", 141).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TaskDataTest, EveryTaskLoads) {
  SKIP_WITHOUT(kTasks);
  for (const char* name : {"sst2", "function_of_decision_section", "boolq", "sms_spam", "rotten_tomatoes"}) {
    if (!std::filesystem::exists(kTasks + "/" + name + "/config.json")) continue;
    absl::StatusOr<LoadedTask> task = LoadTask(kTasks + "/" + name, 1);
    ASSERT_TRUE(task.ok()) << name << ": " << task.status();
    EXPECT_EQ(task->items.size(), 100u) << name;
  }
}

}  // namespace
}  // namespace ftd
