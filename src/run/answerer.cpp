#include "medvqa/run/answerer.h"

#include <algorithm>

#include "medvqa/run/model_tokenizer.h"
#include "medvqa/text/utf8.h"

namespace medvqa {

Answerer::Answerer(const Config& config) : config_(config) {
  tokenizer_ = load_model_tokenizer(config.model);
  built_ = build_model(config.model);
  built_.model->eval();
  stop_ids_ = built_.eos_ids;
  for (int32_t id : tokenizer_->stop_ids())
    if (!is_stop(id)) stop_ids_.push_back(id);
  prompt_ = medvqa::prompt_options(config, built_.model->image_tokens());
}

Sample Answerer::prompt(const std::string& question, const std::vector<std::string>& options,
                        const std::string& source) const {
  VqaItem item;
  item.question = question;
  item.options = options;
  item.source = source;
  return build_sample(*tokenizer_, item, prompt_, false);
}

at::Tensor Answerer::image_features(const at::Tensor& pixels, bool blind) {
  torch::NoGradGuard no_grad;
  return built_.model->image_features(pixels.to(built_.device), blind);
}

GenerationResult Answerer::generate(const std::vector<std::vector<int64_t>>& prompts, const at::Tensor& features,
                                    int64_t max_new_tokens, const TokenCallback& on_token) {
  torch::NoGradGuard no_grad;
  GenerationOptions options;
  options.max_new_tokens = max_new_tokens;
  options.eos_ids = stop_ids_;
  options.pad_id = config_.model.pad_token_id;
  VqaModel& model = built_.model;
  // Checked on the host, before anything reaches the device (embed_features does not check).
  for (const auto& p : prompts) model->check_placeholders(torch::tensor(p, torch::kInt64).unsqueeze(0));
  options.prefill_embed = [&](const at::Tensor& ids) { return model->embed_features(ids, features); };
  return medvqa::generate(model->llm, prompts, options, on_token);
}

at::Tensor Answerer::prompt_embeds(const std::vector<int64_t>& prompt, const at::Tensor& features) {
  torch::NoGradGuard no_grad;
  const at::Tensor ids = torch::tensor(prompt, torch::kInt64).unsqueeze(0);
  built_.model->check_placeholders(ids);  // on the host, before anything reaches the device
  return built_.model->embed_features(ids.to(built_.device), features);
}

DecodeBatch Answerer::decode_batch(int64_t max_batch, int64_t capacity) {
  return DecodeBatch(built_.model->llm, max_batch, capacity);
}

std::string Answerer::text(std::vector<int64_t> ids) const {
  while (!ids.empty() && is_stop(ids.back())) ids.pop_back();
  return replace_invalid_utf8(tokenizer_->decode(std::vector<int32_t>(ids.begin(), ids.end())));
}

bool Answerer::is_stop(int64_t id) const { return std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end(); }

}  // namespace medvqa
