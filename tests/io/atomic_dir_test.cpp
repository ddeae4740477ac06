// write_dir_atomic: a folder appears whole under its name or not at all.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "medvqa/io/atomic_file.h"
#include "common/test_util.h"

namespace fs = std::filesystem;
using namespace medvqa;

namespace {

void put(const fs::path& path, const std::string& text) { std::ofstream(path) << text; }

// Entries of `dir` by name (no temporary folders may remain beside a target).
std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(WriteDirAtomic, FillsThenRenames) {
  fs::path root = test_util::temp_dir("atomic_dir_fill");
  fs::path out = root / "a" / "bundle";
  write_dir_atomic(out.string(), [&](const std::string& temp) {
    EXPECT_FALSE(fs::exists(out)) << "the target must not appear before the folder is complete";
    put(fs::path(temp) / "x.txt", "x");
  });
  EXPECT_EQ(names(out), std::vector<std::string>{"x.txt"});
  EXPECT_EQ(names(root / "a"), std::vector<std::string>{"bundle"});
  fs::remove_all(root);
}

TEST(WriteDirAtomic, ReplacesAnEmptyFolderAndRefusesAFullOne) {
  fs::path root = test_util::temp_dir("atomic_dir_refuse");
  fs::create_directories(root / "empty");
  write_dir_atomic((root / "empty").string(), [](const std::string& temp) { put(fs::path(temp) / "y", "y"); });
  EXPECT_EQ(names(root / "empty"), std::vector<std::string>{"y"});
  std::string message = test_util::error_message([&] { write_dir_atomic((root / "empty").string(), [](const std::string&) {}); });
  EXPECT_NE(message.find("already exists and is not an empty folder"), std::string::npos) << message;
  EXPECT_EQ(names(root / "empty"), std::vector<std::string>{"y"});
  fs::remove_all(root);
}

TEST(ReplaceDirAtomic, SwapsAFullFolderForTheNewOneAndLeavesNothingBeside) {
  fs::path root = test_util::temp_dir("atomic_dir_replace");
  fs::create_directories(root / "final");
  put(root / "final" / "old", "o");
  replace_dir_atomic((root / "final").string(), [&](const std::string& temp) {
    EXPECT_EQ(names(root / "final"), std::vector<std::string>{"old"}) << "the old folder stays whole until the swap";
    put(fs::path(temp) / "new", "n");
  });
  EXPECT_EQ(names(root / "final"), std::vector<std::string>{"new"});
  EXPECT_EQ(names(root), std::vector<std::string>{"final"});
  std::string message = test_util::error_message([&] {
    replace_dir_atomic((root / "final").string(), [](const std::string&) { MEDVQA_FAIL("disk full"); });
  });
  EXPECT_EQ(message, "disk full");
  EXPECT_EQ(names(root / "final"), std::vector<std::string>{"new"}) << "a failed fill keeps the old folder";
  EXPECT_EQ(names(root), std::vector<std::string>{"final"});
  fs::remove_all(root);
}

TEST(WriteDirAtomic, AFailedFillLeavesNothing) {
  fs::path root = test_util::temp_dir("atomic_dir_fail");
  std::string message = test_util::error_message([&] {
    write_dir_atomic((root / "out").string(), [](const std::string& temp) {
      put(fs::path(temp) / "half", "h");
      MEDVQA_FAIL("disk full");
    });
  });
  EXPECT_EQ(message, "disk full");
  EXPECT_TRUE(names(root).empty());
  fs::remove_all(root);
}

}  // namespace
