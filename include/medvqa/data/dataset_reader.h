// Reading VQA items from disk: the OmniMedVQA release (QA_information/{Open-access,
// Restricted-access}/*.json arrays, images under the root) and plain JSONL (image, question,
// answer). Every item is validated once here; bad ones are reported by file and index, and the
// policy decides whether they fail the run or are skipped (counted, logged, capped).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "medvqa/data/vqa_item.h"
#include "medvqa/io/json_reader.h"

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
// Line `number` of the JSONL file `path` as read_jsonl_items takes it, the image not checked.
// `answer`: kOptional for `ask --input`, whose questions have none yet (gt_answer stays "").
VqaItem read_jsonl_item(const JsonObject& line, size_t number, const std::string& path, Presence answer);
// The item's image is a non-empty file.
void check_image(const VqaItem& item);

}  // namespace medvqa
