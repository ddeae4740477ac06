#include "medvqa/eval/metrics.h"

#include <algorithm>
#include <map>
#include <random>
#include <string>

#include "medvqa/core/error.h"

namespace medvqa {
namespace {

using nlohmann::ordered_json;

// Every averaged score, by its metrics.json name. `covers` limits the mean to some items (the
// multiple-choice scores: items with options); a group with none of them gets null.
struct Column {
  const char* name;
  double (*value)(const ItemScore&);
  bool (*covers)(const ItemScore&);
};
bool every_item(const ItemScore&) { return true; }
bool with_options(const ItemScore& s) { return s.has_options; }
constexpr Column kTextColumns[] = {
    {"open_accuracy", [](const ItemScore& s) { return s.open_correct ? 1.0 : 0.0; }, every_item},
    {"lenient_accuracy", [](const ItemScore& s) { return s.lenient_correct ? 1.0 : 0.0; }, every_item},
    {"token_f1", [](const ItemScore& s) { return s.token_f1; }, every_item},
    {"qa_score", [](const ItemScore& s) { return s.qa_correct ? 1.0 : 0.0; }, with_options},
};
// The evaluator's; it scores every item with options.
constexpr Column kPrefixColumn = {"prefix_score", [](const ItemScore& s) { return *s.prefix_correct ? 1.0 : 0.0; },
                                  [](const ItemScore& s) { return s.prefix_correct.has_value(); }};

// {"n", column means}. Plain left-to-right sums in file order, so a Python reference that loops
// the same way gets the same bits.
ordered_json group_metrics(const std::vector<const ItemScore*>& items, bool with_prefix) {
  ordered_json g;
  g["n"] = items.size();
  auto add = [&](const Column& c) {
    double sum = 0.0;
    size_t count = 0;
    for (const ItemScore* s : items)
      if (c.covers(*s)) sum += c.value(*s), ++count;
    g[c.name] = count == 0 ? ordered_json(nullptr) : ordered_json(sum / static_cast<double>(count));
  };
  for (const Column& c : kTextColumns) add(c);
  if (with_prefix) add(kPrefixColumn);
  return g;
}

// name -> metrics of its items; std::map orders UTF-8 names bytewise = by code point.
ordered_json breakdown(const std::vector<ItemScore>& items, const std::string ItemScore::*key, bool with_prefix) {
  std::map<std::string, std::vector<const ItemScore*>> groups;
  for (const ItemScore& s : items) groups[s.*key].push_back(&s);
  ordered_json out = ordered_json::object();
  for (const auto& [name, members] : groups) out[name] = group_metrics(members, with_prefix);
  return out;
}

}  // namespace

// The rule, so any language can reproduce the interval exactly: std::mt19937 (32-bit MT19937,
// init_genrand(seed)); each resample draws n indices as next() % n (the modulo bias is below
// 1e-4 for any realistic n and keeps the rule trivial) and takes the fraction correct; the B
// fractions are sorted ascending and the interval is [sorted[floor(0.025 B)], sorted[ceil(0.975 B) - 1]]
// (0-based; for B = 1000: [sorted[25], sorted[974]]).
std::array<double, 2> bootstrap_ci95(const std::vector<bool>& correct, int resamples, uint32_t seed) {
  MEDVQA_CHECK(!correct.empty() && resamples > 0, "bootstrap: needs items and resamples");
  std::mt19937 rng(seed);
  const size_t n = correct.size();
  const auto b = static_cast<size_t>(resamples);
  std::vector<double> fractions(b);
  for (double& f : fractions) {
    size_t hits = 0;
    for (size_t k = 0; k < n; ++k) hits += correct[rng() % n];
    f = static_cast<double>(hits) / static_cast<double>(n);
  }
  std::sort(fractions.begin(), fractions.end());
  return {fractions[b * 25 / 1000], fractions[(b * 975 + 999) / 1000 - 1]};
}

ordered_json compute_metrics(const std::vector<ItemScore>& items, bool with_prefix) {
  MEDVQA_CHECK(!items.empty(), "metrics: no items to score");
  std::vector<const ItemScore*> all;
  std::vector<bool> open;
  for (const ItemScore& s : items) {
    all.push_back(&s);
    open.push_back(s.open_correct);
  }
  ordered_json m = group_metrics(all, with_prefix);
  auto ci = bootstrap_ci95(open);
  m["open_accuracy_ci95"] = {ci[0], ci[1]};
  ordered_json by_modality = breakdown(items, &ItemScore::modality_type, with_prefix);
  double macro = 0.0;
  for (const ordered_json& g : by_modality) macro += g["open_accuracy"].get<double>();
  m["macro_open_accuracy"] = macro / static_cast<double>(by_modality.size());
  m["by_modality"] = std::move(by_modality);
  m["by_question_type"] = breakdown(items, &ItemScore::question_type, with_prefix);
  m["by_dataset"] = breakdown(items, &ItemScore::dataset, with_prefix);
  return m;
}

}  // namespace medvqa
