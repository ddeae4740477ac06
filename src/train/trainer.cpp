#include "medvqa/train/trainer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <optional>

#include "medvqa/config/loader.h"
#include "medvqa/core/autocast.h"
#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/core/progress.h"
#include "medvqa/data/dataset.h"
#include "medvqa/data/loader.h"
#include "medvqa/dist/grad_buckets.h"
#include "medvqa/dist/rank.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/models/registry.h"
#include "medvqa/text/tokenizer.h"
#include "medvqa/train/checkpoint.h"
#include "medvqa/train/grad_norm.h"
#include "medvqa/train/schedule.h"
#include "medvqa/vision/figure.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using vision::Curve;

std::atomic<int> g_stop_signal{0};
extern "C" void on_stop_signal(int sig) { g_stop_signal = sig; }

struct Data {
  std::unique_ptr<DataLoader> loader;
  size_t items = 0, truncated = 0;  // truncated: items whose question was cut to fit data.max_seq_len
};

Data make_loader(const Config& config, const Tokenizer& tokenizer, const PromptOptions& prompt, const std::string& split,
                 bool shuffle, int64_t batch_size, const ProcessGroup* pg) {
  std::vector<VqaItem> kept;
  auto samples = build_samples(tokenizer, load_items(config.data, split), prompt, config.data, true, kept);
  std::vector<std::string> images;
  for (const auto& item : kept) images.push_back(item.image);
  LoaderOptions lo;
  lo.batch_size = std::min<int64_t>(batch_size, static_cast<int64_t>(samples.size()));
  lo.shuffle = shuffle;
  lo.seed = static_cast<uint64_t>(config.train.seed);
  if (pg) {
    lo.rank = pg->rank();
    lo.world_size = pg->world_size();
  }
  lo.workers = static_cast<int>(config.data.workers);
  lo.pad_id = config.model.pad_token_id;
  lo.preprocess = image_options(config);
  Data d;
  d.items = samples.size();
  for (const auto& s : samples) d.truncated += s.truncated ? 1 : 0;
  d.loader = std::make_unique<DataLoader>(std::move(samples), std::move(images), lo);
  return d;
}

// Mean token loss over one pass of the loader, without gradients.
double validation_loss(VqaModel& model, DataLoader& loader, const c10::Device& device, bool autocast) {
  torch::NoGradGuard no_grad;
  bool was_training = model->is_training();
  model->eval();
  loader.set_position({0, 0});
  at::Tensor sum = torch::zeros({}, torch::TensorOptions().dtype(torch::kDouble).device(device));
  int64_t tokens = 0;
  for (int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
    Batch b = loader.next();
    if (b.indices.empty()) continue;
    AutocastGuard guard(device.type(), autocast, c10::kBFloat16);
    LossSum l = model->loss(model->loss_batch(b.input_ids, b.attention_mask, b.labels, b.pixels, device));
    sum = sum + l.sum.to(torch::kDouble);
    tokens += l.tokens;
  }
  model->train(was_training);
  model->vision->eval();
  return sum.item<double>() / static_cast<double>(std::max<int64_t>(1, tokens));
}

// metrics.jsonl lines up to `step` (a resumed run drops what the interrupted one wrote after its
// checkpoint) and the curves they hold.
void reload_metrics(const std::string& path, int64_t step, Curve& train, Curve& val) {
  std::ifstream in(path);
  std::string kept, line;
  while (std::getline(in, line)) {
    json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || j.value("step", int64_t(0)) > step) continue;
    if (j.contains("loss")) train.emplace_back(j["step"].get<double>(), j["loss"].get<double>());
    if (j.contains("val_loss")) val.emplace_back(j["step"].get<double>(), j["val_loss"].get<double>());
    kept += line + "\n";
  }
  write_file_atomic(path, kept);
}

// Ranks > 0 draw dropout masks from their own stream (rank 0 keeps the single-process one).
void seed_rank(int64_t seed, int rank, int64_t step) {
  if (rank > 0) torch::manual_seed(static_cast<uint64_t>(seed) * 1000003 + static_cast<uint64_t>(rank) * 7919 + static_cast<uint64_t>(step));
}

}  // namespace

TrainSummary train(const Config& user_config) {
  // The process group comes first: it decides the device of this rank and who logs.
  Config config = user_config;
  const TrainConfig& tc = config.train;
  RankContext rank = start_rank(config.model.device, config.model.threads, std::chrono::seconds(tc.dist_timeout_s));
  config.model.device = rank.plan.device;
  ProcessGroup& pg = *rank.pg;
  const bool rank0 = pg.rank() == 0;
  torch::manual_seed(static_cast<uint64_t>(tc.seed));
  if (rank0) {
    fs::create_directories(tc.out_dir);
    write_file_atomic((fs::path(tc.out_dir) / "config.yaml").string(), to_yaml(config));
  }

  auto tokenizer = load_model_tokenizer(config.model);
  // Mixed precision: the trainable weights (so AdamW's states) are fp32 masters, built and loaded
  // in fp32; the frozen towers keep model.dtype and forward + loss run under bf16 autocast.
  const bool autocast = tc.autocast == "bf16" || (tc.autocast == "auto" && parse_device(config.model.device).is_cuda());
  BuiltModel built = build_model(config.model, tc.stage, autocast ? std::optional(c10::kFloat) : std::nullopt);
  VqaModel model = built.model;
  const PromptOptions prompt = prompt_options(config, model->image_tokens());
  Data train_data = make_loader(config, *tokenizer, prompt, "train", true, tc.batch_size, &pg);
  Data val_data;  // the validation loss is rank 0's job
  if (rank0 && config.data.format == "omnimedvqa" && config.data.split[1] > 0)
    val_data = make_loader(config, *tokenizer, prompt, "val", false, tc.batch_size, nullptr);
  DataLoader& loader = *train_data.loader;
  // Stage 2 trains the projector at its own (lower) rate: two parameter groups.
  std::vector<at::Tensor> projector_params, other_params;
  auto trainable = trainable_parameters(model);
  std::vector<at::Tensor> params;
  for (const auto& [name, p] : trainable) params.push_back(p);
  broadcast_parameters(pg, params);
  seed_rank(tc.seed, pg.rank(), 0);
  GradBuckets grad_sync(pg, params, tc.dist_bucket_mb);
  for (const auto& [name, p] : trainable) (name.rfind("projector.", 0) == 0 ? projector_params : other_params).push_back(p);
  double projector_lr = tc.stage == "lora" ? tc.projector_lr : tc.lr;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(projector_params, std::make_unique<torch::optim::AdamWOptions>(projector_lr));
  if (!other_params.empty()) groups.emplace_back(other_params, std::make_unique<torch::optim::AdamWOptions>(tc.lr));
  for (auto& g : groups) static_cast<torch::optim::AdamWOptions&>(g.options()).weight_decay(tc.weight_decay);
  torch::optim::AdamW optimizer(std::move(groups));
  std::vector<double> peak_lr{projector_lr, tc.lr};
  Checkpointable ckpt{trainable, &optimizer};

  std::string metrics_path = (fs::path(tc.out_dir) / "metrics.jsonl").string();
  Curve train_curve, val_curve;
  TrainState state;
  std::string resume = tc.resume.empty() ? "" : resolve_checkpoint(tc.resume, tc.out_dir);
  if (!resume.empty()) {
    state = load_checkpoint(resume, ckpt, pg.rank(), built.device);
    auto restored = [&](const char* kind) {
      return std::find(state.rng_restored.begin(), state.rng_restored.end(), kind) != state.rng_restored.end();
    };
    if (!restored("cpu")) seed_rank(tc.seed, pg.rank(), state.step);  // the writer had fewer ranks
    if (built.device.is_cuda() && !restored("cuda"))
      log_warn("train: ", resume, " holds no CUDA generator state for rank ", pg.rank(),
               " (written on another device or world size): dropout masks on the GPU do not continue the saved stream");
    loader.set_position(state.data);
    log_info("train: resumed from ", resume, " at step ", state.step, " (epoch ", state.data.epoch, ", sample ",
             state.data.sample, ")");
  }
  // With epochs deciding, the run ends where the data does, whatever the world size was so far.
  int64_t total = tc.max_steps > 0 ? tc.max_steps : state.step + loader.batches_before_epoch(tc.epochs) / tc.grad_accum;
  MEDVQA_CHECK(total > 0, "train: no optimizer step fits: ", loader.batches_per_epoch(), " batches per epoch, grad_accum ",
               tc.grad_accum);
  std::ofstream metrics;
  if (rank0) {
    reload_metrics(metrics_path, resume.empty() ? -1 : state.step, train_curve, val_curve);
    metrics.open(metrics_path, std::ios::app);
    if (resume.empty())
      metrics << json{{"step", 0}, {"train_items", train_data.items}, {"truncated_items", train_data.truncated}}.dump()
              << "\n" << std::flush;
  }

  int64_t n_params = 0;
  for (const auto& [name, p] : trainable) n_params += p.numel();
  log_info("train: stage ", tc.stage, ", ", train_data.items, " training items, ", total, " steps of ",
           tc.batch_size * tc.grad_accum * pg.world_size(), " samples (", pg.world_size(), " ranks), ", n_params,
           " trainable parameters, ", grad_sync.buckets(), " gradient buckets");
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);

  model->train();
  model->vision->eval();
  auto t_start = std::chrono::steady_clock::now();
  int64_t samples_seen = 0, tokens_seen = 0;
  std::optional<Progress> progress;  // rank 0's
  if (rank0) progress.emplace("train: stage " + tc.stage, total, "steps", state.step);
  TrainSummary summary;
  summary.run_dir = tc.out_dir;
  const c10::Device device = built.device;
  // Inside a step nothing waits for the device: each step's loss sum stays there until a step
  // that reads (logging, validation, checkpoint, the end) reads the window at once; the gradient
  // norm, identical on every rank after the all-reduce, marks the first non-finite step there too.
  std::vector<at::Tensor> window_losses;  // per step since the last read: summed loss of this rank [1]
  std::vector<double> window_tokens;      // per step: the global label-token count
  double window_samples = 0, window_seq_tokens = 0;
  at::Tensor grad_norm_t, first_bad = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(device));
  double loss = std::nan(""), grad_norm = std::nan("");
  while (state.step < total) {
    for (size_t g = 0; g < optimizer.param_groups().size(); ++g)
      optimizer.param_groups()[g].options().set_lr(peak_lr[g] * lr_factor(state.step, total, tc.warmup_ratio));
    // The loss of the step is divided by the label tokens of all its micro-batches on all ranks.
    double local_tokens = 0;
    for (int64_t k = 0; k < tc.grad_accum; ++k) local_tokens += static_cast<double>(loader.label_tokens_ahead(k));
    const double step_tokens = std::max(1.0, pg.sum_values({local_tokens})[0]);
    at::Tensor step_loss = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(device));
    for (int64_t k = 0; k < tc.grad_accum; ++k) {
      Batch b = loader.next();
      if (b.indices.empty()) continue;  // this rank's slice of the epoch's last, partial global batch
      LossSum l;
      {
        LossBatch lb = model->loss_batch(b.input_ids, b.attention_mask, b.labels, b.pixels, device);
        AutocastGuard guard(device.type(), autocast, c10::kBFloat16);
        l = model->loss(lb);
      }
      // Only the step's last backward communicates: each gradient bucket starts its all-reduce in
      // it as soon as its gradients are final.
      if (k + 1 == tc.grad_accum) grad_sync.arm();
      (l.sum / step_tokens).backward();
      step_loss += l.sum.detach();
      window_samples += static_cast<double>(b.input_ids.size(0));
      window_seq_tokens += static_cast<double>(b.attention_mask.sum().item<int64_t>());  // a host tensor
    }
    grad_sync.finish();
    grad_norm_t = clip_grad_norm(params, tc.grad_clip);
    first_bad = torch::where(first_bad.eq(0).logical_and(grad_norm_t.isfinite().logical_not()), state.step + 1, first_bad);
    optimizer.step();
    optimizer.zero_grad();
    state.step += 1;
    state.data = loader.position();
    window_losses.push_back(step_loss);
    window_tokens.push_back(step_tokens);
    // A stop signal any rank received, through the host group, so that all ranks stop at this step.
    const bool any_signal = pg.sum_values({g_stop_signal.load() ? 1.0 : 0.0})[0] > 0;
    int sig = any_signal ? (g_stop_signal.load() ? g_stop_signal.load() : SIGTERM) : 0;

    const bool last = state.step == total;
    const bool log_step = state.step % tc.log_every == 0;
    const bool val_step = (tc.val_every > 0 && state.step % tc.val_every == 0) || last;
    const bool save_step = (tc.save_every > 0 && state.step % tc.save_every == 0) || last || sig;
    if (log_step || val_step || save_step) {
      // The window's losses summed over ranks in one collective of the device's backend, then read.
      std::vector<at::Tensor> sums{torch::cat(window_losses)};
      pg.all_reduce_sum(sums);
      at::Tensor host = sums[0].to(torch::kDouble).cpu();
      const int64_t bad = first_bad.item<int64_t>();
      for (size_t i = 0; i < window_losses.size(); ++i) {
        const double step_loss_value = host[static_cast<int64_t>(i)].item<double>() / window_tokens[i];
        const int64_t step = state.step - static_cast<int64_t>(window_losses.size() - 1 - i);
        if (!std::isfinite(step_loss_value) || (bad > 0 && bad <= step)) {
          const std::string good = resolve_checkpoint("auto", tc.out_dir);
          MEDVQA_FAIL("train: ", std::isfinite(step_loss_value) ? "gradient norm" : "loss", " is not finite at step ",
                      std::isfinite(step_loss_value) ? bad : step, "; stopping. ",
                      good.empty() ? "No checkpoint was written yet" : "The last good checkpoint is " + good,
                      " (lower train.lr or check the data and the weights)");
        }
        train_curve.emplace_back(static_cast<double>(step), step_loss_value);
        loss = step_loss_value;
      }
      grad_norm = grad_norm_t.item<double>();
      auto totals = pg.sum_values({window_samples, window_seq_tokens});
      samples_seen += static_cast<int64_t>(totals[0]);
      tokens_seen += static_cast<int64_t>(totals[1]);
      window_losses.clear();
      window_tokens.clear();
      window_samples = window_seq_tokens = 0;
      summary.last_loss = loss;
    }

    double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
    if (rank0 && (log_step || last)) {
      json m{{"step", state.step}, {"loss", loss}, {"lr", optimizer.param_groups().back().options().get_lr()},
             {"grad_norm", grad_norm}, {"samples_per_s", samples_seen / elapsed}, {"tokens_per_s", tokens_seen / elapsed}};
      if (pg.distributed()) m["exposed_comm_share"] = grad_sync.exposed_comm_seconds() / elapsed;
      metrics << m.dump() << "\n" << std::flush;
    }
    if (progress) {
      char note[128];
      std::snprintf(note, sizeof note, "loss %.4g, lr %.3g, grad-norm %.3g, %.3g samples/s", loss,
                    optimizer.param_groups().back().options().get_lr(), grad_norm, samples_seen / elapsed);
      progress->advance(1, note);
    }
    if (val_step) {
      if (val_data.loader) {
        summary.val_loss = validation_loss(model, *val_data.loader, device, autocast);
        val_curve.emplace_back(state.step, summary.val_loss);
        metrics << json{{"step", state.step}, {"val_loss", summary.val_loss}}.dump() << "\n" << std::flush;
        log_info("train: step ", state.step, " validation loss ", summary.val_loss);
      }
      pg.barrier();
    }
    if (save_step) {
      state.rng = gather_rng_states(pg, device);
      std::string path;
      if (rank0) {
        path = save_checkpoint(tc.out_dir, ckpt, state, tc.keep_last);
        write_file_atomic((fs::path(tc.out_dir) / "loss_curve.png").string(),
                          vision::loss_curve_png(train_curve, val_curve, "medvqa " + tc.stage + ": loss per optimizer step"));
      }
      pg.barrier();  // no rank runs ahead of (or exits before) a checkpoint that is still being written
      if (sig) {
        if (rank0) log_warn("train: signal ", sig, ": checkpoint ", path, " written; resume with train.resume=auto");
        std::exit(128 + sig);
      }
    }
  }
  check_parameters_in_sync(pg, trainable);
  if (pg.distributed()) log_info("dist: trainable weights identical on all ", pg.world_size(), " ranks");
  fs::path final_dir = fs::path(tc.out_dir) / "final";
  if (rank0) {
    fs::create_directories(final_dir);
    save_projector(model, (final_dir / "projector.safetensors").string());
    if (built.adapter.lora.r > 0) save_peft_adapter(*model->llm, built.adapter, (final_dir / "adapter").string());
    write_file_atomic((final_dir / "config.yaml").string(), to_yaml(config));
  }
  pg.barrier();
  summary.steps = state.step;
  summary.rank = pg.rank();
  if (progress) progress->finish();
  log_info("train: done, ", state.step, " steps; final weights in ", final_dir.string(), ", loss curve ",
           (fs::path(tc.out_dir) / "loss_curve.png").string());
  return summary;
}

}  // namespace medvqa
