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
  EXPECT_NE(e.find(path + ":2: missing field \"gt_answer\""), std::string::npos) << e;

  path = write_temp("type.jsonl", with(R"(["PET scan", "Fundus imaging"])", R"("PET scan")") + "\n");
  e = error_of(path);
  EXPECT_NE(e.find(path + ":1: field \"options\" must be a list of strings, got string"), std::string::npos) << e;

  path = write_temp("option.jsonl", with(R"("Fundus imaging"])", "3]") + "\n");
  e = error_of(path);
  EXPECT_NE(e.find(":1: field \"options\" must be a list of strings, item 1 is number"), std::string::npos) << e;

  path = write_temp("null.jsonl", with(R"("fundus")", "null"));
  EXPECT_NE(error_of(path).find(":1: field \"prediction\" must be a string, got null"), std::string::npos);
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
  EXPECT_NE(error_of(write_temp("array.jsonl", "[1, 2]\n")).find(":1: expected a JSON object, got array"),
            std::string::npos);
  EXPECT_NE(error_of(write_temp("empty.jsonl", "\n")).find("no predictions"), std::string::npos);
  EXPECT_NE(error_of("/nonexistent/p.jsonl").find("cannot open predictions file /nonexistent/p.jsonl"),
            std::string::npos);
}
