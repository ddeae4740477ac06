// OpenAI's `stop`: the answer ends before the first occurrence of any stop string, which is not
// returned. Text arrives in pieces (streaming), so a tail that may be the start of a stop string is
// held back until the next piece decides it. Stop ids (eot) are the answerer's business.
#pragma once

#include <string>
#include <vector>

namespace medvqa::serve {

class StopStrings {
 public:
  explicit StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}

  // The text that is now certain to be part of the answer; nothing once stopped.
  std::string push(const std::string& piece);
  // At the end of generation: the text still held back.
  std::string finish();
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace medvqa::serve
