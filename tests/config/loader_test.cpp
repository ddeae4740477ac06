#include "medvqa/config/loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "common/test_util.h"

namespace fs = std::filesystem;
using medvqa::Config;
using medvqa::load_config;
using medvqa::Stage;

namespace {

std::string write_temp(const std::string& name, const std::string& text) {
  fs::path dir = fs::temp_directory_path() / "medvqa_config_test";
  fs::create_directories(dir);
  fs::path p = dir / name;
  std::ofstream(p) << text;
  return p.string();
}

std::string error_of(const std::string& path, const std::vector<std::string>& overrides = {}) {
  return medvqa::test_util::error_message([&] { load_config(path, overrides); });
}

}  // namespace

TEST(Config, DefaultsComeFromTheStructs) {
  Config c = load_config("");
  EXPECT_EQ(c.model.lora.r, 128);
  EXPECT_EQ(c.model.image_token_id, 128002);
  EXPECT_EQ(c.train.stage, Stage::align);
}

TEST(Config, EveryShippedConfigLoads) {
  int n = 0;
  for (const auto& e : fs::recursive_directory_iterator(fs::path(MEDVQA_SOURCE_DIR) / "configs"))
    if (e.path().extension() == ".yaml") {
      SCOPED_TRACE(e.path().string());
      EXPECT_NO_THROW(load_config(e.path().string()));
      ++n;
    }
  EXPECT_GE(n, 2);
}

TEST(Config, UnknownKeySuggestsTheClosest) {
  std::string err = error_of(write_temp("typo.yaml", "train:\n  lrr: 0.1\n"));
  EXPECT_NE(err.find("unknown key 'train.lrr' (did you mean 'train.lr'?)"), std::string::npos) << err;
}

TEST(Config, AllProblemsAreReportedAtOnce) {
  std::string err = error_of(write_temp("many.yaml",
                                        "train:\n  lr: fast\n  batch_size: 0\n  stage: lorra\nmodel:\n  projecter: linear\n"));
  EXPECT_NE(err.find("4 problems"), std::string::npos) << err;
  EXPECT_NE(err.find("train.lr: expected a number in [0, 1], got 'fast'"), std::string::npos) << err;
  EXPECT_NE(err.find("train.batch_size: expected an integer in [1, 1e+06], got '0'"), std::string::npos) << err;
  EXPECT_NE(err.find("train.stage: expected one of align, lora, got 'lorra' (did you mean 'lora'?)"), std::string::npos) << err;
  EXPECT_NE(err.find("did you mean 'model.projector'?"), std::string::npos) << err;
}

TEST(Config, ListsOfChoicesNameTheKeyTheEntryAndTheBadValue) {
  std::string path = write_temp("loggers.yaml", "train:\n  loggers: [jsonl, tensorbord]\n");
  std::string err = error_of(path);
  EXPECT_NE(err.find("train.loggers[1]: expected one of jsonl, tensorboard, got 'tensorbord' (did you mean 'tensorboard'?)"),
            std::string::npos) << err;
  EXPECT_NE(error_of(path, {"train.loggers=[jsonl, jsonl]"}).find("train.loggers[1]: 'jsonl' is listed twice"), std::string::npos);
  err = error_of(path, {"train.loggers=tensorboard"});
  EXPECT_NE(err.find("train.loggers: expected a list of values from jsonl, tensorboard, e.g. [jsonl], got 'tensorboard'"),
            std::string::npos) << err;
  EXPECT_NE(error_of(path, {"train.loggers=[]", "eval.loggers=[jsonl]"}).find("eval.loggers[0]: expected one of tensorboard, got 'jsonl'"),
            std::string::npos);
  EXPECT_EQ(load_config("", {}).train.loggers, std::vector<std::string>{"jsonl"});
  EXPECT_TRUE(load_config("", {}).eval.loggers.empty());
  EXPECT_EQ(load_config(path, {"train.loggers=[tensorboard, jsonl]"}).train.loggers,
            (std::vector<std::string>{"tensorboard", "jsonl"}));
}

TEST(Config, OverridesApplyAfterTheFile) {
  std::string path = write_temp("base.yaml", "train:\n  lr: 0.1\n");
  Config c = load_config(path, {"train.lr=1e-4", "model.lora.targets=[q_proj,v_proj]", "eval.blind=false"});
  EXPECT_DOUBLE_EQ(c.train.lr, 1e-4);
  EXPECT_EQ(c.model.lora.targets, (std::vector<std::string>{"q_proj", "v_proj"}));
  EXPECT_FALSE(c.eval.blind);
  EXPECT_NE(error_of(path, {"train.lr"}).find("expected key=value"), std::string::npos);
  EXPECT_NE(error_of(path, {"train.lr.x=1"}).find("'lr' is not a section"), std::string::npos);
  EXPECT_NE(error_of(path, {"trian.lr=1"}).find("did you mean 'train'?"), std::string::npos);
}

TEST(Config, RelativePathsResolveAgainstTheFileOrTheCurrentDirectory) {
  std::string path = write_temp("paths.yaml", "model:\n  vision: towers/clip\n");
  Config c = load_config(path, {"model.llm=weights/llama"});
  EXPECT_EQ(c.model.vision, (fs::path(path).parent_path() / "towers/clip").string());
  EXPECT_EQ(c.model.llm, (fs::current_path() / "weights/llama").string());
}

TEST(Config, CrossFieldRules) {
  std::string err = error_of("", {"data.split=[0.5,0.1]", "model.lora.targets=[q_prj]"});
  EXPECT_NE(err.find("data.split: expected 3 fractions"), std::string::npos) << err;
  EXPECT_NE(err.find("unknown layer 'q_prj' (did you mean 'q_proj'?)"), std::string::npos) << err;
}

TEST(Config, BadYamlNamesTheLine) {
  std::string err = error_of(write_temp("bad.yaml", "train:\n  lr: [1, 2\n"));
  EXPECT_NE(err.find("invalid YAML at line"), std::string::npos) << err;
  EXPECT_NE(error_of("/nonexistent.yaml").find("file not found"), std::string::npos);
}

TEST(Config, YamlRoundTrip) {
  Config c = load_config("", {"train.lr=3e-5", "data.datasets=[ACRIMA, Chest CT Scan]", "train.stage=lora"});
  EXPECT_EQ(c.train.stage, Stage::lora);
  std::string yaml = medvqa::to_yaml(c);
  Config back = load_config(write_temp("round.yaml", yaml));
  EXPECT_EQ(medvqa::to_yaml(back), yaml);
  EXPECT_EQ(back.train.stage, Stage::lora);
  EXPECT_NE(yaml.find("lr: 3e-05"), std::string::npos) << yaml;
  EXPECT_NE(yaml.find("stage: lora"), std::string::npos) << yaml;
}

TEST(Config, MovedKeysAreReadAtTheirOldPlaceUntilBothAreSet) {
  Config c = load_config(write_temp("old_dist.yaml", "train:\n  dist_timeout_s: 77\n"), {"train.dist_bucket_mb=0.5"});
  EXPECT_EQ(c.dist.timeout_s, 77);
  EXPECT_DOUBLE_EQ(c.dist.bucket_mb, 0.5);
  EXPECT_EQ(medvqa::to_yaml(c).find("dist_timeout_s"), std::string::npos) << "written back under the new name only";
  std::string err = error_of(write_temp("both_dist.yaml", "train:\n  dist_timeout_s: 77\ndist:\n  timeout_s: 5\n"));
  EXPECT_NE(err.find("train.dist_timeout_s: set beside dist.timeout_s (its new name); keep dist.timeout_s"), std::string::npos)
      << err;
  err = error_of(write_temp("bad_dist.yaml", "train:\n  dist_bucket_mb: big\n"));
  EXPECT_NE(err.find("dist.bucket_mb: expected a number in [0.001, 100000], got 'big'"), std::string::npos) << err;
}
