// medvqa tokenize --tokenizer PATH (--text T | --input FILE.jsonl) [--bos] [--special parse|plain]
// [--decode]: ids as JSON arrays, one line per text (or, with --decode, texts from id arrays).
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa::cli {

namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string text;
  std::string input;
  bool bos = false;
  std::string special = "parse";
  bool decode = false;
};

// One input (the --text value or one line of --input) -> one output line. `where` names it in errors.
std::string convert(const Tokenizer& tokenizer, const TokenizeArgs& args, const std::string& source,
                    const std::string& where, size_t& n_tokens) {
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(source);
  } catch (const nlohmann::json::parse_error& e) {
    MEDVQA_FAIL(where, ": invalid JSON: ", e.what());
  }
  if (args.decode) {
    MEDVQA_CHECK(value.is_array(), where, ": expected a JSON array of token ids, found ", value.type_name());
    std::vector<int32_t> ids;
    for (const auto& v : value) {
      MEDVQA_CHECK(v.is_number_integer(), where, ": expected integer token ids, found ", v.dump());
      const auto id = v.get<int64_t>();
      MEDVQA_CHECK(id >= 0 && id < tokenizer.vocab_size(), where, ": token id ", id,
                   " is outside the vocabulary [0, ", tokenizer.vocab_size(), ")");
      ids.push_back(static_cast<int32_t>(id));
    }
    n_tokens += ids.size();
    // Ids may end inside a UTF-8 character: show such bytes as U+FFFD, as tiktoken's decode does.
    return nlohmann::json(tokenizer.decode(ids)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  }
  MEDVQA_CHECK(value.is_string(), where, ": expected a JSON string, found ", value.type_name());
  std::vector<int32_t> ids;
  if (args.bos) {
    const auto bos = tokenizer.bos_id();
    MEDVQA_CHECK(bos, "--bos: ", tokenizer.describe(), " has no begin-of-text token");
    ids.push_back(*bos);
  }
  try {
    const auto text_ids = tokenizer.encode(value.get<std::string>(), parse_specials(args.special));
    ids.insert(ids.end(), text_ids.begin(), text_ids.end());
  } catch (const Error& e) {
    MEDVQA_FAIL(where, ": ", e.what());
  }
  n_tokens += ids.size();
  return nlohmann::json(ids).dump();
}

void run_tokenize(const TokenizeArgs& args) {
  const auto tokenizer = load_tokenizer(args.tokenizer);
  const auto t0 = std::chrono::steady_clock::now();
  size_t n_lines = 0, n_tokens = 0, n_bytes = 0;
  std::string out;
  if (args.input.empty()) {
    // --text is the text itself; with --decode it is the JSON array of ids.
    const std::string source = args.decode ? args.text : nlohmann::json(args.text).dump();
    out = convert(*tokenizer, args, source, "--text", n_tokens) + "\n";
    n_lines = 1;
    n_bytes = args.text.size();
  } else {
    std::ifstream in(args.input, std::ios::binary);
    MEDVQA_CHECK(in, "tokenize: cannot open --input ", args.input);
    std::string line;
    while (std::getline(in, line)) {
      ++n_lines;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out += convert(*tokenizer, args, line, args.input + ":" + std::to_string(n_lines), n_tokens);
      out += '\n';
      n_bytes += line.size();
    }
  }
  const double seconds = seconds_since(t0);
  std::cout << out << std::flush;
  log_info("tokenize: ", n_lines, " lines, ", n_tokens, " tokens, ", n_bytes, " bytes in ", seconds * 1e3, " ms (",
           seconds > 0 ? static_cast<double>(n_tokens) / seconds : 0.0, " tokens/s)");
}

}  // namespace

void add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of texts (or, with --decode, the texts of ids)");
  auto args = std::make_shared<TokenizeArgs>();
  cmd->add_option("--tokenizer", args->tokenizer,
                  "tokenizer.model (tiktoken or SentencePiece), tokenizer.json, or a model directory")
      ->required();
  auto* text = cmd->add_option("--text", args->text, "one text (with --decode: a JSON array of ids)");
  auto* input = cmd->add_option("--input", args->input, "JSONL file: one JSON string (or id array) per line");
  text->excludes(input);
  cmd->add_flag("--bos", args->bos, "prepend the begin-of-text id");
  cmd->add_option("--special", args->special, "special-token strings in text: parse into ids, or plain text")
      ->check(CLI::IsMember({"parse", "plain"}))
      ->capture_default_str();
  cmd->add_flag("--decode", args->decode, "decode id arrays into JSON strings instead");
  cmd->callback([args, text, input] {
    MEDVQA_CHECK(text->count() + input->count() == 1, "tokenize: give exactly one of --text or --input");
    MEDVQA_CHECK(!(args->decode && args->bos), "tokenize: --bos adds an id to encoded text; it has no meaning with --decode");
    run_tokenize(*args);
  });
}

}  // namespace medvqa::cli
