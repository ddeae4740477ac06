#include "medvqa/eval/junit.h"

#include <cstdio>

namespace medvqa {
namespace {

std::string xml_escape(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // XML 1.0 has no control characters other than tab, LF and CR, not even as references.
        if (c < 0x20 && ch != '\t' && ch != '\n' && ch != '\r')
          out += ' ';
        else
          out += ch;
    }
  }
  return out;
}

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char buf[128];
  std::snprintf(buf, sizeof buf, pattern, a, b, c);
  return buf;
}

// The numbers of one group, as the failure message and the test case's output.
std::string numbers(const GroupComparison& g) {
  std::string s = "n " + std::to_string(g.n) + ", baseline " + format("%.2f%%", 100 * g.baseline_accuracy) +
                  ", candidate " + format("%.2f%%", 100 * g.candidate_accuracy) + ", difference " +
                  format("%+.2f points (95%% CI %+.2f to %+.2f)", 100 * g.difference, 100 * g.ci95[0], 100 * g.ci95[1]) +
                  ", right->wrong " + std::to_string(g.right_to_wrong) + ", wrong->right " +
                  std::to_string(g.wrong_to_right);
  if (g.tested) s += format(", McNemar p %.4g, Holm p %.4g", g.p, g.p_holm);
  return s;
}

}  // namespace

std::string junit_xml(const Comparison& c) {
  size_t failures = 0, skipped = 0;
  for (const auto& g : c.groups) failures += g.failed, skipped += !g.tested;
  const std::string counts = "tests=\"" + std::to_string(c.groups.size()) + "\" failures=\"" + std::to_string(failures) +
                             "\" errors=\"0\" skipped=\"" + std::to_string(skipped) + "\"";
  std::string x = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"medvqa compare\" " + counts + ">\n";
  x += "  <testsuite name=\"medvqa compare\" " + counts + " time=\"0\">\n    <properties>\n";
  auto property = [&](const std::string& name, const std::string& value) {
    x += "      <property name=\"" + name + "\" value=\"" + xml_escape(value) + "\"/>\n";
  };
  property("baseline", c.baseline);
  property("candidate", c.candidate);
  property("max_drop", format("%g", c.options.max_drop));
  property("alpha", format("%g", c.options.alpha));
  property("min_n", std::to_string(c.options.min_n));
  x += "    </properties>\n";
  for (const auto& g : c.groups) {
    x += "    <testcase classname=\"medvqa.compare." + xml_escape(g.dimension) + "\" name=\"" + xml_escape(g.name) +
         "\" time=\"0\">\n";
    if (g.failed) {
      const std::string message = g.label() + " dropped by more than " + format("%.2f", 100 * c.options.max_drop) +
                                  " points (significant at alpha " + format("%g", c.options.alpha) + "): " + numbers(g);
      x += "      <failure message=\"" + xml_escape(message) + "\" type=\"regression\">" + xml_escape(message) +
           "</failure>\n";
    } else if (!g.tested) {
      x += "      <skipped message=\"" + xml_escape("n " + std::to_string(g.n) + " below min-n " + std::to_string(c.options.min_n) +
                                              ": " + numbers(g)) + "\"/>\n";
    }
    x += "      <system-out>" + xml_escape(numbers(g)) + "</system-out>\n    </testcase>\n";
  }
  std::string one_sided = std::to_string(c.baseline_only.size()) + " item(s) only in the baseline, " +
                          std::to_string(c.candidate_only.size()) + " only in the candidate";
  for (const auto& id : c.baseline_only) one_sided += "\nbaseline only: " + id;
  for (const auto& id : c.candidate_only) one_sided += "\ncandidate only: " + id;
  x += "    <system-out>" + xml_escape(one_sided) + "</system-out>\n  </testsuite>\n</testsuites>\n";
  return x;
}

}  // namespace medvqa
