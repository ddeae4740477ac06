// One question about one image, as OmniMedVQA releases it (field names and strings byte-exact,
// including the dataset's own typos), plus where it was read from for error messages.
#pragma once

#include <string>
#include <vector>

namespace medvqa {

struct VqaItem {
  std::string question_id, dataset, question_type, question, gt_answer, modality_type;
  std::string image_path;            // as written in the item (relative to the dataset root)
  std::string image;                 // resolved absolute path
  std::vector<std::string> options;  // option_A..D in order, missing ones skipped (JSONL: may be empty)
  std::string source;                // "file.json item 12" / "file.jsonl:3"
};

}  // namespace medvqa
