// HTML escaping: the five characters that matter in text and quoted attributes, control characters, UTF-8 intact.
#include "common/html_escape.h"

#include <string>

#include "gtest/gtest.h"

namespace ftd {
namespace {

TEST(HtmlEscapeTest, EscapesTheFiveAndControlCharacters) {
  EXPECT_EQ(HtmlEscape("<a href=\"x\">&'"), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
  EXPECT_EQ(HtmlEscape(std::string("a\0b\x1b" "c\td\n", 8)), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD" "c\td\n");
  EXPECT_EQ(HtmlEscape("± ↑"), "± ↑");
}

}  // namespace
}  // namespace ftd
