// medvqa ask --model RUN_OR_BUNDLE_DIR (--image IMG --question Q | --input FILE.jsonl [--batch-size N])
// [--max-new-tokens N] [--json] [--threads N] [--device D] [--dtype D]: a trained model answers
// questions about images. One question streams its answer (or prints one JSON object with
// timings); --input prints one JSON line per input line, in input order.
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <iostream>

#include "medvqa/cli/commands.h"
#include "medvqa/config/model_dir.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/data/dataset_reader.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/run/answerer.h"
#include "medvqa/text/stream_decoder.h"
#include "medvqa/text/utf8.h"
#include "medvqa/vision/preprocess_files.h"

namespace medvqa::cli {

namespace {

using json = nlohmann::ordered_json;

struct AskArgs {
  std::string model;
  std::string image;
  std::string question;
  std::vector<std::string> options;
  std::string input;
  int64_t batch_size = 8;
  int64_t max_new_tokens = 64;
  bool json = false;
  int threads = 0;
  std::string device;
  std::string dtype;
};


// The model directory's config with the command line's run-time settings on top.
Config model_config(const AskArgs& a) {
  Config config = load_model_dir(a.model);
  if (!a.device.empty()) config.model.device = a.device;
  if (!a.dtype.empty()) config.model.dtype = a.dtype;
  config.model.threads = a.threads;
  set_threads(a.threads);
  return config;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

void ask_one(const AskArgs& a) {
  auto start = Clock::now();
  Config config = model_config(a);
  double load_s = seconds_since(start);
  // The image before the weights: an unreadable file fails at once.
  start = Clock::now();
  at::Tensor pixels = stack_pixels({vision::preprocess_file(a.image, image_options(config))});
  const double preprocess_s = seconds_since(start);
  start = Clock::now();
  Answerer answerer(config);
  load_s += seconds_since(start);
  const std::vector<int64_t> prompt = answerer.prompt(a.question, a.options, "--question").ids;

  StreamDecoder stream(answerer.tokenizer());
  double first_token_s = 0;
  start = Clock::now();
  GenerationResult r = answerer.generate({prompt}, answerer.image_features(pixels), a.max_new_tokens, [&](size_t, int64_t id) {
    if (first_token_s == 0) first_token_s = seconds_since(start);
    if (a.json || answerer.is_stop(id)) return;
    const std::string piece = replace_invalid_utf8(stream.push(static_cast<int32_t>(id)));
    std::fwrite(piece.data(), 1, piece.size(), stdout);
    std::fflush(stdout);
  });
  if (!a.json) {
    std::cout << replace_invalid_utf8(stream.flush()) << "\n";
    return;
  }
  const GenerationTiming& t = r.timing;
  json timing{{"load_s", load_s}, {"preprocess_s", preprocess_s}, {"first_token_s", first_token_s}};
  // Decode steps only: the first token's cost is first_token_s (vision tower + prefill).
  timing["tokens_per_s"] = t.decode_tokens > 0 ? json(static_cast<double>(t.decode_tokens) / t.decode_seconds) : json();
  std::cout << dump(json{{"answer", answerer.text(r.ids[0])}, {"ids", r.ids[0]}, {"timing", timing}}) << "\n";
}

struct InputLine {
  json fields;  // the line as given, echoed in the output
  VqaItem item;  // image resolved against the input file's folder; options listed in the closed form
};

// Every line of the file (the dataset's JSONL items, the answer optional), or one Error listing
// every bad line by number.
std::vector<InputLine> read_input(const std::string& path) {
  std::vector<InputLine> lines;
  Problems problems;
  for_each_json_line(
      path,
      [&](const JsonObject& line, size_t number) {
        VqaItem item = read_jsonl_item(line, number, path, Presence::kOptional);
        check_image(item);
        lines.push_back({line.value(), std::move(item)});
      },
      [&](const Error& e) { problems.add(e.what()); });
  problems.throw_if_any("--input " + path + ": bad lines");
  MEDVQA_CHECK(!lines.empty(), "--input ", path, ": no questions (expected JSON lines {\"image\": PATH, \"question\": TEXT})");
  return lines;
}

void ask_many(const AskArgs& a) {
  const std::vector<InputLine> lines = read_input(a.input);
  Config config = model_config(a);
  Answerer answerer(config);
  const vision::PreprocessOptions pre = image_options(config);
  const size_t n = lines.size(), step = static_cast<size_t>(a.batch_size);
  for (size_t begin = 0; begin < n; begin += step) {
    const size_t end = std::min(n, begin + step);
    std::vector<std::vector<int64_t>> prompts;
    std::vector<std::string> images;
    for (size_t i = begin; i < end; ++i) {
      const VqaItem& item = lines[i].item;
      prompts.push_back(answerer.prompt(item.question, item.options, item.source).ids);
      images.push_back(item.image);
    }
    at::Tensor pixels = stack_pixels(vision::preprocess_files(images, pre, a.threads));
    GenerationResult r = answerer.generate(prompts, answerer.image_features(pixels), a.max_new_tokens);
    for (size_t i = begin; i < end; ++i) {
      json out = lines[i].fields;
      out["answer"] = answerer.text(r.ids[i - begin]);
      out["ids"] = r.ids[i - begin];
      std::cout << dump(out) << "\n";
    }
    std::cout.flush();
  }
}

void run_ask(const AskArgs& a) {
  if (a.input.empty()) {
    MEDVQA_CHECK(!a.image.empty() && !a.question.empty(), "give --image and --question, or --input FILE.jsonl");
    ask_one(a);
  } else {
    MEDVQA_CHECK(a.image.empty() && a.question.empty() && a.options.empty(),
                 "--input replaces --image, --question and --option; give one or the other");
    ask_many(a);
  }
}

}  // namespace

void add_ask(CLI::App& app) {
  auto* cmd = app.add_subcommand("ask", "Answer a question about an image with a trained model (run or bundle directory)");
  auto a = std::make_shared<AskArgs>();
  cmd->add_option("--model", a->model, "run directory (its final/), a run's final/, or an `export --bundle` directory")
      ->required();
  cmd->add_option("--image", a->image, "image file: PNG, JPEG, BMP, TIFF or DICOM");
  cmd->add_option("--question", a->question, "the question");
  cmd->add_option("--option", a->options,
                  "a candidate answer, repeated for each (listed in the prompt when the model trained with "
                  "data.question_form=closed)");
  cmd->add_option("--input", a->input,
                  "JSON lines {\"image\", \"question\", ...}; image paths relative to the file; prints each line with "
                  "\"answer\" and \"ids\" added, in input order");
  cmd->add_option("--batch-size", a->batch_size, "questions answered together with --input (default 8)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-new-tokens", a->max_new_tokens, "answer length cap in tokens (default 64)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", a->json, "print {answer, ids, timing} at the end instead of streaming the answer");
  cmd->add_option("--threads", a->threads, "intra-op CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", a->device, "auto, cpu, cuda or cuda:N (default: the model's config)");
  cmd->add_option("--dtype", a->dtype, "auto, fp32, bf16 or fp16 (default: the model's config)");
  cmd->callback([a] { run_ask(*a); });
}

}  // namespace medvqa::cli
