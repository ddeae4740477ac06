#include "medvqa/eval/scorers.h"

#include <gtest/gtest.h>

using namespace medvqa;

TEST(Scorers, ExactMatchIsOverNormalisedText) {
  EXPECT_TRUE(exact_match("The answer is: Pneumonia.", "the answer is pneumonia"));
  EXPECT_TRUE(exact_match("Two", "2"));
  EXPECT_FALSE(exact_match("pneumonia, likely", "Pneumonia"));
  EXPECT_TRUE(exact_match("", "?"));
}

TEST(Scorers, LenientMatchNeedsTokenBoundaries) {
  EXPECT_TRUE(lenient_match("It shows a left pleural effusion.", "Pleural effusion"));
  EXPECT_FALSE(lenient_match("pleural effusions", "pleural effusion"));
  EXPECT_FALSE(lenient_match("effusion pleural", "pleural effusion"));
  EXPECT_FALSE(lenient_match("anything", "the"));  // empty gt only matches empty predictions
  EXPECT_TRUE(lenient_match("", "the"));
}

TEST(Scorers, TokenF1IsSquadStyle) {
  // prediction: left lower lobe (3), gt: lower lobe (2): overlap 2, P 2/3, R 1 -> 0.8.
  EXPECT_DOUBLE_EQ(token_f1("the left lower lobe", "lower lobe"), 0.8);
  // Multiset overlap: "lobe lobe" vs "lobe": overlap 1, P 1/2, R 1.
  EXPECT_DOUBLE_EQ(token_f1("lobe lobe", "lobe"), 2.0 / 3.0);
  EXPECT_EQ(token_f1("", "a"), 1.0);
  EXPECT_EQ(token_f1("", "lobe"), 0.0);
  EXPECT_EQ(token_f1("x", "y"), 0.0);
}

TEST(Scorers, QaChoicePicksTheHighestRatioFirstMaxWins) {
  std::vector<std::string> options{"CT scan", "MRI", "Fundus imaging", "X-ray"};
  QaChoice c = qa_choice(options, "fundus imaging");
  EXPECT_EQ(c.index, 2);
  EXPECT_EQ(c.ratio, 0.9285714285714286);
  // "ab" and "ba" score the same against "a": the first one wins.
  EXPECT_EQ(qa_choice({"xy", "ab", "ba"}, "a").index, 1);
  // Nothing in common: no choice.
  EXPECT_EQ(qa_choice({"xy", "zw"}, "abc").index, -1);
  EXPECT_EQ(qa_choice({}, "abc").index, -1);
}

TEST(Scorers, ScoreItemComparesTheChosenOptionWithTheAnswer) {
  Prediction p{"q1", "ACRIMA", "Fundus Photography", "Modality Recognition", "What imaging?",
               "Fundus imaging", {"PET scan", "CT scan", "Blood test", "Fundus imaging"}, "Fundus imaging."};
  ItemScore s = score_item(p);
  EXPECT_TRUE(s.open_correct);
  EXPECT_TRUE(s.lenient_correct);
  EXPECT_EQ(s.token_f1, 1.0);
  EXPECT_EQ(s.qa.index, 3);
  EXPECT_TRUE(s.qa_correct);
  EXPECT_EQ(s.normalized_prediction, "fundus imaging");
  p.prediction = "a CT";
  s = score_item(p);
  EXPECT_FALSE(s.open_correct);
  EXPECT_EQ(s.qa.index, 1);
  EXPECT_FALSE(s.qa_correct);
}
