// Reading VQA items from disk: the OmniMedVQA release (QA_information/{Open-access,
// Restricted-access}/*.json arrays, images under the root) and plain JSONL (image, question,
// answer). Every item is validated once here; bad ones are reported by file and index, and the
// policy decides whether they fail the run or are skipped (counted, logged, capped).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <string>
#include <vector>

#include "medvqa/data/vqa_item.h"

namespace medvqa {

struct ReadOptions {
  bool skip_bad = false;            // false: any bad item fails with the list of all of them
  double max_skip_fraction = 0.01;  // skipping more than this fails anyway
  bool check_images = true;         // image files must exist and be non-empty
};

std::vector<VqaItem> read_omnimedvqa(const std::string& root, const ReadOptions& options);
// One object per line: image (relative to the file's folder), question, answer; optional
// question_id (default: the line number), dataset (default: the file's stem), modality_type and
// question_type (default "unknown"), and options (a list, or option_A..D) holding the answer.
std::vector<VqaItem> read_jsonl_items(const std::string& path, const ReadOptions& options);
// An item's options as the JSONL reader takes them (also `ask --input`): an "options" list of
// non-empty strings, or OmniMedVQA's option_A..D; none is fine. `where` names the item in errors.
std::vector<std::string> read_options(const nlohmann::json& item, const std::string& where);

}  // namespace medvqa
