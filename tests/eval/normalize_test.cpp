#include "medvqa/eval/normalize.h"

#include <gtest/gtest.h>

#include "medvqa/core/error.h"
#include "medvqa/eval/unicode.h"

using medvqa::normalize;
using medvqa::normalize_tokens;

TEST(Normalize, LowercasesAndDropsArticles) {
  EXPECT_EQ(normalize("The Left Lung"), "left lung");
  EXPECT_EQ(normalize("An MRI, a CT and THE x-ray"), "mri ct and x ray");
  // Articles are whole tokens only.
  EXPECT_EQ(normalize("Anatomy theta"), "anatomy theta");
}

TEST(Normalize, NumberWordsBecomeDigits) {
  EXPECT_EQ(normalize("Zero"), "0");
  EXPECT_EQ(normalize("three lesions, twenty cysts"), "3 lesions 20 cysts");
  EXPECT_EQ(normalize("twenty-one"), "20 1");   // the words, not a number parser
  EXPECT_EQ(normalize("Twentyone"), "twentyone");
}

TEST(Normalize, KeepsDecimalPointsOnly) {
  EXPECT_EQ(normalize("1.5 mm"), "1.5 mm");
  EXPECT_EQ(normalize("Grade 2."), "grade 2");
  EXPECT_EQ(normalize(".5 cm"), "5 cm");
  EXPECT_EQ(normalize("v1.2.3"), "v1.2.3");
  EXPECT_EQ(normalize("a.b"), "b");  // "a" is then an article
  EXPECT_EQ(normalize("3,5"), "3 5");
  // Non-ASCII decimal digits (category Nd) count too.
  EXPECT_EQ(normalize("\u0661.\u0662"), "\u0661.\u0662");
}

TEST(Normalize, PunctuationAndSymbolsAreSeparators) {
  EXPECT_EQ(normalize("  (Benign)\tnevus!!\n"), "benign nevus");
  EXPECT_EQ(normalize("T2-weighted/FLAIR"), "t2 weighted flair");
  EXPECT_EQ(normalize("50%  \u00b1 5"), "50 5");
  EXPECT_EQ(normalize("don't"), "don t");
  EXPECT_EQ(normalize(""), "");
  EXPECT_EQ(normalize("?!"), "");
  EXPECT_TRUE(normalize_tokens("the a an").empty());
}

TEST(Normalize, UnicodeLettersAndNumbers) {
  EXPECT_EQ(normalize("Ödem der Lunge"), "ödem der lunge");
  EXPECT_EQ(normalize("ПНЕВМОНИЯ"), "пневмония");
  EXPECT_EQ(normalize("肺炎。"), "肺炎");
  EXPECT_EQ(normalize("Stage \u2163"), "stage \u2173");  // Roman numeral IV (Nl) lowercases
  EXPECT_EQ(normalize("x\u00b2"), "x\u00b2");           // superscript two is No
  // Combining marks (Mn) are not letters: NFD text splits, like Python.
  EXPECT_EQ(normalize("e\u0301dema"), "e dema");
}

TEST(Normalize, MatchesPythonLowerWhereUtf8procDiffers) {
  // str.lower() maps U+0130 to "i" + U+0307 (a combining mark, so a separator here).
  EXPECT_EQ(normalize("\u0130stanbul"), "i stanbul");
  // Final sigma: word-final capital sigma lowercases to U+03C2, inside a word to U+03C3.
  EXPECT_EQ(normalize("ΟΔΟΣ"), "οδος");
  EXPECT_EQ(normalize("ΣΑΣ."), "σας");
  EXPECT_EQ(normalize("Σ"), "σ");
  EXPECT_EQ(normalize("Α'Σ'Β"), "α σ β");  // apostrophes are case-ignorable: sigma is medial
}

TEST(Normalize, RejectsInvalidUtf8) {
  EXPECT_THROW(normalize("ab\xff"), medvqa::Error);
  EXPECT_THROW(normalize("\xed\xa0\x80"), medvqa::Error);  // an encoded surrogate
}

TEST(Unicode, RoundTripsCodePoints) {
  const std::string text = "a\u00e9\u4e2d\U0001F600";
  std::u32string cps = medvqa::decode_utf8(text);
  ASSERT_EQ(cps.size(), 4u);
  EXPECT_EQ(cps[3], U'\U0001F600');
  EXPECT_EQ(medvqa::encode_utf8(cps), text);
}
