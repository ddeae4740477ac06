#include "medvqa/text/regex_splitter.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "medvqa/core/error.h"

namespace medvqa {

namespace {

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  pcre2_get_error_message(code, buffer, sizeof(buffer));
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct RegexSplitter::Impl {
  pcre2_code* code = nullptr;
  bool jit = false;
};

RegexSplitter::RegexSplitter(const std::string& pattern) : impl_(std::make_unique<Impl>()) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &error, &offset, nullptr);
  MEDVQA_CHECK(impl_->code, "tokenizer: split pattern does not compile at offset ", offset, ": ",
               pcre2_message(error));
  // Without JIT support (some PCRE2 builds), the interpreter gives the same matches, only slower.
  impl_->jit = pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE) == 0;
}

RegexSplitter::~RegexSplitter() { pcre2_code_free(impl_->code); }

void RegexSplitter::split(std::string_view text, std::vector<std::string_view>& pieces) const {
  pieces.clear();
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(impl_->code, nullptr), &pcre2_match_data_free);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  while (pos < text.size()) {
    // The caller validated the whole text; PCRE2 would otherwise re-check it on every call.
    const int rc = impl_->jit ? pcre2_jit_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                                                match.get(), nullptr)
                              : pcre2_match(impl_->code, subject, text.size(), pos, PCRE2_NO_UTF_CHECK,
                                            match.get(), nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    MEDVQA_CHECK(rc > 0, "tokenizer: split pattern failed at byte ", pos, ": ", pcre2_message(rc));
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(match.get());
    MEDVQA_CHECK(ovector[1] > ovector[0], "tokenizer: split pattern matched an empty piece at byte ", ovector[0]);
    pieces.push_back(text.substr(ovector[0], ovector[1] - ovector[0]));
    pos = ovector[1];
  }
}

}  // namespace medvqa
