// UTF-8 checks shared by the tokenizers: validating input text before the regex and the
// backends see it, and finding where a byte stream stops at a whole character (stream decode).
// No conversion to code points or normalisation: the tokenizers work on bytes.
#pragma once

#include <string>
#include <string_view>

namespace medvqa {

// Byte offset of the first invalid sequence (bad lead or continuation byte, overlong form,
// surrogate, > U+10FFFF, truncated at the end), or std::string_view::npos if `text` is valid.
size_t find_invalid_utf8(std::string_view text);

// Length of the longest prefix of `bytes` that does not end inside a UTF-8 character still
// waiting for continuation bytes. Invalid bytes count as complete: they never hold output back.
size_t utf8_complete_prefix(std::string_view bytes);

// `text` with each invalid sequence replaced by one U+FFFD, as Python's decode(errors="replace")
// shows model output that ends inside a character or strings byte tokens together at random: the
// maximal prefix of a well-formed sequence is one replacement, any other bad byte one each.
std::string replace_invalid_utf8(std::string_view text);

}  // namespace medvqa
