// medvqa generate --model DIR (--prompt TEXT | --ids 1,2,3) [--chat] [--max-new-tokens N] [--greedy |
// --temperature T --top-p P --top-k K --seed S] [--dtype D] [--device D] [--threads N] [--json]
// [--dump-logits FILE] [--tokenizer PATH] [--padding left|right] [--ignore-eos] [--warmup] [--adapter DIR]:
// continue prompts with a LLaMA model, optionally with a PEFT adapter (LoRA, trainable token rows).
// Repeating --prompt or --ids makes a batch.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/io/safetensors.h"
#include "medvqa/models/generation.h"
#include "medvqa/models/llama_loader.h"
#include "medvqa/models/peft_adapter.h"
#include "medvqa/text/chat_template.h"
#include "medvqa/text/stream_decoder.h"
#include "medvqa/text/tokenizer.h"

namespace medvqa::cli {

namespace {

namespace fs = std::filesystem;

struct GenerateArgs {
  std::string model;
  std::string adapter;
  std::vector<std::string> prompts;
  std::vector<std::string> ids;
  bool chat = false;
  int64_t max_new_tokens = 128;
  bool greedy = false;
  std::optional<double> temperature, top_p;
  std::optional<int64_t> top_k;
  uint64_t seed = 0;
  std::string dtype = "auto";
  std::string device = "auto";
  int threads = 0;
  bool json = false;
  std::string dump_logits;
  std::string tokenizer;
  std::string padding = "left";
  bool ignore_eos = false;
  bool warmup = false;
};

std::vector<int64_t> parse_ids(const std::string& text) {
  std::vector<int64_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    size_t used = 0;
    int64_t id = -1;
    try {
      id = std::stoll(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    MEDVQA_CHECK(used > 0 && used == item.size(), "--ids: \"", item, "\" is not an integer (expected e.g. 1,2,3)");
    ids.push_back(id);
  }
  MEDVQA_CHECK(!ids.empty(), "--ids: empty prompt");
  return ids;
}

// --tokenizer, else the model directory's own tokenizer; null when only ids are used and the
// directory has none (output is then ids only).
std::unique_ptr<Tokenizer> find_tokenizer(const GenerateArgs& a) {
  if (!a.tokenizer.empty()) return load_tokenizer(a.tokenizer);
  const fs::path dir(a.model);
  const bool has_own = fs::exists(dir / "original" / "tokenizer.model") || fs::exists(dir / "tokenizer.model") ||
                       fs::exists(dir / "tokenizer.json");
  if (has_own) return load_tokenizer(a.model);
  MEDVQA_CHECK(a.prompts.empty(), "--prompt needs a tokenizer: ", a.model,
               " has none (tokenizer.json, tokenizer.model); give --tokenizer PATH or use --ids");
  return nullptr;
}

std::vector<int64_t> encode_prompt(const Tokenizer& tokenizer, const std::string& prompt, bool chat) {
  MEDVQA_CHECK(!prompt.empty(), "--prompt: empty prompt");
  std::vector<int32_t> ids;
  if (chat) {
    ChatOptions options;
    options.add_generation_prompt = true;
    ids = apply_llama3_chat(tokenizer, {{"user", prompt}}, options).ids;
  } else {
    if (auto bos = tokenizer.bos_id()) ids.push_back(*bos);
    auto text = tokenizer.encode(prompt, Specials::kParse);
    ids.insert(ids.end(), text.begin(), text.end());
  }
  return {ids.begin(), ids.end()};
}

// The generated ids as text, without the stop token that ended them.
std::string text_of(const Tokenizer& tokenizer, std::vector<int64_t> ids, const std::vector<int64_t>& eos_ids) {
  if (!ids.empty() && std::find(eos_ids.begin(), eos_ids.end(), ids.back()) != eos_ids.end()) ids.pop_back();
  return tokenizer.decode({ids.begin(), ids.end()});
}

void dump_logits(Llama& model, const std::vector<int64_t>& prompt, const std::string& path) {
  c10::InferenceMode inference;
  LlamaInput in;
  in.input_ids = torch::tensor(prompt, torch::kInt64).unsqueeze(0).to(model->model->embed_tokens->weight.device());
  auto logits = model->forward(in).squeeze(0).to(torch::kCPU, torch::kFloat);  // [T, vocab]
  write_safetensors(path, {{"logits", logits}});
}

void run_generate(const GenerateArgs& a) {
  MEDVQA_CHECK(a.prompts.empty() != a.ids.empty(), "give either --prompt or --ids (one or more of the same kind)");
  MEDVQA_CHECK(!a.chat || !a.prompts.empty(), "--chat applies to --prompt");
  MEDVQA_CHECK(a.padding == "left" || a.padding == "right", "--padding must be left or right, got ", a.padding);
  set_threads(a.threads);
  const c10::Device device = parse_device(a.device);
  const c10::ScalarType dtype = parse_dtype(a.dtype, device);

  std::unique_ptr<Tokenizer> tokenizer = find_tokenizer(a);
  std::vector<std::vector<int64_t>> prompts;
  for (const auto& p : a.prompts) prompts.push_back(encode_prompt(*tokenizer, p, a.chat));
  for (const auto& ids : a.ids) prompts.push_back(parse_ids(ids));
  MEDVQA_CHECK(a.dump_logits.empty() || prompts.size() == 1, "--dump-logits needs a single prompt, got ", prompts.size());

  auto start = std::chrono::steady_clock::now();
  LoadedLlama loaded = load_llama(a.model, device, dtype);
  if (!a.adapter.empty()) attach_peft_adapter(*loaded.model, a.adapter);
  const double load_seconds = seconds_since(start);
  const int64_t vocab = loaded.model->options().vocab_size;
  for (size_t b = 0; b < prompts.size(); ++b)
    for (size_t i = 0; i < prompts[b].size(); ++i)
      MEDVQA_CHECK(prompts[b][i] >= 0 && prompts[b][i] < vocab, "prompt ", b, ": id ", prompts[b][i], " at position ",
                   i, " is outside the model's vocabulary [0, ", vocab, ")");
  if (!a.dump_logits.empty()) dump_logits(loaded.model, prompts[0], a.dump_logits);

  GenerationOptions options;
  options.max_new_tokens = a.max_new_tokens;
  options.sampling.greedy = a.greedy || !(a.temperature || a.top_p || a.top_k);
  options.sampling.temperature = a.temperature.value_or(1.0);
  options.sampling.top_p = a.top_p.value_or(1.0);
  options.sampling.top_k = a.top_k.value_or(0);
  options.sampling.seed = a.seed;
  options.padding = a.padding == "left" ? PaddingSide::kLeft : PaddingSide::kRight;
  if (!a.ignore_eos) {
    options.eos_ids = loaded.eos_ids;
    if (tokenizer)
      for (int32_t id : tokenizer->stop_ids())
        if (std::find(options.eos_ids.begin(), options.eos_ids.end(), id) == options.eos_ids.end())
          options.eos_ids.push_back(id);
  }

  // Without --json a single prompt streams; a batch prints one line per prompt at the end.
  std::unique_ptr<StreamDecoder> stream;
  TokenCallback on_token;
  if (!a.json && prompts.size() == 1) {
    if (tokenizer) stream = std::make_unique<StreamDecoder>(*tokenizer);
    on_token = [&](size_t, int64_t id) {
      if (std::find(options.eos_ids.begin(), options.eos_ids.end(), id) != options.eos_ids.end()) return;
      const std::string piece = stream ? stream->push(static_cast<int32_t>(id)) : std::to_string(id) + " ";
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    };
  }
  if (a.warmup) {
    // First touches of memory-mapped weights and kernel set-up stay out of the timed run.
    GenerationOptions once = options;
    once.max_new_tokens = std::min<int64_t>(options.max_new_tokens, 2);
    generate(loaded.model, prompts, once);
  }
  GenerationResult result = generate(loaded.model, prompts, options, on_token);

  if (!a.json) {
    if (stream) std::cout << stream->flush();
    if (prompts.size() > 1) {
      for (const auto& ids : result.ids) {
        if (tokenizer) {
          std::cout << text_of(*tokenizer, ids, options.eos_ids) << "\n";
        } else {
          for (int64_t id : ids) std::cout << id << " ";
          std::cout << "\n";
        }
      }
    } else {
      std::cout << "\n";
    }
    return;
  }
  nlohmann::json ids = nlohmann::json::array(), texts = nlohmann::json::array();
  for (const auto& row : result.ids) {
    ids.push_back(row);
    texts.push_back(tokenizer ? nlohmann::json(text_of(*tokenizer, row, options.eos_ids)) : nlohmann::json());
  }
  const auto& t = result.timing;
  nlohmann::json out{{"ids", prompts.size() == 1 ? ids[0] : ids},
                     {"text", prompts.size() == 1 ? texts[0] : texts},
                     {"timing",
                      {{"load_seconds", load_seconds},
                       {"batch", prompts.size()},
                       {"threads", at::get_num_threads()},
                       {"dtype", dtype_name(dtype)},
                       {"prefill_tokens", t.prefill_tokens},
                       {"prefill_seconds", t.prefill_seconds},
                       {"decode_tokens", t.decode_tokens},
                       {"decode_seconds", t.decode_seconds}}}};
  // A token sequence may stop inside a UTF-8 character: such bytes print as U+FFFD.
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

void add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a LLaMA model (HF or Meta directory)");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("--model", a->model, "model directory (config.json + safetensors, or params.json + consolidated.00.pth)")
      ->required();
  cmd->add_option("--adapter", a->adapter, "PEFT adapter directory (LoRA, trainable token rows) applied to the model");
  cmd->add_option("--prompt", a->prompts, "prompt text (repeat for a batch)");
  cmd->add_option("--ids", a->ids, "prompt token ids, comma-separated (repeat for a batch)");
  cmd->add_flag("--chat", a->chat, "wrap the prompt in the LLaMA-3 chat template as a user turn");
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "tokens to generate at most (default 128)")
      ->check(CLI::NonNegativeNumber);
  auto* greedy = cmd->add_flag("--greedy", a->greedy, "argmax decoding (the default when no sampling option is given)");
  cmd->add_option("--temperature", a->temperature, "sampling temperature")->excludes(greedy);
  cmd->add_option("--top-p", a->top_p, "nucleus sampling mass")->excludes(greedy);
  cmd->add_option("--top-k", a->top_k, "sample among the k most likely tokens")->excludes(greedy);
  cmd->add_option("--seed", a->seed, "sampling seed (default 0)");
  cmd->add_option("--dtype", a->dtype, "auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 or fp16");
  cmd->add_option("--device", a->device, "auto, cpu, cuda or cuda:N");
  cmd->add_option("--threads", a->threads, "intra-op CPU threads (default: all cores)");
  cmd->add_flag("--json", a->json, "print one JSON object {ids, text, timing} at the end");
  cmd->add_option("--dump-logits", a->dump_logits, "write the prompt's logits [T, vocab] fp32 to this safetensors file");
  cmd->add_option("--tokenizer", a->tokenizer, "tokenizer file or directory (default: the model directory's)");
  cmd->add_option("--padding", a->padding, "padding side of a batch: left (default) or right");
  cmd->add_flag("--ignore-eos", a->ignore_eos, "always generate --max-new-tokens tokens (benchmarks)");
  cmd->add_flag("--warmup", a->warmup, "run the prompts once untimed before the timed run (benchmarks)");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace medvqa::cli
