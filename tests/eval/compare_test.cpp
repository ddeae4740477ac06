// compare: pairing by question id, one-sided items, the errors (repeated id, different gt answers,
// no common item, unknown group), group tests with min_n, the Holm family and the gate, and the
// JUnit file's test cases (junit.h).
#include "medvqa/eval/compare.h"

#include <gtest/gtest.h>
#include "common/test_util.h"

#include "medvqa/eval/junit.h"

using namespace medvqa;

namespace {

Prediction item(const std::string& id, const std::string& modality, bool right) {
  Prediction p;
  p.question_id = id;
  p.dataset = "D";
  p.modality_type = modality;
  p.question_type = "Q";
  p.question = "what?";
  p.gt_answer = "yes";
  p.prediction = right ? "yes" : "no";
  return p;
}

// n items per modality: the baseline right on all; the candidate wrong on the first `worse` of "CT".
void sides(size_t n, size_t worse, std::vector<Prediction>& base, std::vector<Prediction>& cand) {
  for (const std::string m : {"CT", "MRI"})
    for (size_t i = 0; i < n; ++i) {
      const std::string id = m + std::to_string(i);
      base.push_back(item(id, m, true));
      cand.push_back(item(id, m, !(m == "CT" && i < worse)));
    }
}

CompareOptions by_modality() {
  CompareOptions o;
  o.group_by = {"modality"};
  return o;
}

}  // namespace

TEST(Compare, SelfComparisonPasses) {
  std::vector<Prediction> base, cand;
  sides(40, 0, base, cand);
  Comparison c = compare_predictions(base, base, by_modality(), "b", "c");
  ASSERT_EQ(c.groups.size(), 3u);
  for (const auto& g : c.groups) {
    EXPECT_EQ(g.difference, 0.0);
    EXPECT_EQ(g.p, 1.0);
    EXPECT_FALSE(g.failed);
  }
  EXPECT_FALSE(c.failed());
  EXPECT_TRUE(c.flipped.empty());
}

TEST(Compare, OneModalityWorseFailsNamingIt) {
  std::vector<Prediction> base, cand;
  sides(40, 20, base, cand);
  Comparison c = compare_predictions(base, cand, by_modality(), "b", "c");
  EXPECT_TRUE(c.failed());
  EXPECT_EQ(c.groups[0].label(), "overall");
  EXPECT_EQ(c.groups[1].label(), "modality=CT");
  EXPECT_TRUE(c.groups[1].failed);
  EXPECT_DOUBLE_EQ(c.groups[1].difference, -0.5);
  EXPECT_EQ(c.groups[1].right_to_wrong, 20u);
  EXPECT_FALSE(c.groups[2].failed);  // MRI
  EXPECT_EQ(c.flipped.size(), 20u);
  EXPECT_NE(c.failure_summary().find("modality=CT: -50.00 points"), std::string::npos) << c.failure_summary();
  EXPECT_EQ(c.failure_summary().find("MRI"), std::string::npos);
  // Holm over the three tests: the smallest p times 3.
  EXPECT_DOUBLE_EQ(c.groups[0].p_holm, std::min(1.0, 3 * c.groups[0].p));
}

TEST(Compare, DropWithinMaxDropOrBelowMinNPasses) {
  std::vector<Prediction> base, cand;
  sides(40, 20, base, cand);
  CompareOptions o = by_modality();
  o.max_drop = 0.6;  // a 50-point drop is tolerated
  EXPECT_FALSE(compare_predictions(base, cand, o, "b", "c").failed());
  o = by_modality();
  o.min_n = 100;  // nothing is tested, not even overall (80 items)
  Comparison c = compare_predictions(base, cand, o, "b", "c");
  EXPECT_FALSE(c.failed());
  for (const auto& g : c.groups) EXPECT_FALSE(g.tested);
}

TEST(Compare, OneSidedItemsAreCountedAndNamed) {
  std::vector<Prediction> base, cand;
  sides(5, 0, base, cand);
  base.push_back(item("only-base", "CT", true));
  cand.insert(cand.begin(), item("only-cand", "CT", true));
  Comparison c = compare_predictions(base, cand, by_modality(), "b", "c");
  EXPECT_EQ(c.baseline_only, std::vector<std::string>{"only-base"});
  EXPECT_EQ(c.candidate_only, std::vector<std::string>{"only-cand"});
  EXPECT_EQ(c.groups[0].n, 10u);
  auto j = to_json(c);
  EXPECT_EQ(j["paired"], 10);
  EXPECT_EQ(j["baseline_only"][0], "only-base");
}

TEST(Compare, ErrorsNameTheIdAndFiles) {
  std::vector<Prediction> base, cand;
  sides(3, 0, base, cand);
  cand[1].gt_answer = "no";
  EXPECT_EQ(test_util::error_message([&] { compare_predictions(base, cand, by_modality(), "B.jsonl", "C.jsonl"); }),
            "compare: question_id \"CT1\" has different gt answers: \"yes\" in B.jsonl, \"no\" in C.jsonl (the two "
            "evaluations are not of the same items)");
  cand = base;
  cand.push_back(cand[0]);
  EXPECT_EQ(test_util::error_message([&] { compare_predictions(base, cand, by_modality(), "B.jsonl", "C.jsonl"); }),
            "C.jsonl: question_id \"CT0\" occurs twice (items 1 and 7); compare pairs items by id");
  std::vector<Prediction> other{item("x", "CT", true)};
  EXPECT_EQ(test_util::error_message([&] { compare_predictions(base, other, by_modality(), "B.jsonl", "C.jsonl"); }),
            "compare: no question_id occurs in both B.jsonl and C.jsonl");
  CompareOptions o;
  o.group_by = {"organ"};
  EXPECT_EQ(test_util::error_message([&] { compare_predictions(base, base, o, "B.jsonl", "C.jsonl"); }),
            "compare: unknown group-by \"organ\": expected modality, question_type or dataset");
}

TEST(Compare, JunitHasOneTestCasePerGroup) {
  std::vector<Prediction> base, cand;
  sides(40, 20, base, cand);
  base.push_back(item("pet-1", "PET", true));
  cand.push_back(item("pet-1", "PET", true));
  const std::string xml = junit_xml(compare_predictions(base, cand, by_modality(), "b", "c"));
  size_t cases = 0;
  for (size_t at = xml.find("<testcase "); at != std::string::npos; at = xml.find("<testcase ", at + 1)) ++cases;
  EXPECT_EQ(cases, 4u);  // overall, CT, MRI, PET
  EXPECT_NE(xml.find("tests=\"4\" failures=\"2\" errors=\"0\" skipped=\"1\""), std::string::npos) << xml;
  EXPECT_NE(xml.find("<failure message=\"modality=CT dropped by more than 1.00 points"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<skipped message=\"n 1 below min-n 30"), std::string::npos) << xml;
}
