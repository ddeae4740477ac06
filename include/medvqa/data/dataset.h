// A config's data, ready to use: the items of one split after reading (OmniMedVQA or JSONL), the
// split manifest (created beside the config's path when missing, reused after) and the filters.
// Also turning items into token samples under the bad-item policy, and the prompt and image
// settings a config gives them (shared by train, eval, ask and grad-check).
#pragma once

#include <string>
#include <vector>

#include "medvqa/config/config.h"
#include "medvqa/data/prompt.h"
#include "medvqa/data/vqa_item.h"
#include "medvqa/vision/transform.h"

namespace medvqa {

// split: train | val | test | all. JSONL data has no manifest: "all" of it is every split.
std::vector<VqaItem> load_items(const DataConfig& config, const std::string& split);
// Samples of `items`; items that cannot be tokenised are dropped (data.bad_items=skip, within
// data.max_skip_fraction) or fail the run, listed by item. `kept` receives the surviving items.
// Items whose question was cut to fit data.max_seq_len are counted in a warning (Sample::truncated).
std::vector<Sample> build_samples(const Tokenizer& tokenizer, const std::vector<VqaItem>& items, const PromptOptions& options,
                                  const DataConfig& config, bool with_answer, std::vector<VqaItem>& kept);
// The prompt layout of a config for a model with `image_tokens` placeholder positions.
PromptOptions prompt_options(const Config& config, int64_t image_tokens);
// The image transform of a config: the vision tower's preprocess_cfg and data.image_mode.
vision::PreprocessOptions image_options(const Config& config);

}  // namespace medvqa
