#include "medvqa/text/tokenizer.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/text/llama3_tokenizer.h"
#include "medvqa/text/sentencepiece_tokenizer.h"
#include "medvqa/text/utf8.h"

namespace fs = std::filesystem;

namespace medvqa {

Specials parse_specials(const std::string& text) {
  if (text == "parse") return Specials::kParse;
  if (text == "plain") return Specials::kPlain;
  MEDVQA_FAIL("special-token handling: expected 'parse' or 'plain', got '", text, "'");
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, Specials specials) const {
  const size_t bad = find_invalid_utf8(text);
  MEDVQA_CHECK(bad == std::string_view::npos, "tokenizer: text is not valid UTF-8 at byte ", bad, " (0x", std::hex,
               static_cast<int>(static_cast<uint8_t>(text[bad])), ")");
  std::vector<int32_t> ids;
  if (specials == Specials::kPlain || specials_.empty()) {
    encode_ordinary(text, ids);
    return ids;
  }
  size_t pos = 0;
  while (pos < text.size()) {
    size_t at = 0;
    const Special* special = find_special(text, pos, at);
    const size_t end = special ? at : text.size();
    if (end > pos) encode_ordinary(text.substr(pos, end - pos), ids);
    if (!special) break;
    ids.push_back(special->id);
    pos = at + special->text.size();
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string out;
  for (const int32_t id : ids) out += piece_bytes(id, out.empty());
  return out;
}

std::optional<int32_t> Tokenizer::id_of(std::string_view special) const {
  for (const auto& s : specials_)
    if (s.text == special) return s.id;
  return std::nullopt;
}

std::vector<int32_t> Tokenizer::stop_ids() const {
  std::vector<int32_t> ids;
  if (auto eos = eos_id()) ids.push_back(*eos);
  if (auto eot = eot_id()) ids.push_back(*eot);
  return ids;
}

void Tokenizer::set_specials(std::vector<Special> specials) {
  std::stable_sort(specials.begin(), specials.end(),
                   [](const Special& a, const Special& b) { return a.text.size() > b.text.size(); });
  specials_ = std::move(specials);
  special_first_bytes_.clear();
  for (const auto& s : specials_)
    if (!s.text.empty() && special_first_bytes_.find(s.text[0]) == std::string::npos)
      special_first_bytes_ += s.text[0];
}

const Tokenizer::Special* Tokenizer::find_special(std::string_view text, size_t from, size_t& at) const {
  // Special tokens are rare in text: jump between bytes that can open one ('<' for LLaMA-3).
  for (size_t p = text.find_first_of(special_first_bytes_, from); p != std::string_view::npos;
       p = text.find_first_of(special_first_bytes_, p + 1)) {
    const std::string_view rest = text.substr(p);
    for (const auto& s : specials_)
      if (!s.text.empty() && rest.compare(0, s.text.size(), s.text) == 0) {
        at = p;
        return &s;
      }
  }
  return nullptr;
}

void Tokenizer::check_id(int32_t id) const {
  MEDVQA_CHECK(id >= 0 && id < vocab_size(), "tokenizer: token id ", id, " is outside the vocabulary [0, ",
               vocab_size(), ") of ", describe());
}

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  MEDVQA_CHECK(in, "tokenizer: cannot open ", path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Meta's tokenizer.model opens with a line "base64 rank".
bool looks_like_tiktoken(const std::string& content) {
  const size_t eol = content.find('\n');
  const std::string_view line = std::string_view(content).substr(0, eol);
  const size_t space = line.find(' ');
  if (space == 0 || space == std::string_view::npos || space + 1 == line.size()) return false;
  for (size_t i = 0; i < line.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    const bool ok = i < space   ? std::isalnum(c) || c == '+' || c == '/' || c == '='
                    : i > space ? std::isdigit(c) || (c == '\r' && i + 1 == line.size())
                                : true;
    if (!ok) return false;
  }
  return true;
}

bool looks_like_json(const std::string& content) {
  const size_t first = content.find_first_not_of(" \t\r\n");
  return first != std::string::npos && content[first] == '{';
}

// A serialized SentencePiece ModelProto opens with field 1 (pieces), length-delimited: tag 0x0A.
bool looks_like_sentencepiece(const std::string& content) { return !content.empty() && content[0] == '\x0A'; }

std::string show_start(const std::string& content) {
  std::string shown;
  for (size_t i = 0; i < content.size() && i < 24; ++i) {
    const unsigned char c = static_cast<unsigned char>(content[i]);
    if (c >= 0x20 && c < 0x7F) {
      shown += static_cast<char>(c);
    } else {
      static const char* hex = "0123456789abcdef";
      shown += std::string("\\x") + hex[c >> 4] + hex[c & 15];
    }
  }
  return content.empty() ? "an empty file" : "'" + shown + "'";
}

std::unique_ptr<Tokenizer> load_tokenizer_file(const fs::path& path) {
  const std::string content = read_file(path);
  const std::string name = path.string();
  std::unique_ptr<Tokenizer> tokenizer;
  if (looks_like_tiktoken(content)) {
    tokenizer = read_tiktoken_model(name, content);
  } else if (looks_like_json(content)) {
    tokenizer = read_llama3_tokenizer_json(name, content);
  } else if (looks_like_sentencepiece(content)) {
    tokenizer = std::make_unique<SentencePieceTokenizer>(name, content);
  } else {
    MEDVQA_FAIL(name, ": not a tokenizer: expected Meta's tiktoken tokenizer.model (lines 'base64 rank'), "
                "an HF tokenizer.json or a SentencePiece model, found ", show_start(content));
  }
  log_info("tokenizer: ", tokenizer->describe(), ", ", tokenizer->vocab_size(), " tokens");
  return tokenizer;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  const fs::path p(path);
  MEDVQA_CHECK(fs::exists(p), "tokenizer: ", path, " does not exist");
  if (!fs::is_directory(p)) return load_tokenizer_file(p);
  // Meta's original BPE file first: it is the reference the HF conversion was made from.
  const fs::path candidates[] = {p / "original" / "tokenizer.model", p / "tokenizer.model", p / "tokenizer.json"};
  for (const auto& c : candidates)
    if (fs::is_regular_file(c)) return load_tokenizer_file(c);
  MEDVQA_FAIL("tokenizer: model directory ", path,
              " has no tokenizer: looked for original/tokenizer.model, tokenizer.model and tokenizer.json");
}

}  // namespace medvqa
