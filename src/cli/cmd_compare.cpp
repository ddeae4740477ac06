// medvqa compare --baseline OLD --candidate NEW [--max-drop F] [--group-by a,b] [--min-n N]
// [--alpha A] [--junit OUT.xml] [--json]: the CI gate of one evaluation against another
// (eval/compare.h). Exit 0 pass, 1 user error, 3 gate failed.
#include <cstdio>

#include "medvqa/cli/commands.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/eval/compare.h"
#include "medvqa/eval/junit.h"
#include "medvqa/io/atomic_file.h"

namespace medvqa::cli {
namespace {

void print_table(const Comparison& c) {
  std::printf("baseline:  %s\ncandidate: %s\n%zu paired items; %zu only in the baseline, %zu only in the candidate\n\n",
              c.baseline.c_str(), c.candidate.c_str(), c.groups.front().n, c.baseline_only.size(),
              c.candidate_only.size());
  std::printf("%-40s %6s %8s %8s %8s %18s %9s %9s  %s\n", "group", "n", "base %", "cand %", "diff", "95% CI", "p",
              "Holm p", "");
  for (const auto& g : c.groups) {
    char ci[40], p[16] = "-", holm[16] = "-";
    std::snprintf(ci, sizeof ci, "[%+.2f, %+.2f]", 100 * g.ci95[0], 100 * g.ci95[1]);
    if (g.tested) std::snprintf(p, sizeof p, "%.3g", g.p), std::snprintf(holm, sizeof holm, "%.3g", g.p_holm);
    std::printf("%-40s %6zu %8.2f %8.2f %+8.2f %18s %9s %9s  %s\n", g.label().c_str(), g.n, 100 * g.baseline_accuracy,
                100 * g.candidate_accuracy, 100 * g.difference, ci, p, holm,
                g.failed ? "FAILED" : g.tested ? "ok" : "(below min-n)");
  }
  std::printf("\n%zu item(s) right in the baseline and wrong in the candidate\n", c.flipped.size());
}

// One-sided items are counted and named on stderr: never dropped silently.
void warn_one_sided(const std::vector<std::string>& ids, const std::string& side) {
  if (ids.empty()) return;
  std::string list;
  for (const auto& id : ids) list += (list.empty() ? "" : ", ") + id;
  log_warn("compare: ", ids.size(), " item(s) only in the ", side, ", not compared: ", list);
}

}  // namespace

void add_compare(CLI::App& app) {
  auto* cmd = app.add_subcommand("compare", "Compare an evaluation against a baseline one; exit 3 on a significant drop");
  auto baseline = std::make_shared<std::string>();
  auto candidate = std::make_shared<std::string>();
  auto junit = std::make_shared<std::string>();
  auto as_json = std::make_shared<bool>(false);
  auto options = std::make_shared<CompareOptions>();
  cmd->add_option("--baseline", *baseline, "baseline eval directory (its predictions.jsonl) or predictions file")->required();
  cmd->add_option("--candidate", *candidate, "candidate eval directory or predictions file")->required();
  cmd->add_option("--max-drop", options->max_drop, "largest tolerated drop in open-ended accuracy (a fraction)")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--group-by", options->group_by, "groups to test besides the whole set")
      ->capture_default_str()
      ->delimiter(',')
      ->check(CLI::IsMember(compare_dimensions()));
  cmd->add_option("--min-n", options->min_n, "groups with fewer paired items are reported, not tested")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000000));
  cmd->add_option("--alpha", options->alpha, "significance level of the Holm-adjusted McNemar p-values")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--junit", *junit, "also write a JUnit XML report (one test case per group)");
  cmd->add_flag("--json", *as_json, "print the comparison as JSON instead of a table");
  cmd->callback([=] {
    const std::string base_path = predictions_path(*baseline), cand_path = predictions_path(*candidate);
    const Comparison c =
        compare_predictions(read_predictions(base_path), read_predictions(cand_path), *options, base_path, cand_path);
    warn_one_sided(c.baseline_only, "baseline");
    warn_one_sided(c.candidate_only, "candidate");
    if (!junit->empty()) write_file_atomic(*junit, junit_xml(c));
    if (*as_json)
      std::printf("%s\n", to_json(c).dump(2).c_str());
    else
      print_table(c);
    std::fflush(stdout);
    if (c.failed()) throw GateFailure("compare: " + c.failure_summary());
  });
}

}  // namespace medvqa::cli
