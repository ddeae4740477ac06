// Shared by the text tests: the real LLaMA-3 tokenizer.model (third_party/llama3), loaded once,
// and a temp-file writer for the bad-input cases.
#pragma once

#include <filesystem>
#include <fstream>
#include <string>

#include "medvqa/text/tokenizer.h"

namespace medvqa::testing {

inline const Tokenizer& llama3() {
  static const auto tokenizer = load_tokenizer(std::string(MEDVQA_SOURCE_DIR) + "/third_party/llama3/tokenizer.model");
  return *tokenizer;
}

inline std::filesystem::path write_temp(const std::string& name, const std::string& content) {
  const auto dir = std::filesystem::temp_directory_path() / "medvqa_text_test";
  std::filesystem::create_directories(dir / name.substr(0, name.rfind('/') + 1));
  const auto path = dir / name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

}  // namespace medvqa::testing
