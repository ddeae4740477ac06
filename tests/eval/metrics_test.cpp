#include "medvqa/eval/metrics.h"

#include <gtest/gtest.h>

#include "medvqa/core/error.h"

using namespace medvqa;

namespace {

ItemScore item(const char* modality, const char* qtype, const char* dataset, bool open, bool lenient, double f1,
               bool qa) {
  ItemScore s;
  s.modality_type = modality;
  s.question_type = qtype;
  s.dataset = dataset;
  s.open_correct = open;
  s.lenient_correct = lenient;
  s.token_f1 = f1;
  s.has_options = true;
  s.qa_correct = qa;
  return s;
}

}  // namespace

TEST(Metrics, AggregatesMicroMacroAndBreakdowns) {
  std::vector<ItemScore> items{
      item("CT", "Diagnosis", "A", true, true, 1.0, true),   item("CT", "Diagnosis", "B", false, true, 0.5, false),
      item("MRI", "Anatomy", "A", false, false, 0.0, true),  item("MRI", "Diagnosis", "A", true, true, 1.0, false),
      item("MRI", "Anatomy", "B", true, true, 1.0, true),
  };
  auto m = compute_metrics(items);
  EXPECT_EQ(m["n"], 5);
  EXPECT_DOUBLE_EQ(m["open_accuracy"].get<double>(), 0.6);
  EXPECT_DOUBLE_EQ(m["lenient_accuracy"].get<double>(), 0.8);
  EXPECT_DOUBLE_EQ(m["token_f1"].get<double>(), 0.7);
  EXPECT_DOUBLE_EQ(m["qa_score"].get<double>(), 0.6);
  // Macro: mean of CT 1/2 and MRI 2/3, not the micro 3/5.
  EXPECT_DOUBLE_EQ(m["macro_open_accuracy"].get<double>(), (0.5 + 2.0 / 3.0) / 2.0);
  EXPECT_EQ(m["by_modality"]["MRI"]["n"], 3);
  EXPECT_DOUBLE_EQ(m["by_modality"]["MRI"]["open_accuracy"].get<double>(), 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m["by_modality"]["CT"]["lenient_accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["by_question_type"]["Diagnosis"]["qa_score"].get<double>(), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m["by_dataset"]["B"]["token_f1"].get<double>(), 0.75);
  auto ci = m["open_accuracy_ci95"];
  EXPECT_LE(ci[0].get<double>(), 0.6);
  EXPECT_GE(ci[1].get<double>(), 0.6);
  // The documented key order of metrics.json.
  std::vector<std::string> keys;
  for (const auto& [key, value] : m.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"n", "open_accuracy", "lenient_accuracy", "token_f1", "qa_score",
                                            "open_accuracy_ci95", "macro_open_accuracy", "by_modality",
                                            "by_question_type", "by_dataset"}));
}

TEST(Metrics, MultipleChoiceScoresCoverItemsWithOptionsOnly) {
  std::vector<ItemScore> items{item("CT", "Q", "A", true, true, 1.0, true), item("CT", "Q", "A", false, false, 0.0, false),
                               item("MRI", "Q", "B", true, true, 1.0, false)};
  items[0].prefix_correct = true;
  items[1].prefix_correct = true;
  items[2].has_options = false;  // a JSONL item without options: neither choice score sees it
  auto m = compute_metrics(items, true);
  EXPECT_DOUBLE_EQ(m["qa_score"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(m["prefix_score"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(m["open_accuracy"].get<double>(), 2.0 / 3.0);
  EXPECT_TRUE(m["by_modality"]["MRI"]["qa_score"].is_null());
  EXPECT_TRUE(m["by_modality"]["MRI"]["prefix_score"].is_null());
  std::vector<std::string> keys;
  for (const auto& [key, value] : m["by_dataset"]["A"].items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"n", "open_accuracy", "lenient_accuracy", "token_f1", "qa_score",
                                            "prefix_score"}));
  EXPECT_FALSE(compute_metrics(items).contains("prefix_score"));  // `medvqa score`: text scorers only
}

TEST(Metrics, BootstrapFollowsTheDocumentedRule) {
  // Values from the Python transcription of the rule in tests/parity/test_scorers.py.
  EXPECT_EQ(bootstrap_ci95({true, false, true, true, false, false, true, false, true, true}),
            (std::array<double, 2>{0.3, 0.9}));
  EXPECT_EQ(bootstrap_ci95({true, false, false, true, true}), (std::array<double, 2>{0.2, 1.0}));
  EXPECT_EQ(bootstrap_ci95({true, true, true}), (std::array<double, 2>{1.0, 1.0}));
}

TEST(Metrics, RejectsNoItems) { EXPECT_THROW(compute_metrics({}), Error); }
