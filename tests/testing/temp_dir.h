// TempDir: the one way tests get scratch space: a fresh directory under $TMPDIR (mkdtemp, so parallel tests
// never collide), removed with everything in it when the object goes out of scope.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace ftd {

class TempDir {
 public:
  explicit TempDir(absl::string_view prefix = "ftd_test") {
    const char* base = std::getenv("TMPDIR");
    std::string templ = absl::StrCat(base != nullptr && *base != '\0' ? base : "/tmp", "/", prefix, "_XXXXXX");
    EXPECT_NE(::mkdtemp(templ.data()), nullptr) << templ;
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path()/name (not created).
  std::string file(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

 private:
  std::string path_;
};

}  // namespace ftd
