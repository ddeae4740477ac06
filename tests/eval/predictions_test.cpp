#include "medvqa/eval/predictions.h"

#include <gtest/gtest.h>
#include "common/test_util.h"

#include <filesystem>
#include <fstream>

#include "medvqa/core/error.h"

namespace fs = std::filesystem;
using medvqa::read_predictions;

namespace {

const std::string kGood =
    R"({"question_id": "ACRIMA_0000", "dataset": "ACRIMA", "modality_type": "Fundus Photography", )"
    R"("question_type": "Modality Recognition", "question": "What?", "gt_answer": "Fundus imaging", )"
    R"("options": ["PET scan", "Fundus imaging"], "prediction": "fundus"})";

std::string write_temp(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / "medvqa_eval_test";
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p.string();
}

std::string error_of(const std::string& path) {
  return medvqa::test_util::error_message([&] { read_predictions(path); });
}

std::string with(const std::string& from, const std::string& to) {
  std::string line = kGood;
  line.replace(line.find(from), from.size(), to);
  return line;
}

}  // namespace

TEST(Predictions, ReadsEveryFieldAndSkipsBlankLines) {
  auto path = write_temp("good.jsonl", kGood + "\n\n" + with(R"("ACRIMA_0000")", "17") + "\n");
  auto items = read_predictions(path);
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].question_id, "ACRIMA_0000");
  EXPECT_EQ(items[0].modality_type, "Fundus Photography");
  EXPECT_EQ(items[0].options, (std::vector<std::string>{"PET scan", "Fundus imaging"}));
  EXPECT_EQ(items[0].prediction, "fundus");
  EXPECT_EQ(items[1].question_id, "17");
}

TEST(Predictions, NamesFileLineAndField) {
  auto path = write_temp("missing.jsonl", kGood + "\n" + with(R"("gt_answer": "Fundus imaging", )", "") + "\n");
  std::string e = error_of(path);
  EXPECT_EQ(e, path + ":2: key \"gt_answer\": missing");

  path = write_temp("type.jsonl", with(R"(["PET scan", "Fundus imaging"])", R"("PET scan")") + "\n");
  e = error_of(path);
  EXPECT_EQ(e, path + ":1: key \"options\": expected a list of strings, found a string (\"PET scan\")");

  path = write_temp("option.jsonl", with(R"("Fundus imaging"])", "3]") + "\n");
  e = error_of(path);
  EXPECT_EQ(e, path + ":1: key \"options[1]\": expected a string, found a number (3)");

  path = write_temp("null.jsonl", with(R"("fundus")", "null"));
  EXPECT_EQ(error_of(path), path + ":1: key \"prediction\": expected a string, found null");
}

TEST(Predictions, RejectsInvalidJsonEmptyFilesAndMissingFiles) {
  auto path = write_temp("bad.jsonl", kGood + "\n" + kGood + "\n{\"question_id\": \n");
  std::string e = error_of(path);
  EXPECT_NE(e.find(path + ":3: invalid JSON"), std::string::npos) << e;
  // Ill-formed UTF-8 is invalid JSON, quoted as \xNN so the message stays printable.
  e = error_of(write_temp("utf8.jsonl", with(R"("fundus")", "\"fund\xffus\"")));
  EXPECT_NE(e.find(":1: invalid JSON"), std::string::npos) << e;
  EXPECT_NE(e.find("\\xff"), std::string::npos) << e;
  EXPECT_EQ(e.find('\xff'), std::string::npos) << e;
  path = write_temp("array.jsonl", "[1, 2]\n");
  EXPECT_EQ(error_of(path), path + ":1: expected a JSON object, found an array");
  EXPECT_NE(error_of(write_temp("empty.jsonl", "\n")).find("no predictions"), std::string::npos);
  EXPECT_EQ(error_of("/nonexistent/p.jsonl"), "/nonexistent/p.jsonl: cannot open: no such file");
}
