#include "medvqa/data/dataset.h"

#include <filesystem>

#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/data/dataset_reader.h"
#include "medvqa/data/split.h"

namespace medvqa {

namespace fs = std::filesystem;

std::vector<VqaItem> load_items(const DataConfig& config, const std::string& split) {
  MEDVQA_CHECK(!config.root.empty(), "data.root: not set (an OmniMedVQA root or a JSONL file)");
  ReadOptions read;
  read.skip_bad = config.bad_items == "skip";
  read.max_skip_fraction = config.max_skip_fraction;
  std::vector<VqaItem> items;
  if (config.format == "jsonl") {
    items = read_jsonl_items(config.root, read);
  } else {
    items = read_omnimedvqa(config.root, read);
    std::string manifest_path = config.manifest.empty() ? (fs::path(config.root) / "split_manifest.json").string() : config.manifest;
    SplitManifest manifest;
    if (fs::exists(manifest_path)) {
      manifest = read_manifest(manifest_path);
    } else {
      manifest = make_split(items, {config.split[0], config.split[1], config.split[2]}, static_cast<uint64_t>(config.split_seed));
      write_manifest(manifest_path, manifest);
      log_info("data: wrote split manifest ", manifest_path, " (train ", manifest.ids["train"].size(), ", val ",
               manifest.ids["val"].size(), ", test ", manifest.ids["test"].size(), " questions)");
    }
    items = select_split(items, manifest, split);
  }
  items = filter_items(items, config.modalities, config.question_types, config.datasets);
  MEDVQA_CHECK(!items.empty(), config.root, ": no items in the ", split, " split after the filters");
  return items;
}

std::vector<Sample> build_samples(const Tokenizer& tokenizer, const std::vector<VqaItem>& items, const PromptOptions& options,
                                  const DataConfig& config, bool with_answer, std::vector<VqaItem>& kept) {
  std::vector<Sample> samples;
  Problems bad;
  kept.clear();
  size_t truncated = 0;
  for (const auto& item : items) {
    try {
      samples.push_back(build_sample(tokenizer, item, options, with_answer));
      kept.push_back(item);
      if (samples.back().truncated && truncated++ == 0)
        log_warn("data: ", item.source, ": question cut to fit data.max_seq_len=", options.max_seq_len,
                 " (its options and answer are kept)");
    } catch (const Error& e) {
      bad.add(e.what());
    }
  }
  if (truncated > 0)
    log_warn("data: ", truncated, " of ", samples.size(), " items had their question cut to fit data.max_seq_len=",
             options.max_seq_len);
  if (bad.empty()) return samples;
  double fraction = static_cast<double>(bad.items().size()) / static_cast<double>(items.size());
  if (config.bad_items != "skip" || fraction > config.max_skip_fraction)
    bad.throw_if_any("data: items that cannot be tokenised (data.bad_items=" + config.bad_items + ")");
  log_warn("data: skipped ", bad.items().size(), " items that cannot be tokenised, the first: ", bad.items()[0]);
  return samples;
}

PromptOptions prompt_options(const Config& config, int64_t image_tokens) {
  return {config.model.image_token_id, image_tokens, config.data.question_form, config.data.max_seq_len};
}

vision::PreprocessOptions image_options(const Config& config) {
  vision::PreprocessOptions options = vision::read_preprocess_options(config.model.vision);
  options.resize_mode = vision::parse_resize_mode(config.data.image_mode);
  return options;
}

}  // namespace medvqa
