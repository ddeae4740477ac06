#include "medvqa/text/llama3_tokenizer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <optional>

#include "medvqa/core/error.h"

namespace medvqa {

const char* const kLlama3SplitPattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

std::vector<std::string> llama3_special_names() {
  std::vector<std::string> names = {"<|begin_of_text|>",
                                    "<|end_of_text|>",
                                    "<|reserved_special_token_0|>",
                                    "<|reserved_special_token_1|>",
                                    "<|reserved_special_token_2|>",
                                    "<|reserved_special_token_3|>",
                                    "<|start_header_id|>",
                                    "<|end_header_id|>",
                                    "<|reserved_special_token_4|>",
                                    "<|eot_id|>"};
  for (int i = 5; names.size() < kLlama3NumSpecials; ++i)
    names.push_back("<|reserved_special_token_" + std::to_string(i) + "|>");
  return names;
}

Llama3Tokenizer::Llama3Tokenizer(std::vector<std::string> tokens, std::vector<std::string> specials,
                                 std::string source)
    : bpe_(std::move(tokens), source),
      splitter_(kLlama3SplitPattern),
      special_names_(std::move(specials)),
      source_(std::move(source)) {
  std::vector<Special> parsed;
  for (size_t i = 0; i < special_names_.size(); ++i)
    parsed.push_back({special_names_[i], bpe_.size() + static_cast<int32_t>(i)});
  set_specials(std::move(parsed));
}

std::string Llama3Tokenizer::piece_bytes(int32_t id, bool /*first*/) const {
  check_id(id);
  if (id < bpe_.size()) return std::string(bpe_.bytes_of(id));
  return special_names_[id - bpe_.size()];
}

void Llama3Tokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  thread_local std::vector<std::string_view> pieces;
  splitter_.split(text, pieces);
  for (const auto& piece : pieces) bpe_.encode(piece, out);
}

namespace {

// RFC 4648 base64 with padding; nullopt on any other character.
std::optional<std::string> decode_base64(std::string_view text) {
  static const std::array<int8_t, 256> table = [] {
    std::array<int8_t, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 64; ++i) t[static_cast<uint8_t>(alphabet[i])] = static_cast<int8_t>(i);
    return t;
  }();
  while (!text.empty() && text.back() == '=') text.remove_suffix(1);
  std::string out;
  uint32_t bits = 0;
  int nbits = 0;
  for (const char c : text) {
    const int v = table[static_cast<uint8_t>(c)];
    if (v < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xFF);
    }
  }
  return out;
}

// GPT-2's byte-to-unicode map, inverted: the code point that stands for each byte in tokenizer.json.
// Printable Latin-1 bytes stand for themselves; the other 68 map to U+0100 onwards, in byte order.
std::array<uint32_t, 256> gpt2_byte_code_points() {
  std::array<uint32_t, 256> cp{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    cp[b] = printable ? b : next++;
  }
  return cp;
}

// The bytes a tokenizer.json vocabulary key stands for; nullopt when a character is not in the map.
std::optional<std::string> decode_gpt2_bytes(const std::string& key) {
  static const std::vector<int> byte_of = [] {
    std::vector<int> inverse(512, -1);
    const auto cp = gpt2_byte_code_points();
    for (int b = 0; b < 256; ++b) inverse[cp[b]] = b;
    return inverse;
  }();
  std::string out;
  for (size_t i = 0; i < key.size();) {
    const auto c = static_cast<uint8_t>(key[i]);
    uint32_t code_point = 0;
    if (c < 0x80) {
      code_point = c;
      i += 1;
    } else if ((c & 0xE0) == 0xC0 && i + 1 < key.size()) {
      code_point = ((c & 0x1Fu) << 6) | (static_cast<uint8_t>(key[i + 1]) & 0x3Fu);
      i += 2;
    } else {
      return std::nullopt;  // every code point of the map is below U+0800
    }
    if (code_point >= byte_of.size() || byte_of[code_point] < 0) return std::nullopt;
    out += static_cast<char>(byte_of[code_point]);
  }
  return out;
}

// The Split pattern of a pre_tokenizer (itself or inside a Sequence), or "" when there is none.
std::string split_pattern(const nlohmann::json& pre) {
  if (!pre.is_object()) return "";
  if (pre.value("type", "") == "Split" && pre.contains("pattern") && pre["pattern"].contains("Regex"))
    return pre["pattern"]["Regex"].get<std::string>();
  if (pre.value("type", "") == "Sequence" && pre.contains("pretokenizers"))
    for (const auto& p : pre["pretokenizers"]) {
      std::string found = split_pattern(p);
      if (!found.empty()) return found;
    }
  return "";
}

}  // namespace

std::unique_ptr<Tokenizer> read_tiktoken_model(const std::string& path, const std::string& content) {
  std::vector<std::string> tokens;
  size_t line_no = 0;
  for (size_t pos = 0; pos < content.size();) {
    size_t eol = content.find('\n', pos);
    if (eol == std::string::npos) eol = content.size();
    std::string_view line = std::string_view(content).substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const size_t space = line.find(' ');
    MEDVQA_CHECK(space != std::string_view::npos, path, ":", line_no, ": expected 'base64 rank', found '", line, "'");
    const auto bytes = decode_base64(line.substr(0, space));
    MEDVQA_CHECK(bytes && !bytes->empty(), path, ":", line_no, ": '", line.substr(0, space),
                 "' is not a base64 token");
    const std::string rank_text(line.substr(space + 1));
    const std::string expected = std::to_string(tokens.size());
    MEDVQA_CHECK(rank_text == expected, path, ":", line_no, ": expected rank ", expected,
                 " (ranks run 0, 1, 2, ... in file order), found '", rank_text, "'");
    tokens.push_back(*bytes);
  }
  return std::make_unique<Llama3Tokenizer>(std::move(tokens), llama3_special_names(), path);
}

std::unique_ptr<Tokenizer> read_llama3_tokenizer_json(const std::string& path, const std::string& content) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(content);
  } catch (const nlohmann::json::parse_error& e) {
    MEDVQA_FAIL(path, ": invalid JSON: ", e.what());
  }
  MEDVQA_CHECK(j.is_object() && j.contains("model") && j["model"].is_object(), path,
               ": JSON without a 'model' object: not an HF tokenizer.json");
  const auto& model = j["model"];
  const std::string type = model.value("type", "");
  MEDVQA_CHECK(type == "BPE", path, ": expected model.type 'BPE' (a LLaMA-3 tokenizer.json), found '", type, "'");
  const std::string pattern = split_pattern(j.value("pre_tokenizer", nlohmann::json()));
  MEDVQA_CHECK(pattern == kLlama3SplitPattern, path,
               ": expected the LLaMA-3 Split pre-tokenizer pattern, found ",
               pattern.empty() ? std::string("none") : "'" + pattern + "'",
               "; only LLaMA-3 BPE tokenizer.json files are supported");
  MEDVQA_CHECK(model.contains("vocab") && model["vocab"].is_object(), path, ": model.vocab is missing");

  // tiktoken semantics: a token's id is its merge rank. The converted LLaMA-3 files order their
  // merges by the rank of the merged token and set ignore_merges, so HF tokenizers agree.
  const auto& vocab = model["vocab"];
  std::vector<std::string> tokens(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (const auto& [key, value] : vocab.items()) {
    MEDVQA_CHECK(value.is_number_integer(), path, ": model.vocab['", key, "'] is not an integer id");
    const auto id = value.get<int64_t>();
    MEDVQA_CHECK(id >= 0 && id < static_cast<int64_t>(tokens.size()) && !seen[id], path, ": model.vocab['", key,
                 "'] = ", id, ": expected each id of 0..", tokens.size() - 1, " exactly once");
    const auto bytes = decode_gpt2_bytes(key);
    MEDVQA_CHECK(bytes && !bytes->empty(), path, ": model.vocab key '", key,
                 "' is not a GPT-2 byte-level string");
    tokens[id] = *bytes;
    seen[id] = true;
  }

  std::vector<std::pair<int64_t, std::string>> added;
  try {
    for (const auto& t : j.value("added_tokens", nlohmann::json::array()))
      added.emplace_back(t.at("id").get<int64_t>(), t.at("content").get<std::string>());
  } catch (const nlohmann::json::exception& e) {
    MEDVQA_FAIL(path, ": added_tokens: expected objects with an integer 'id' and a string 'content': ", e.what());
  }
  std::sort(added.begin(), added.end());
  std::vector<std::string> specials;
  for (const auto& [id, text] : added) {
    const auto expected = static_cast<int64_t>(tokens.size() + specials.size());
    MEDVQA_CHECK(id == expected, path, ": added token '", text, "' has id ", id, ", expected ", expected,
                 " (special tokens follow the BPE vocabulary without gaps)");
    specials.push_back(text);
  }
  return std::make_unique<Llama3Tokenizer>(std::move(tokens), std::move(specials), path);
}

}  // namespace medvqa
