// UTF-8 <-> code points and Python's str.lower(), the Unicode layer of the text scorers.
// Owns the two places where utf8proc and CPython disagree (U+0130, final sigma); not the
// normalisation rules themselves (normalize.h).
#pragma once

#include <string>
#include <string_view>

namespace medvqa {

// Throws Error on malformed UTF-8 (Python could not have produced such a str either).
std::u32string decode_utf8(std::string_view text);
std::string encode_utf8(std::u32string_view text);

// Exactly CPython's str.lower(): full lowercase mapping (U+0130 -> "i\u0307") and the
// Final_Sigma context for U+03A3; everything else is utf8proc's simple lowercase mapping.
std::u32string python_lower(std::u32string_view text);

}  // namespace medvqa
