#include "medvqa/data/dataset_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

// Collects bad items and applies the skip policy at the end.
class BadItems {
 public:
  explicit BadItems(const ReadOptions& options) : options_(options) {}
  void add(std::string problem) { problems_.add(std::move(problem)); }
  void finish(const std::string& what, size_t kept) const {
    size_t bad = problems_.items().size();
    if (bad == 0) return;
    if (!options_.skip_bad) problems_.throw_if_any(what + ": invalid items (set data.bad_items=skip to skip them)");
    double fraction = static_cast<double>(bad) / static_cast<double>(bad + kept);
    if (fraction > options_.max_skip_fraction)
      problems_.throw_if_any(detail::concat(what, ": ", bad, " of ", bad + kept, " items are invalid, more than data.max_skip_fraction=",
                                            options_.max_skip_fraction));
    log_warn("data: skipped ", bad, " invalid items of ", what, ", the first: ", problems_.items()[0]);
  }

 private:
  const ReadOptions& options_;
  Problems problems_;
};

std::string required_string(const json& item, const char* key, const std::string& where) {
  MEDVQA_CHECK(item.contains(key), where, ": missing field \"", key, "\"");
  MEDVQA_CHECK(item[key].is_string(), where, ": field \"", key, "\" must be a string, got ", item[key].dump());
  std::string v = item[key].get<std::string>();
  MEDVQA_CHECK(!v.empty(), where, ": field \"", key, "\" is empty");
  return v;
}

std::string optional_string(const json& item, const char* key, const std::string& fallback, const std::string& where) {
  if (!item.contains(key) || item[key].is_null()) return fallback;
  if (item[key].is_number_integer()) return std::to_string(item[key].get<int64_t>());
  return required_string(item, key, where);
}

void check_image(const VqaItem& item, const ReadOptions& options) {
  if (!options.check_images) return;
  std::error_code ec;
  MEDVQA_CHECK(fs::is_regular_file(item.image, ec), item.source, ": image not found: ", item.image);
  MEDVQA_CHECK(fs::file_size(item.image, ec) > 0, item.source, ": image is empty: ", item.image);
}

VqaItem parse_omnimedvqa_item(const json& j, const fs::path& root, const std::string& where) {
  MEDVQA_CHECK(j.is_object(), where, ": expected an object");
  VqaItem item;
  item.source = where;
  item.dataset = required_string(j, "dataset", where);
  item.question_id = optional_string(j, "question_id", "", where);
  MEDVQA_CHECK(!item.question_id.empty(), where, ": missing field \"question_id\"");
  item.question_type = required_string(j, "question_type", where);
  item.question = required_string(j, "question", where);
  item.gt_answer = required_string(j, "gt_answer", where);
  item.image_path = required_string(j, "image_path", where);
  item.modality_type = required_string(j, "modality_type", where);
  for (const char* key : {"option_A", "option_B", "option_C", "option_D"})
    if (j.contains(key) && !j[key].is_null()) item.options.push_back(required_string(j, key, where));
  MEDVQA_CHECK(item.options.size() >= 2, where, ": expected at least 2 options (option_A, option_B), got ", item.options.size());
  MEDVQA_CHECK(std::find(item.options.begin(), item.options.end(), item.gt_answer) != item.options.end(), where,
               ": gt_answer \"", item.gt_answer, "\" is not one of the options");
  item.image = (root / item.image_path).lexically_normal().string();
  return item;
}

}  // namespace

std::vector<std::string> read_options(const json& item, const std::string& where) {
  std::vector<std::string> options;
  if (item.contains("options") && !item["options"].is_null()) {
    const json& list = item["options"];
    MEDVQA_CHECK(list.is_array(), where, ": field \"options\" must be a list of strings, got ", list.dump());
    for (const json& o : list) {
      MEDVQA_CHECK(o.is_string() && !o.get<std::string>().empty(), where,
                   ": field \"options\" must be a list of non-empty strings, got ", o.dump());
      options.push_back(o.get<std::string>());
    }
    return options;
  }
  for (const char* key : {"option_A", "option_B", "option_C", "option_D"})
    if (item.contains(key) && !item[key].is_null()) options.push_back(required_string(item, key, where));
  return options;
}

std::vector<VqaItem> read_omnimedvqa(const std::string& root, const ReadOptions& options) {
  fs::path qa = fs::path(root) / "QA_information";
  MEDVQA_CHECK(fs::is_directory(qa), root, ": not an OmniMedVQA root (no QA_information/ folder)");
  std::vector<fs::path> files;
  for (const char* part : {"Open-access", "Restricted-access"})
    if (fs::is_directory(qa / part))
      for (const auto& e : fs::directory_iterator(qa / part))
        if (e.path().extension() == ".json") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  MEDVQA_CHECK(!files.empty(), qa.string(), ": no .json files under Open-access/ or Restricted-access/");
  std::vector<VqaItem> items;
  BadItems bad(options);
  for (const auto& file : files) {
    json array;
    try {
      array = json::parse(std::ifstream(file));
    } catch (const json::exception& e) {
      bad.add(file.string() + ": invalid JSON: " + e.what());
      continue;
    }
    if (!array.is_array()) {
      bad.add(file.string() + ": expected a JSON array of items");
      continue;
    }
    for (size_t i = 0; i < array.size(); ++i) {
      std::string where = file.string() + " item " + std::to_string(i);
      try {
        VqaItem item = parse_omnimedvqa_item(array[i], root, where);
        check_image(item, options);
        items.push_back(std::move(item));
      } catch (const Error& e) {
        bad.add(e.what());
      }
    }
  }
  bad.finish(root, items.size());
  return items;
}

std::vector<VqaItem> read_jsonl_items(const std::string& path, const ReadOptions& options) {
  std::ifstream in(path);
  MEDVQA_CHECK(in, path, ": cannot open");
  fs::path base = fs::absolute(path).parent_path();
  std::vector<VqaItem> items;
  BadItems bad(options);
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::string where = path + " line " + std::to_string(n);
    try {
      json j;
      try {
        j = json::parse(line);
      } catch (const json::exception& e) {
        MEDVQA_FAIL(where, ": invalid JSON: ", e.what());
      }
      MEDVQA_CHECK(j.is_object(), where, ": expected an object with image, question, answer");
      VqaItem item;
      item.source = where;
      item.image_path = required_string(j, "image", where);
      item.question = required_string(j, "question", where);
      item.gt_answer = required_string(j, "answer", where);
      item.question_id = optional_string(j, "question_id", std::to_string(n), where);
      // Breakdown keys a plain file may lack: its own name as the dataset, "unknown" otherwise.
      item.dataset = optional_string(j, "dataset", fs::path(path).stem().string(), where);
      item.modality_type = optional_string(j, "modality_type", "unknown", where);
      item.question_type = optional_string(j, "question_type", "unknown", where);
      item.options = read_options(j, where);
      MEDVQA_CHECK(item.options.empty() || std::find(item.options.begin(), item.options.end(), item.gt_answer) != item.options.end(),
                   where, ": answer \"", item.gt_answer, "\" is not one of the options");
      item.image = (base / item.image_path).lexically_normal().string();
      check_image(item, options);
      items.push_back(std::move(item));
    } catch (const Error& e) {
      bad.add(e.what());
    }
  }
  bad.finish(path, items.size());
  return items;
}

}  // namespace medvqa
