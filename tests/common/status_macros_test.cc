// RETURN_IF_ERROR / ASSIGN_OR_RETURN / Annotate: early return on error, value pass-through on success.
#include "common/status_macros.h"

#include <memory>
#include <string>

#include "gtest/gtest.h"

namespace ftd {
namespace {

absl::Status FailIfNegative(int x) {
  if (x < 0) return absl::InvalidArgumentError("negative");
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<int>> MakeBox(int x) {
  if (x < 0) return absl::OutOfRangeError("no box for negative");
  return std::make_unique<int>(x);
}

absl::Status Chain(int x, int* reached) {
  *reached = 0;
  RETURN_IF_ERROR(FailIfNegative(x));
  *reached = 1;
  return absl::OkStatus();
}

absl::StatusOr<int> Unbox(int x) {
  ASSIGN_OR_RETURN(std::unique_ptr<int> box, MakeBox(x));  // Move-only value.
  int doubled = 0;
  ASSIGN_OR_RETURN(doubled, absl::StatusOr<int>(*box * 2));  // Assign to an existing variable.
  return doubled;
}

TEST(StatusMacrosTest, ReturnIfErrorStopsAtTheFirstError) {
  int reached = -1;
  EXPECT_EQ(Chain(-1, &reached).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(reached, 0);
  EXPECT_TRUE(Chain(3, &reached).ok());
  EXPECT_EQ(reached, 1);
}

TEST(StatusMacrosTest, AssignOrReturnPassesValuesAndErrors) {
  absl::StatusOr<int> ok = Unbox(21);
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(*ok, 42);
  absl::StatusOr<int> bad = Unbox(-1);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(bad.status().message(), "no box for negative");
}

TEST(StatusMacrosTest, AnnotateKeepsCodeAndPrefixesMessage) {
  absl::Status s = Annotate(absl::NotFoundError("no such file"), "loading job.yaml");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "loading job.yaml: no such file");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "ignored").ok());
}

}  // namespace
}  // namespace ftd
