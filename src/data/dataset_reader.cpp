#include "medvqa/data/dataset_reader.h"

#include <algorithm>
#include <filesystem>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;

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

using StringGetter = std::optional<std::string> (JsonObject::*)(const std::string&, Presence) const;

// Item texts, ids and paths may not be empty; `get` reads ids (a string or an integer).
std::optional<std::string> text(const JsonObject& j, const std::string& key, Presence presence = Presence::kRequired,
                                StringGetter get = &JsonObject::string) {
  std::optional<std::string> v = (j.*get)(key, presence);
  if (v && v->empty()) j.fail(key, "expected a non-empty string, found \"\"");
  return v;
}

// OmniMedVQA's option_A..D in order, absent ones skipped.
std::vector<std::string> lettered_options(const JsonObject& j) {
  std::vector<std::string> options;
  for (const char* key : {"option_A", "option_B", "option_C", "option_D"})
    if (auto option = text(j, key, Presence::kOptional)) options.push_back(*option);
  return options;
}

// An "options" list of non-empty strings, or option_A..D; none is fine.
std::vector<std::string> jsonl_options(const JsonObject& j) {
  std::optional<std::vector<std::string>> list = j.strings("options", Presence::kOptional);
  if (!list) return lettered_options(j);
  for (size_t i = 0; i < list->size(); ++i)
    if ((*list)[i].empty()) j.fail("options[" + std::to_string(i) + "]", "expected a non-empty string, found \"\"");
  return *list;
}

bool is_option(const VqaItem& item) {
  return std::find(item.options.begin(), item.options.end(), item.gt_answer) != item.options.end();
}

VqaItem parse_omnimedvqa_item(const JsonObject& j, const fs::path& root) {
  VqaItem item;
  item.source = j.where();
  item.dataset = *text(j, "dataset");
  item.question_id = *text(j, "question_id", Presence::kRequired, &JsonObject::id);
  item.question_type = *text(j, "question_type");
  item.question = *text(j, "question");
  item.gt_answer = *text(j, "gt_answer");
  item.image_path = *text(j, "image_path");
  item.modality_type = *text(j, "modality_type");
  item.options = lettered_options(j);
  if (item.options.size() < 2)
    j.fail(detail::concat("expected at least 2 options (option_A, option_B), found ", item.options.size()));
  if (!is_option(item)) j.fail("gt_answer", "\"" + item.gt_answer + "\" is not one of the options");
  item.image = (root / item.image_path).lexically_normal().string();
  return item;
}

}  // namespace

void check_image(const VqaItem& item) {
  std::error_code ec;
  MEDVQA_CHECK(fs::is_regular_file(item.image, ec), item.source, ": image not found: ", item.image);
  MEDVQA_CHECK(fs::file_size(item.image, ec) > 0, item.source, ": image is empty: ", item.image);
}

VqaItem read_jsonl_item(const JsonObject& line, size_t number, const std::string& path, Presence answer) {
  VqaItem item;
  item.source = line.where();
  item.image_path = *text(line, "image");
  item.question = *text(line, "question");
  item.gt_answer = text(line, "answer", answer).value_or("");
  item.question_id = text(line, "question_id", Presence::kOptional, &JsonObject::id).value_or(std::to_string(number));
  // Breakdown keys a plain file may lack: its own name as the dataset, "unknown" otherwise.
  item.dataset = text(line, "dataset", Presence::kOptional).value_or(fs::path(path).stem().string());
  item.modality_type = text(line, "modality_type", Presence::kOptional).value_or("unknown");
  item.question_type = text(line, "question_type", Presence::kOptional).value_or("unknown");
  item.options = jsonl_options(line);
  if (!item.gt_answer.empty() && !item.options.empty() && !is_option(item))
    line.fail("answer", "\"" + item.gt_answer + "\" is not one of the options");
  item.image = (fs::absolute(path).parent_path() / item.image_path).lexically_normal().string();
  return item;
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
    JsonValue array;
    try {
      array = read_json_file(file.string());
    } catch (const Error& e) {
      bad.add(e.what());
      continue;
    }
    if (!array.is_array()) {
      bad.add(file.string() + ": expected a JSON array of items");
      continue;
    }
    for (size_t i = 0; i < array.size(); ++i) {
      try {
        VqaItem item = parse_omnimedvqa_item(JsonObject(array[i], file.string() + " item " + std::to_string(i)), root);
        if (options.check_images) check_image(item);
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
  std::vector<VqaItem> items;
  BadItems bad(options);
  for_each_json_line(
      path,
      [&](const JsonObject& line, size_t number) {
        VqaItem item = read_jsonl_item(line, number, path, Presence::kRequired);
        if (options.check_images) check_image(item);
        items.push_back(std::move(item));
      },
      [&](const Error& e) { bad.add(e.what()); });
  bad.finish(path, items.size());
  return items;
}

}  // namespace medvqa
