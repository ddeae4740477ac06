// The one error type of medvqa and the checks that raise it.
// User-facing problems (bad files, bad configs, bad input) are medvqa::Error; main() prints
// "error: <what>" and exits 1. A quality gate the inputs failed is medvqa::GateFailure: main()
// prints "gate failed: <what>" and exits 3. Programming errors stay asserts / torch errors.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace medvqa {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Valid inputs that did not pass a gate (`medvqa compare`, eval.baseline): a regression, not a
// mistake of the user, so CI can tell the two apart by the exit code.
class GateFailure : public Error {
 public:
  using Error::Error;
};

// Collects every problem of one operation (a config, a checkpoint load) so the user sees them all
// at once; throw_if_any() raises one Error listing them under a headline.
class Problems {
 public:
  void add(std::string problem) { items_.push_back(std::move(problem)); }
  bool empty() const { return items_.empty(); }
  const std::vector<std::string>& items() const { return items_; }
  void throw_if_any(const std::string& headline) const;

 private:
  std::vector<std::string> items_;
};

namespace detail {
template <class... Args>
std::string concat(Args&&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace medvqa

// MEDVQA_CHECK(cond, "file ", path, ": expected ", a, ", got ", b);
#define MEDVQA_CHECK(cond, ...)                                      \
  do {                                                               \
    if (!(cond)) throw ::medvqa::Error(::medvqa::detail::concat(__VA_ARGS__)); \
  } while (0)
#define MEDVQA_FAIL(...) throw ::medvqa::Error(::medvqa::detail::concat(__VA_ARGS__))
