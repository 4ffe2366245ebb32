// Python str semantics: every expected string is CPython 3.11.7's own answer (str.capitalize(), len(),
// re.split(r"\s+")), obtained once with /opt/fixture-venv/bin/python and pasted here.
#include "eval/suites/python_text.h"

#include "gtest/gtest.h"

namespace ftd {
namespace {

TEST(PythonTextTest, CapitalizeLowersTheRest) {
  EXPECT_EQ(PythonCapitalize("hE sAID"), "He said");
  EXPECT_EQ(PythonCapitalize("1ABC"), "1abc");
  EXPECT_EQ(PythonCapitalize(""), "");
}

TEST(PythonTextTest, CapitalizeNonAscii) {
  EXPECT_EQ(PythonCapitalize("\xc3\xa9"
                             "COLE \xc3\x89t\xc3\xa9"),
            "\xc3\x89"
            "cole \xc3\xa9t\xc3\xa9");  // éCOLE Été
  EXPECT_EQ(PythonCapitalize("\xc3\x9ftra\xc3\x9f"
                             "e"),
            "Sstra\xc3\x9f"
            "e");  // ß title-cases to "Ss".
  EXPECT_EQ(PythonCapitalize("\xc7\x86"
                             "EMAL"),
            "\xc7\x85"
            "emal");                                      // ǆ -> titlecase ǅ, not Ǆ.
  EXPECT_EQ(PythonCapitalize("\xef\xac\x81NE"), "Fine");  // The ﬁ ligature.
  EXPECT_EQ(PythonCapitalize("a\xc4\xb0"
                             "B"),
            "Ai\xcc\x87"
            "b");  // İ lowers to i + U+0307.
}

TEST(PythonTextTest, CapitalizeFinalSigma) {
  // 'ΟΔΟΣ ΣΑΣ.' -> 'Οδος σας.': word-final capital sigma becomes ς, any other σ.
  EXPECT_EQ(PythonCapitalize("\xce\x9f\xce\x94\xce\x9f\xce\xa3 \xce\xa3\xce\x91\xce\xa3."),
            "\xce\x9f\xce\xb4\xce\xbf\xcf\x82 \xcf\x83\xce\xb1\xcf\x82.");
  // 'ΑΣ\u0301' -> 'Ας\u0301' (a combining mark is case-ignorable); "ΑΣ'Α" -> "Ασ'α" (a cased letter follows).
  EXPECT_EQ(PythonCapitalize("\xce\x91\xce\xa3\xcc\x81"), "\xce\x91\xcf\x82\xcc\x81");
  EXPECT_EQ(PythonCapitalize("\xce\x91\xce\xa3'\xce\x91"), "\xce\x91\xcf\x83'\xce\xb1");
}

TEST(PythonTextTest, LengthAndStrip) {
  EXPECT_EQ(PythonLength("\xc3\xa9t\xc3\xa9"), 3);
  EXPECT_EQ(PythonStrip("\xc2\xa0 \t x y\n\xe2\x80\x83"), "x y");  // NBSP and EM SPACE are str whitespace.
  EXPECT_EQ(PythonStrip(" \n "), "");
  EXPECT_TRUE(IsPythonSpace(0x1C));
  EXPECT_FALSE(IsPythonSpace(0x200B));  // ZERO WIDTH SPACE is not.
}

TEST(PythonTextTest, Utf8RoundTripAndValidation) {
  std::string s;
  for (char32_t c : DecodeUtf8("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80")) AppendUtf8(c, &s);
  EXPECT_EQ(s, "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
  EXPECT_TRUE(IsValidUtf8(s));
  EXPECT_FALSE(IsValidUtf8("a\xc3"));
  EXPECT_FALSE(IsValidUtf8("\xc0\x80"));  // Overlong.
}

}  // namespace
}  // namespace ftd
