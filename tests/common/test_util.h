// Helpers shared by the GoogleTest suites: the message of the medvqa::Error a call throws, and a
// per-process temporary folder, so suites can run side by side.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <string>

#include "medvqa/core/error.h"

namespace medvqa::test_util {

// The what() of the medvqa::Error that f throws; "" when it throws nothing.
inline std::string error_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// <tmp>/medvqa_<name>_<pid>, created.
inline std::filesystem::path temp_dir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("medvqa_" + name + "_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace medvqa::test_util
