#include "medvqa/eval/prefix_score.h"

#include "medvqa/core/error.h"

namespace medvqa {

std::string prefix_prompt(const std::string& question) { return "Question: " + question + " The answer is"; }

std::vector<PrefixSequence> prefix_sequences(const Tokenizer& tokenizer, const std::string& question,
                                             const std::vector<std::string>& options, int64_t image_token_id,
                                             int64_t image_tokens, size_t image) {
  const std::string prompt = prefix_prompt(question);
  std::vector<int64_t> head;
  // HF's LLaMA tokenizer (the script's) opens with bos; the image features follow it, as they do
  // in our chat prompt.
  if (auto bos = tokenizer.bos_id()) head.push_back(*bos);
  head.insert(head.end(), static_cast<size_t>(image_tokens), image_token_id);
  const size_t prompt_tokens = tokenizer.encode(prompt, Specials::kPlain).size();
  std::vector<PrefixSequence> out;
  for (const std::string& option : options) {
    std::vector<int32_t> text = tokenizer.encode(prompt + " " + option + ".", Specials::kPlain);
    MEDVQA_CHECK(text.size() > prompt_tokens, "prefix score: option \"", option, "\" adds no tokens to \"", prompt, "\"");
    PrefixSequence s;
    s.ids = head;
    s.ids.insert(s.ids.end(), text.begin(), text.end());
    s.option_begin = head.size() + prompt_tokens;
    s.image = image;
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<double> option_losses(VqaModel& model, const std::vector<PrefixSequence>& sequences,
                                  const at::Tensor& features, int64_t pad_id, int64_t batch_size) {
  torch::NoGradGuard no_grad;
  const auto device = model->llm->model->embed_tokens->weight.device();
  std::vector<double> losses;
  for (size_t start = 0; start < sequences.size(); start += static_cast<size_t>(batch_size)) {
    const size_t end = std::min(sequences.size(), start + static_cast<size_t>(batch_size));
    const auto B = static_cast<int64_t>(end - start);
    int64_t T = 0;
    for (size_t i = start; i < end; ++i) T = std::max<int64_t>(T, static_cast<int64_t>(sequences[i].ids.size()));
    at::Tensor ids = torch::full({B, T}, pad_id, torch::kInt64);
    at::Tensor valid = torch::zeros({B, T}, torch::kBool);
    // target[b, t] = the token position t predicts when it is an option token, else -100.
    at::Tensor target = torch::full({B, T}, int64_t{-100}, torch::kInt64);
    std::vector<int64_t> rows;
    for (int64_t b = 0; b < B; ++b) {
      const PrefixSequence& s = sequences[start + static_cast<size_t>(b)];
      const auto n = static_cast<int64_t>(s.ids.size());
      ids[b].narrow(0, 0, n).copy_(torch::tensor(s.ids, torch::kInt64));
      valid[b].narrow(0, 0, n).fill_(true);
      const auto begin = static_cast<int64_t>(s.option_begin);
      target[b].narrow(0, begin - 1, n - begin).copy_(ids[b].narrow(0, begin, n - begin));
      rows.push_back(static_cast<int64_t>(s.image));
    }
    LlamaInput in;
    if (features.defined()) model->check_placeholders(ids);  // on the host
    ids = ids.to(device);
    if (features.defined()) {
      at::Tensor rows_t = torch::tensor(rows, torch::kInt64).to(features.device());
      in.inputs_embeds = model->embed_features(ids, features.index_select(0, rows_t));  // [B, T, hidden]
    } else {
      in.inputs_embeds = model->llm->embed(ids);
    }
    if (!valid.all().item<bool>()) in.attention_mask = valid.to(device);
    at::Tensor flat_target = target.flatten();
    at::Tensor at = (flat_target != -100).nonzero().squeeze(1);  // flat positions in [B * T]
    in.logits_at = at.to(device);
    at::Tensor logits = model->llm->forward(in).to(torch::kFloat).cpu();  // [N, vocab]
    at::Tensor token_loss = torch::nn::functional::cross_entropy(
        logits, flat_target.index_select(0, at), torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    at::Tensor row_of = at.div(T, "floor");
    at::Tensor sums = torch::zeros({B}, torch::kDouble).index_add_(0, row_of, token_loss.to(torch::kDouble));
    at::Tensor counts = torch::zeros({B}, torch::kDouble).index_add_(0, row_of, torch::ones_like(row_of, torch::kDouble));
    at::Tensor mean = sums / counts;
    for (int64_t b = 0; b < B; ++b) losses.push_back(mean[b].item<double>());
  }
  return losses;
}

int prefix_choice(const std::vector<double>& losses) {
  int best = -1;
  for (size_t i = 0; i < losses.size(); ++i)
    if (best < 0 || losses[i] < losses[static_cast<size_t>(best)]) best = static_cast<int>(i);
  return best;
}

}  // namespace medvqa
