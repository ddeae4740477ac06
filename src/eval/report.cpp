#include "medvqa/eval/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/plot/figure.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

// The table's metric columns: metrics.json key and heading.
const std::vector<std::pair<std::string, std::string>> kColumns = {
    {"open_accuracy", "Open"}, {"lenient_accuracy", "Lenient"}, {"token_f1", "Token F1"},
    {"qa_score", "QA score"},  {"prefix_score", "Prefix score"}};

// A fraction as a percentage with two decimals, "-" for null (no item with options).
std::string percent(const ordered_json& fraction) {
  if (fraction.is_null()) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 100.0 * fraction.get<double>());
  return buf;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// A Markdown table cell: pipes escaped, line breaks as spaces.
std::string md_cell(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '|')
      out += "\\|";
    else if (c == '\n' || c == '\r')
      out += ' ';
    else
      out += c;
  }
  return out;
}

struct Example {
  const ordered_json* line;
  std::string picture;  // relative to the report's folder; "" when the image could not be drawn
};

// Up to `count` examples, half right and half wrong (the other kind fills in when one runs out),
// taken round-robin over the modalities so every modality shows, each in file order.
std::vector<Example> pick_examples(const ordered_json& predictions, size_t count) {
  std::map<std::string, std::vector<const ordered_json*>> right, wrong;
  for (const ordered_json& line : predictions)
    (line.value("open_correct", false) ? right : wrong)[line.value("modality_type", "")].push_back(&line);
  auto take = [](std::map<std::string, std::vector<const ordered_json*>>& pool, size_t n) {
    std::vector<const ordered_json*> out;
    for (size_t round = 0; out.size() < n; ++round) {
      bool any = false;
      for (auto& [name, lines] : pool)
        if (round < lines.size() && out.size() < n) out.push_back(lines[round]), any = true;
      if (!any) break;
    }
    return out;
  };
  auto good = take(right, count / 2), bad = take(wrong, count - good.size());
  if (good.size() + bad.size() < count) good = take(right, count - bad.size());
  std::vector<Example> out;
  for (auto* l : good) out.push_back({l, ""});
  for (auto* l : bad) out.push_back({l, ""});
  return out;
}

std::vector<std::string> present_columns(const ordered_json& metrics) {
  std::vector<std::string> keys;
  for (const auto& [key, heading] : kColumns)
    if (metrics.contains(key)) keys.push_back(key);
  return keys;
}

std::string heading_of(const std::string& key) {
  for (const auto& [k, heading] : kColumns)
    if (k == key) return heading;
  return key;
}

// (label, value) of the headline list, in both formats.
std::vector<std::pair<std::string, std::string>> headline(const ordered_json& m) {
  const auto& ci = m["open_accuracy_ci95"];
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Items", std::to_string(m["n"].get<size_t>())},
      {"Open-ended accuracy", percent(m["open_accuracy"]) + " % (95% CI " + percent(ci[0]) + " - " + percent(ci[1]) + ")"},
      {"Macro over modalities", percent(m["macro_open_accuracy"]) + " %"}};
  if (m.contains("blind_open_accuracy")) {
    char gap[32];
    std::snprintf(gap, sizeof gap, "%+.2f",
                  100.0 * (m["open_accuracy"].get<double>() - m["blind_open_accuracy"].get<double>()));
    rows.emplace_back("Blind baseline (image features zeroed)",
                      percent(m["blind_open_accuracy"]) + " % (the image adds " + gap + " points)");
  }
  for (const std::string& key : present_columns(m))
    if (key != "open_accuracy") rows.emplace_back(heading_of(key), percent(m[key]) + " %");
  return rows;
}

constexpr size_t kFlippedShown = 20;  // the rest are in comparison.json

std::string signed_points(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f", 100.0 * fraction);
  return buf;
}

std::string p_value(const GroupComparison& g, double p) {
  if (!g.tested) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", p);
  return buf;
}

// The 'against baseline' section as (heading lines, table rows, flipped rows), shared by both formats.
struct BaselineSection {
  std::vector<std::pair<std::string, std::string>> facts;  // (label, value)
  std::vector<std::vector<std::string>> groups;             // cells of kGroupHeadings
  std::vector<std::vector<std::string>> flipped;            // cells of kFlippedHeadings
};
const std::vector<std::string> kGroupHeadings = {"Group", "n", "Baseline", "Candidate", "Difference", "95% CI",
                                                 "p (McNemar)", "Holm p", "Gate"};
const std::vector<std::string> kFlippedHeadings = {"Question id", "Modality", "Question", "Answer", "Baseline said",
                                                   "Candidate said"};

BaselineSection baseline_section(const Comparison& c) {
  BaselineSection s;
  char rule[160];
  std::snprintf(rule, sizeof rule, "fails on a drop of more than %.2f points with Holm-adjusted p < %g (groups of n >= %zu)",
                100 * c.options.max_drop, c.options.alpha, c.options.min_n);
  s.facts = {{"Baseline", c.baseline},
             {"Verdict", c.failed() ? "FAILED: " + c.failure_summary() : "passed"},
             {"Rule", rule},
             {"Paired items", std::to_string(c.groups.front().n)},
             {"Only in the baseline", std::to_string(c.baseline_only.size())},
             {"Only in this run", std::to_string(c.candidate_only.size())},
             {"Right -> wrong", std::to_string(c.flipped.size())}};
  for (const auto& g : c.groups)
    s.groups.push_back({g.label(), std::to_string(g.n), percent(g.baseline_accuracy), percent(g.candidate_accuracy),
                        signed_points(g.difference), signed_points(g.ci95[0]) + " to " + signed_points(g.ci95[1]),
                        p_value(g, g.p), p_value(g, g.p_holm), g.failed ? "FAILED" : g.tested ? "ok" : "not tested"});
  for (size_t i = 0; i < std::min(kFlippedShown, c.flipped.size()); ++i) {
    const FlippedItem& f = c.flipped[i];
    s.flipped.push_back({f.question_id, f.modality_type, f.question, f.gt_answer, f.baseline_prediction,
                         f.candidate_prediction});
  }
  return s;
}

std::string markdown_table(const std::vector<std::string>& headings, const std::vector<std::vector<std::string>>& rows) {
  std::string md = "|";
  for (const auto& h : headings) (md += ' ') += h + " |";
  md += "\n|";
  for (size_t i = 0; i < headings.size(); ++i) md += "---|";
  md += "\n";
  for (const auto& row : rows) {
    md += "|";
    for (const auto& cell : row) (md += ' ') += md_cell(cell) + " |";
    md += "\n";
  }
  return md;
}

std::string html_table(const std::vector<std::string>& headings, const std::vector<std::vector<std::string>>& rows) {
  std::string h = "<table>\n<tr>";
  for (const auto& heading : headings) h += "<th>" + html_escape(heading) + "</th>";
  h += "</tr>\n";
  for (const auto& row : rows) {
    h += "<tr>";
    for (const auto& cell : row) h += "<td>" + html_escape(cell) + "</td>";
    h += "</tr>\n";
  }
  return h + "</table>\n";
}

std::string markdown_baseline(const BaselineSection& s, const std::string& plot) {
  std::string md = "\n## Against baseline\n\n| | |\n|---|---|\n";
  for (const auto& [label, value] : s.facts) md += "| " + label + " | " + md_cell(value) + " |\n";
  md += "\nDifferences in points (this run minus the baseline), open-ended accuracy.\n\n![difference by group](" +
        plot + ")\n\n" + markdown_table(kGroupHeadings, s.groups) + "\n### Right in the baseline, wrong now\n\n";
  return md + (s.flipped.empty() ? std::string("None.\n") : markdown_table(kFlippedHeadings, s.flipped));
}

std::string html_baseline(const BaselineSection& s, const std::string& plot) {
  std::string h = "<h2>Against baseline</h2>\n<table>\n";
  for (const auto& [label, value] : s.facts)
    h += "<tr><th>" + html_escape(label) + "</th><td>" + html_escape(value) + "</td></tr>\n";
  h += "</table>\n<p>Differences in points (this run minus the baseline), open-ended accuracy.</p>\n<img src=\"" + plot +
       "\" alt=\"difference by group\">\n" + html_table(kGroupHeadings, s.groups) +
       "<h3>Right in the baseline, wrong now</h3>\n";
  return h + (s.flipped.empty() ? std::string("<p>None.</p>\n") : html_table(kFlippedHeadings, s.flipped));
}

std::string markdown(const ordered_json& m, const std::vector<Example>& examples, const ReportOptions& o,
                     const std::string& chart) {
  std::string md = "# " + o.title + "\n\n";
  for (const auto& [what, value] : o.run) md += "- " + what + ": `" + value + "`\n";
  md += "\n## Headline\n\n| | |\n|---|---|\n";
  for (const auto& [label, value] : headline(m)) md += "| " + label + " | " + value + " |\n";
  md += "\nAccuracies in %, definitions in docs/scoring.md.\n\n## By modality\n\n![open-ended accuracy by modality](" +
        chart + ")\n\n";
  const auto columns = present_columns(m);
  md += "| Modality | n |";
  // (md += ' ') += ...: GCC 12's -Wrestrict misfires on `" " + temporary string`.
  for (const auto& c : columns) (md += ' ') += heading_of(c) + " |";
  md += "\n|---|---:|";
  for (size_t i = 0; i < columns.size(); ++i) md += "---:|";
  md += "\n";
  auto row = [&](const std::string& name, const ordered_json& g) {
    md += "| " + md_cell(name) + " | " + std::to_string(g["n"].get<size_t>()) + " |";
    for (const auto& c : columns) (md += ' ') += percent(g[c]) + " |";
    md += "\n";
  };
  for (const auto& [name, g] : m["by_modality"].items()) row(name, g);
  row("**Overall**", m);
  md += "\n## By question type\n\n| Question type | n | Open |\n|---|---:|---:|\n";
  for (const auto& [name, g] : m["by_question_type"].items())
    md += "| " + md_cell(name) + " | " + std::to_string(g["n"].get<size_t>()) + " | " + percent(g["open_accuracy"]) + " |\n";
  md += "\n## Examples\n\n| | Modality | Question | Answer | Prediction | |\n|---|---|---|---|---|---|\n";
  for (const Example& e : examples) {
    const ordered_json& l = *e.line;
    md += "| " + (e.picture.empty() ? std::string("(no image)") : "![](" + e.picture + ")") + " | " +
          md_cell(l.value("modality_type", "")) + " | " + md_cell(l.value("question", "")) + " | " +
          md_cell(l.value("gt_answer", "")) + " | " + md_cell(l.value("prediction", "")) + " | " +
          (l.value("open_correct", false) ? "right" : "**wrong**") + " |\n";
  }
  return md;
}

// `extra`: HTML placed after the examples (the 'against baseline' section).
std::string html(const ordered_json& m, const std::vector<Example>& examples, const ReportOptions& o,
                 const std::string& chart, const std::string& extra) {
  std::string h = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + html_escape(o.title) +
                  "</title>\n<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
                  "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}"
                  "td.num{text-align:right}.examples{display:flex;flex-wrap:wrap;gap:12px}"
                  "figure{width:240px;margin:0;padding:8px;border:3px solid}figure.right{border-color:#2a2}"
                  "figure.wrong{border-color:#c22}figure img{max-width:100%}figcaption{font-size:90%}"
                  ".mark{font-weight:bold}</style></head><body>\n<h1>" + html_escape(o.title) + "</h1>\n<ul>\n";
  for (const auto& [what, value] : o.run) h += "<li>" + html_escape(what) + ": <code>" + html_escape(value) + "</code></li>\n";
  h += "</ul>\n<h2>Headline</h2>\n<table>\n";
  for (const auto& [label, value] : headline(m))
    h += "<tr><th>" + html_escape(label) + "</th><td>" + html_escape(value) + "</td></tr>\n";
  h += "</table>\n<p>Accuracies in %, definitions in docs/scoring.md.</p>\n<h2>By modality</h2>\n<img src=\"" + chart +
       "\" alt=\"open-ended accuracy by modality\">\n<table>\n<tr><th>Modality</th><th>n</th>";
  const auto columns = present_columns(m);
  for (const auto& c : columns) h += "<th>" + heading_of(c) + "</th>";
  h += "</tr>\n";
  auto row = [&](const std::string& name, const ordered_json& g, bool bold) {
    h += std::string("<tr><td>") + (bold ? "<b>" : "") + html_escape(name) + (bold ? "</b>" : "") +
         "</td><td class=\"num\">" + std::to_string(g["n"].get<size_t>()) + "</td>";
    for (const auto& c : columns) h += "<td class=\"num\">" + percent(g[c]) + "</td>";
    h += "</tr>\n";
  };
  for (const auto& [name, g] : m["by_modality"].items()) row(name, g, false);
  row("Overall", m, true);
  h += "</table>\n<h2>By question type</h2>\n<table>\n<tr><th>Question type</th><th>n</th><th>Open</th></tr>\n";
  for (const auto& [name, g] : m["by_question_type"].items())
    h += "<tr><td>" + html_escape(name) + "</td><td class=\"num\">" + std::to_string(g["n"].get<size_t>()) +
         "</td><td class=\"num\">" + percent(g["open_accuracy"]) + "</td></tr>\n";
  h += "</table>\n<h2>Examples</h2>\n<div class=\"examples\">\n";
  for (const Example& e : examples) {
    const ordered_json& l = *e.line;
    const bool right = l.value("open_correct", false);
    h += std::string("<figure class=\"") + (right ? "right" : "wrong") + "\">";
    if (!e.picture.empty()) h += "<img src=\"" + e.picture + "\" alt=\"" + html_escape(l.value("question_id", "")) + "\">";
    h += "<figcaption><i>" + html_escape(l.value("modality_type", "")) + "</i><br><b>Q:</b> " +
         html_escape(l.value("question", "")) + "<br><b>Answer:</b> " + html_escape(l.value("gt_answer", "")) +
         "<br><b>Prediction:</b> " + html_escape(l.value("prediction", "")) + "<br><span class=\"mark\">" +
         (right ? "&#10003; right" : "&#10007; wrong") + "</span></figcaption></figure>\n";
  }
  h += "</div>\n" + extra + "</body></html>\n";
  return h;
}

}  // namespace

std::string write_report(const std::string& dir, const ordered_json& metrics, const ordered_json& predictions,
                         const ReportOptions& options, const Comparison* comparison) {
  const fs::path out(dir), pictures = out / "report";
  fs::create_directories(pictures);
  std::vector<plot::Bar> bars;
  for (const auto& [name, g] : metrics["by_modality"].items()) {
    plot::Bar b;
    b.label = name;
    b.value = g["open_accuracy"].get<double>();
    b.note = "n=" + std::to_string(g["n"].get<size_t>());
    bars.push_back(b);
  }
  const std::string chart = "report/accuracy_by_modality.png";
  write_file_atomic((out / chart).string(), plot::bar_chart_png(bars, "open-ended accuracy by modality"));
  std::vector<Example> examples = pick_examples(predictions, options.examples);
  for (size_t i = 0; i < examples.size(); ++i) {
    const std::string image = examples[i].line->value("image", "");
    const std::string name = "report/example_" + std::to_string(i + 1) + ".png";
    try {
      write_file_atomic((out / name).string(), plot::thumbnail_png(image, options.thumbnail_side));
      examples[i].picture = name;
    } catch (const Error& e) {
      // The report still helps without one picture (the image may have moved since the run).
      log_warn("report: no thumbnail for example ", i + 1, ": ", e.what());
    }
  }
  std::string md_extra, html_extra;
  if (comparison) {
    std::vector<plot::Interval> rows;
    for (const auto& g : comparison->groups) rows.push_back({g.label(), g.difference, g.ci95[0], g.ci95[1], g.failed});
    const std::string plot = "report/baseline_differences.png";
    write_file_atomic((out / plot).string(),
                      plot::dot_interval_png(rows, comparison->options.max_drop, "open-ended accuracy: this run - baseline"));
    const BaselineSection section = baseline_section(*comparison);
    md_extra = markdown_baseline(section, plot);
    html_extra = html_baseline(section, plot);
  }
  write_file_atomic((out / "report.md").string(), markdown(metrics, examples, options, chart) + md_extra);
  const std::string html_path = (out / "report.html").string();
  write_file_atomic(html_path, html(metrics, examples, options, chart, html_extra));
  return html_path;
}

}  // namespace medvqa
