// The answer normalisation every open-ended scorer compares under (docs/scoring.md): Python
// str.lower(), non-letters/numbers to spaces, articles dropped, number words to digits.
// Not the scorers that use it (scorers.h).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace medvqa {

// The normalised tokens of a UTF-8 answer, in order.
std::vector<std::string> normalize_tokens(std::string_view text);
// The tokens joined with single spaces.
std::string normalize(std::string_view text);
std::string join_tokens(const std::vector<std::string>& tokens);

}  // namespace medvqa
