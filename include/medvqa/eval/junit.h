// A comparison (compare.h) as a JUnit XML report, the form CI systems display: one <testcase> per
// group (overall first), a <failure> with the numbers for a failed one, <skipped> for a group below
// min_n; items on one side only go to <system-out>. Not the decision itself (compare.h).
#pragma once

#include <string>

#include "medvqa/eval/compare.h"

namespace medvqa {

// The XML document (UTF-8, escaped), valid against tests/data/junit/junit.xsd.
std::string junit_xml(const Comparison& c);

}  // namespace medvqa
