#include "medvqa/eval/compare.h"

#include <cstdio>
#include <filesystem>
#include <map>
#include <unordered_map>

#include "medvqa/core/error.h"
#include "medvqa/eval/scorers.h"

namespace medvqa {
namespace {

using nlohmann::ordered_json;

// One paired item: both sides' open-ended decisions and the candidate's record.
struct Pair {
  const Prediction* baseline;
  const Prediction* candidate;
  bool baseline_right, candidate_right;
};

const std::string& group_value(const Prediction& p, const std::string& dimension) {
  if (dimension == "modality") return p.modality_type;
  if (dimension == "question_type") return p.question_type;
  return p.dataset;
}

// question_id -> index; a repeated id is an error naming the file.
std::unordered_map<std::string, size_t> index_by_id(const std::vector<Prediction>& side, const std::string& where) {
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < side.size(); ++i) {
    auto [it, inserted] = index.emplace(side[i].question_id, i);
    MEDVQA_CHECK(inserted, where, ": question_id \"", side[i].question_id, "\" occurs twice (items ", it->second + 1,
                 " and ", i + 1, "); compare pairs items by id");
  }
  return index;
}

GroupComparison compare_group(std::string dimension, std::string name, const std::vector<const Pair*>& pairs,
                              const CompareOptions& o) {
  GroupComparison g;
  g.dimension = std::move(dimension);
  g.name = std::move(name);
  g.n = pairs.size();
  std::vector<bool> base, cand;
  size_t base_right = 0, cand_right = 0;
  for (const Pair* p : pairs) {
    base.push_back(p->baseline_right);
    cand.push_back(p->candidate_right);
    base_right += p->baseline_right;
    cand_right += p->candidate_right;
    g.right_to_wrong += p->baseline_right && !p->candidate_right;
    g.wrong_to_right += !p->baseline_right && p->candidate_right;
  }
  const auto n = static_cast<double>(g.n);
  g.baseline_accuracy = static_cast<double>(base_right) / n;
  g.candidate_accuracy = static_cast<double>(cand_right) / n;
  g.difference = (static_cast<double>(cand_right) - static_cast<double>(base_right)) / n;
  g.ci95 = paired_bootstrap_ci95(base, cand, o.resamples, o.seed);
  g.tested = g.n >= o.min_n;
  if (g.tested) g.p = mcnemar_exact_p(g.right_to_wrong, g.wrong_to_right);
  return g;
}

std::string points(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f", 100.0 * fraction);
  return buf;
}

}  // namespace

const std::vector<std::string>& compare_dimensions() {
  static const std::vector<std::string> kDimensions = {"modality", "question_type", "dataset"};
  return kDimensions;
}

std::string GroupComparison::label() const { return dimension == "overall" ? dimension : dimension + "=" + name; }

bool Comparison::failed() const {
  for (const auto& g : groups)
    if (g.failed) return true;
  return false;
}

std::string Comparison::failure_summary() const {
  std::string out;
  for (const auto& g : groups) {
    if (!g.failed) continue;
    char buf[160];
    std::snprintf(buf, sizeof buf, ": %s points (95%% CI %s to %s, n %zu, Holm p %.3g)", points(g.difference).c_str(),
                  points(g.ci95[0]).c_str(), points(g.ci95[1]).c_str(), g.n, g.p_holm);
    out += (out.empty() ? "" : "; ") + g.label() + buf;
  }
  return out;
}

std::string predictions_path(const std::string& dir_or_file) {
  return std::filesystem::is_directory(dir_or_file) ? (std::filesystem::path(dir_or_file) / "predictions.jsonl").string()
                                                    : dir_or_file;
}

Comparison compare_predictions(const std::vector<Prediction>& baseline, const std::vector<Prediction>& candidate,
                               const CompareOptions& options, const std::string& baseline_where,
                               const std::string& candidate_where) {
  for (const std::string& d : options.group_by) {
    bool known = false;
    for (const std::string& k : compare_dimensions()) known = known || d == k;
    MEDVQA_CHECK(known, "compare: unknown group-by \"", d, "\": expected modality, question_type or dataset");
  }
  Comparison c;
  c.options = options;
  c.baseline = baseline_where;
  c.candidate = candidate_where;
  const auto base_index = index_by_id(baseline, baseline_where);
  const auto cand_index = index_by_id(candidate, candidate_where);
  std::vector<Pair> pairs;
  for (const Prediction& cand : candidate) {
    auto it = base_index.find(cand.question_id);
    if (it == base_index.end()) {
      c.candidate_only.push_back(cand.question_id);
      continue;
    }
    const Prediction& base = baseline[it->second];
    MEDVQA_CHECK(base.gt_answer == cand.gt_answer, "compare: question_id \"", cand.question_id,
                 "\" has different gt answers: \"", base.gt_answer, "\" in ", baseline_where, ", \"", cand.gt_answer,
                 "\" in ", candidate_where, " (the two evaluations are not of the same items)");
    pairs.push_back({&base, &cand, exact_match(base.prediction, base.gt_answer), exact_match(cand.prediction, cand.gt_answer)});
  }
  for (const Prediction& base : baseline)
    if (!cand_index.count(base.question_id)) c.baseline_only.push_back(base.question_id);
  MEDVQA_CHECK(!pairs.empty(), "compare: no question_id occurs in both ", baseline_where, " and ", candidate_where);

  std::vector<const Pair*> all;
  for (const Pair& p : pairs) {
    all.push_back(&p);
    if (p.baseline_right && !p.candidate_right)
      c.flipped.push_back({p.candidate->question_id, p.candidate->modality_type, p.candidate->question,
                           p.candidate->gt_answer, p.baseline->prediction, p.candidate->prediction, p.candidate->image});
  }
  c.groups.push_back(compare_group("overall", "all", all, options));
  for (const std::string& d : options.group_by) {
    std::map<std::string, std::vector<const Pair*>> groups;  // by name, in code-point order
    for (const Pair& p : pairs) groups[group_value(*p.candidate, d)].push_back(&p);
    for (const auto& [name, members] : groups) c.groups.push_back(compare_group(d, name, members, options));
  }
  // One family: every tested comparison, overall included.
  std::vector<double> p;
  for (const auto& g : c.groups)
    if (g.tested) p.push_back(g.p);
  const std::vector<double> adjusted = holm_adjust(p);
  size_t next = 0;
  for (auto& g : c.groups) {
    if (!g.tested) continue;
    g.p_holm = adjusted[next++];
    g.failed = g.difference < -options.max_drop && g.p_holm < options.alpha;
  }
  return c;
}

ordered_json to_json(const Comparison& c) {
  ordered_json groups = ordered_json::array();
  for (const auto& g : c.groups)
    groups.push_back({{"dimension", g.dimension},
                      {"name", g.name},
                      {"n", g.n},
                      {"baseline_accuracy", g.baseline_accuracy},
                      {"candidate_accuracy", g.candidate_accuracy},
                      {"difference", g.difference},
                      {"ci95", {g.ci95[0], g.ci95[1]}},
                      {"right_to_wrong", g.right_to_wrong},
                      {"wrong_to_right", g.wrong_to_right},
                      {"tested", g.tested},
                      {"p", g.tested ? ordered_json(g.p) : ordered_json(nullptr)},
                      {"p_holm", g.tested ? ordered_json(g.p_holm) : ordered_json(nullptr)},
                      {"failed", g.failed}});
  ordered_json flipped = ordered_json::array();
  for (const auto& f : c.flipped)
    flipped.push_back({{"question_id", f.question_id},
                       {"modality_type", f.modality_type},
                       {"question", f.question},
                       {"gt_answer", f.gt_answer},
                       {"baseline_prediction", f.baseline_prediction},
                       {"candidate_prediction", f.candidate_prediction},
                       {"image", f.image}});
  const CompareOptions& o = c.options;
  return {{"baseline", c.baseline},
          {"candidate", c.candidate},
          {"passed", !c.failed()},
          {"options",
           {{"max_drop", o.max_drop}, {"group_by", o.group_by}, {"min_n", o.min_n}, {"alpha", o.alpha},
            {"resamples", o.resamples}, {"seed", o.seed}}},
          {"paired", c.groups.front().n},
          {"baseline_only", c.baseline_only},
          {"candidate_only", c.candidate_only},
          {"groups", std::move(groups)},
          {"flipped", std::move(flipped)}};
}

}  // namespace medvqa
