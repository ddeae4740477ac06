// The metric loggers: metrics.jsonl lines (sorted keys, counts as integers) and what a resumed run
// keeps of them; TensorBoard event files that a resumed run rewrites into one new file holding each
// step once, also after a kill cut the old file or interrupted an earlier rewrite.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "common/test_util.h"
#include "medvqa/io/jsonl_logger.h"
#include "medvqa/io/metric_logger.h"
#include "medvqa/io/tensorboard_logger.h"
#include "medvqa/io/tfevents.h"

namespace fs = std::filesystem;
using namespace medvqa;

namespace {

std::string read_all(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::vector<fs::path> event_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The steps of the scalar events of `file`, in order; the first record must be the file version.
std::vector<int64_t> steps(const fs::path& file) {
  auto records = tfevents::read_records(read_all(file));
  EXPECT_FALSE(records.empty());
  std::vector<int64_t> out;
  for (size_t i = 0; i < records.size(); ++i) {
    tfevents::EventInfo info;
    EXPECT_TRUE(tfevents::parse_event(records[i], info));
    EXPECT_EQ(info.has_summary, i > 0) << "record " << i;
    if (info.has_summary) out.push_back(info.step);
  }
  return out;
}

std::string tag(const std::string& name) { return "train/" + name; }

void log_steps(MetricLogger& logger, int64_t from, int64_t to) {
  for (int64_t s = from; s <= to; ++s) logger.log_dict({{"loss", 1.0 / static_cast<double>(s)}}, s);
}

TEST(JsonlLogger, WritesSortedKeysWithCountsAsIntegersAndKeepsThroughTheResumedStep) {
  fs::path dir = test_util::temp_dir("jsonl_logger");
  fs::path path = dir / "metrics.jsonl";
  {
    JsonlLogger l(path.string(), -1);
    l.log_dict({{"train_items", int64_t{12}}, {"truncated_items", int64_t{0}}}, 0);
    l.log_dict({{"loss", 2.5}, {"lr", 0.001}, {"grad_norm", 1.0}}, 1);
    l.log("val_loss", 2.25, 2);
  }
  const std::string first = "{\"step\":0,\"train_items\":12,\"truncated_items\":0}\n"
                            "{\"grad_norm\":1.0,\"loss\":2.5,\"lr\":0.001,\"step\":1}\n";
  EXPECT_EQ(read_all(path), first + "{\"step\":2,\"val_loss\":2.25}\n");
  {
    JsonlLogger resumed(path.string(), 1);
    EXPECT_EQ(read_all(path), first);
    resumed.log("loss", 2.0, 2);
  }
  EXPECT_EQ(read_all(path), first + "{\"loss\":2.0,\"step\":2}\n");
  JsonlLogger fresh(path.string(), -1);
  EXPECT_EQ(read_all(path), "");
  fs::remove_all(dir);
}

TEST(TensorBoardLogger, AResumedRunRewritesTheKeptStepsIntoOneNewFile) {
  fs::path dir = test_util::temp_dir("tb_logger_resume");
  std::string first_path;
  {
    TensorBoardLogger l(dir.string(), tag, -1);
    log_steps(l, 1, 6);
    first_path = l.path();
    EXPECT_EQ(fs::path(first_path).filename().string().rfind("events.out.tfevents.", 0), 0u) << first_path;
  }
  EXPECT_EQ(steps(first_path), (std::vector<int64_t>{1, 2, 3, 4, 5, 6}));
  // A kill -9 cut the file inside its last record.
  fs::resize_file(first_path, fs::file_size(first_path) - 5);
  {
    TensorBoardLogger resumed(dir.string(), tag, 4);
    EXPECT_NE(resumed.path(), first_path);
    EXPECT_EQ(event_files(dir), std::vector<fs::path>{resumed.path()});
    log_steps(resumed, 5, 8);
    EXPECT_EQ(steps(resumed.path()), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8}));
  }
  // A fresh run in the same folder starts empty.
  TensorBoardLogger fresh(dir.string(), tag, -1);
  EXPECT_EQ(event_files(dir), std::vector<fs::path>{fresh.path()});
  EXPECT_TRUE(steps(fresh.path()).empty());
  fs::remove_all(dir);
}

TEST(TensorBoardLogger, AKillBetweenRewriteAndDeletionIsRepairedByTheNextResume) {
  fs::path dir = test_util::temp_dir("tb_logger_repair");
  std::string path;
  {
    TensorBoardLogger l(dir.string(), tag, -1);
    log_steps(l, 1, 3);
    path = l.path();
  }
  // The rewritten file renamed into place beside the old one it was to replace, and a temporary one.
  fs::copy_file(path, path + ".1");
  fs::copy_file(path, path + ".tmp.12345");
  TensorBoardLogger resumed(dir.string(), tag, 3);
  EXPECT_EQ(event_files(dir), std::vector<fs::path>{resumed.path()});
  EXPECT_EQ(steps(resumed.path()), (std::vector<int64_t>{1, 2, 3}));
  fs::remove_all(dir);
}

TEST(MetricLoggers, BuildsTheNamedLoggersAndFeedsThemAll) {
  fs::path dir = test_util::temp_dir("metric_loggers");
  MetricLoggerOptions o;
  o.jsonl_path = (dir / "metrics.jsonl").string();
  o.tensorboard_dir = (dir / "tb").string();
  o.tag = tag;
  auto loggers = make_metric_loggers({"jsonl", "tensorboard"}, o);
  loggers->log("loss", 0.5, 1);
  loggers->close();
  EXPECT_EQ(read_all(dir / "metrics.jsonl"), "{\"loss\":0.5,\"step\":1}\n");
  auto files = event_files(dir / "tb");
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(steps(files[0]), std::vector<int64_t>{1});
  EXPECT_NE(test_util::error_message([&] { make_metric_loggers({"wandb"}, o); }).find("expected jsonl or tensorboard, got 'wandb'"),
            std::string::npos);
  fs::remove_all(dir);
}

}  // namespace
