// The human-readable evaluation report written beside metrics.json: report.md and report.html
// (headline numbers with the CI95 and the blind baseline, the paper-style table of modality rows
// by metric columns, the per-modality accuracy bar chart, example images with question, answer
// and prediction marked right or wrong, like the paper's Figure 4) and, given a comparison, the
// 'against baseline' section (per-group differences as a table and a dot plot with intervals, the
// items that flipped right -> wrong). Pictures go to report/. Not the numbers themselves (metrics.h,
// compare.h).
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <utility>
#include <vector>

#include "medvqa/eval/compare.h"

namespace medvqa {

struct ReportOptions {
  std::string title = "medvqa evaluation";
  std::vector<std::pair<std::string, std::string>> run;  // (what, value) lines: model, data, split
  size_t examples = 8;     // half right, half wrong where there are enough of each
  int thumbnail_side = 192;
};

// metrics: metrics.json's object; predictions: predictions.jsonl's lines (question, gt_answer,
// prediction, image, modality_type, open_correct); comparison: this run against a baseline, or
// nullptr. Writes <dir>/report.md, <dir>/report.html and <dir>/report/*.png, each atomically;
// returns the path of report.html.
std::string write_report(const std::string& dir, const nlohmann::ordered_json& metrics,
                         const nlohmann::ordered_json& predictions, const ReportOptions& options,
                         const Comparison* comparison = nullptr);

}  // namespace medvqa
