#include "medvqa/train/trainer.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cmath>
#include <filesystem>
#include <optional>

#include "medvqa/config/loader.h"
#include "medvqa/config/run_dir.h"
#include "medvqa/core/autocast.h"
#include "medvqa/core/clock.h"
#include "medvqa/core/device.h"
#include "medvqa/core/error.h"
#include "medvqa/core/log.h"
#include "medvqa/core/progress.h"
#include "medvqa/data/dataset.h"
#include "medvqa/data/loader.h"
#include "medvqa/dist/grad_buckets.h"
#include "medvqa/dist/rank.h"
#include "medvqa/io/atomic_file.h"
#include "medvqa/io/json_reader.h"
#include "medvqa/io/metric_logger.h"
#include "medvqa/models/registry.h"
#include "medvqa/run/model_tokenizer.h"
#include "medvqa/text/tokenizer.h"
#include "medvqa/train/checkpoint.h"
#include "medvqa/train/grad_norm.h"
#include "medvqa/train/schedule.h"
#include "medvqa/plot/figure.h"

namespace medvqa {
namespace {

namespace fs = std::filesystem;
using plot::Curve;

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

// The loss curves of metrics.jsonl up to `step`: what a resumed run's picture starts from.
void load_curves(const std::string& path, int64_t step, Curve& train, Curve& val) {
  if (!fs::exists(path)) return;  // train.loggers without jsonl: the picture starts at the resumed step
  // A line that holds no metrics (one a kill cut short) adds nothing to the curves.
  for_each_json_line(
      path,
      [&](const JsonObject& line, size_t) {
        const JsonValue* at = line.find("step");
        if (!at || !at->is_number_integer() || at->get<int64_t>() > step) return;
        for (auto [key, curve] : {std::pair{"loss", &train}, std::pair{"val_loss", &val}})
          if (const JsonValue* v = line.find(key); v && v->is_number()) curve->emplace_back(at->get<double>(), v->get<double>());
      },
      [](const Error&) {});
}

const std::string& stage_name(const TrainConfig& tc) { return config::name_of(tc.stage); }
// TensorBoard tags: the metrics.jsonl keys under train/, the validation loss as val/loss.
std::string tensorboard_tag(const std::string& key) { return key == "val_loss" ? "val/loss" : "train/" + key; }

// Ranks > 0 draw dropout masks from their own stream (rank 0 keeps the single-process one).
void seed_rank(int64_t seed, int rank, int64_t step) {
  if (rank > 0) torch::manual_seed(static_cast<uint64_t>(seed) * 1000003 + static_cast<uint64_t>(rank) * 7919 + static_cast<uint64_t>(step));
}

}  // namespace

struct Trainer::Impl {
  Config config;
  RankContext rank;
  std::unique_ptr<Tokenizer> tokenizer;
  bool autocast = false;
  BuiltModel built;
  PromptOptions prompt;
  Data train_data, val_data;  // validation: rank 0's job, loaded by run()
  std::vector<std::pair<std::string, at::Tensor>> trainable;
  std::vector<at::Tensor> params;
  std::unique_ptr<GradBuckets> grad_sync;
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::vector<double> peak_lr;
  TrainState state;
  std::string resumed_from;
  int64_t total = 0;

  // The loop's record. Inside a step nothing waits for the device: each step's loss sum stays there
  // until a step that reads (logging, validation, checkpoint, the end) reads the window at once;
  // the gradient norm, identical on every rank after the all-reduce, marks the first non-finite
  // step there too.
  Curve train_curve, val_curve;
  std::unique_ptr<MetricLoggers> metrics;  // rank 0's train.loggers
  std::vector<at::Tensor> window_losses;  // per step since the last read: this rank's summed loss [1]
  std::vector<double> window_tokens;      // per step: the global label-token count
  double window_samples = 0, window_seq_tokens = 0;
  at::Tensor grad_norm_t, first_bad;
  double loss = std::nan(""), grad_norm = std::nan("");
  int64_t samples_seen = 0, tokens_seen = 0;
  std::chrono::steady_clock::time_point t_start;

  // Rank 0: the validation split, the run folder's config.yaml and the metric loggers.
  void open_run(const RunDir& run);
  // Rank 0: one metrics line of the current step.
  void log_metrics(double lr, double elapsed);
  // Rank 0: final/ (projector, adapter, config.yaml), replacing an earlier one whole.
  void write_final(const ModelDir& dir);

  ProcessGroup& pg() { return *rank.pg; }
  bool rank0() const { return rank.pg->rank() == 0; }
  const TrainConfig& tc() const { return config.train; }
  c10::Device device() const { return built.device; }
};

void Trainer::Impl::open_run(const RunDir& run) {
  if (config.data.format == "omnimedvqa" && config.data.split[1] > 0)
    val_data = make_loader(config, *tokenizer, prompt, "val", false, tc().batch_size, nullptr);
  fs::create_directories(run.root());
  write_file_atomic(run.config().string(), to_yaml(config));
  // A resumed run keeps what was logged through its checkpoint's step and drops the rest.
  MetricLoggerOptions lo;
  lo.jsonl_path = run.metrics().string();
  lo.tensorboard_dir = run.tensorboard().string();
  lo.tag = tensorboard_tag;
  lo.keep_through_step = resumed_from.empty() ? -1 : state.step;
  if (lo.keep_through_step >= 0) load_curves(lo.jsonl_path, lo.keep_through_step, train_curve, val_curve);
  metrics = make_metric_loggers(tc().loggers, lo);
  if (resumed_from.empty())
    metrics->log_dict({{"train_items", static_cast<int64_t>(train_data.items)},
                       {"truncated_items", static_cast<int64_t>(train_data.truncated)}}, 0);
}

void Trainer::Impl::log_metrics(double lr, double elapsed) {
  MetricDict line{{"loss", loss}, {"lr", lr}, {"grad_norm", grad_norm}, {"samples_per_s", samples_seen / elapsed},
                  {"tokens_per_s", tokens_seen / elapsed}};
  if (pg().distributed()) line.emplace_back("exposed_comm_share", grad_sync->exposed_comm_seconds() / elapsed);
  metrics->log_dict(line, state.step);
}

void Trainer::Impl::write_final(const ModelDir& dir) {
  replace_dir_atomic(dir.dir.string(), [&](const std::string& temp) {
    const ModelDir out{temp};
    save_projector(built.model, out.projector().string());
    if (built.adapter.lora.r > 0) save_peft_adapter(*built.model->llm, built.adapter, out.adapter().string());
    write_file_atomic(out.config().string(), to_yaml(config));
  });
}

Trainer::Trainer(const Config& user_config) : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.config = user_config;
  const TrainConfig& tc = m.config.train;
  // The process group comes first: it decides the device of this rank, its threads and who logs.
  m.rank = start_rank(m.config.model.device, m.config.model.threads, std::chrono::seconds(m.config.dist.timeout_s));
  m.config.model.device = m.rank.plan.device;
  torch::manual_seed(static_cast<uint64_t>(tc.seed));  // before the model: a fresh LoRA's A draws from it
  m.tokenizer = load_model_tokenizer(m.config.model);
  // Mixed precision: the trainable weights (so AdamW's states) are fp32 masters, built and loaded
  // in fp32; the frozen towers keep model.dtype and forward + loss run under bf16 autocast.
  m.autocast = tc.autocast == "bf16" || (tc.autocast == "auto" && parse_device(m.config.model.device).is_cuda());
  BuildOptions build;
  build.stage = tc.stage;
  if (m.autocast) build.trainable_dtype = c10::kFloat;
  build.special_rows = special_rows(m.config.model, *m.tokenizer);
  m.built = build_model(m.config.model, build);
  VqaModel& model = m.built.model;
  m.prompt = prompt_options(m.config, model->image_tokens());
  m.train_data = make_loader(m.config, *m.tokenizer, m.prompt, "train", true, tc.batch_size, &m.pg());

  m.trainable = trainable_parameters(model);
  for (const auto& [name, p] : m.trainable) m.params.push_back(p);
  broadcast_parameters(m.pg(), m.params);
  seed_rank(tc.seed, m.pg().rank(), 0);
  m.grad_sync = std::make_unique<GradBuckets>(m.pg(), m.params, m.config.dist.bucket_mb);
  // Stage 2 trains the projector at its own (lower) rate: two parameter groups.
  std::vector<at::Tensor> projector_params, other_params;
  for (const auto& [name, p] : m.trainable) (name.rfind("projector.", 0) == 0 ? projector_params : other_params).push_back(p);
  const double projector_lr = tc.stage == Stage::lora ? tc.projector_lr : tc.lr;
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(projector_params, std::make_unique<torch::optim::AdamWOptions>(projector_lr));
  if (!other_params.empty()) groups.emplace_back(other_params, std::make_unique<torch::optim::AdamWOptions>(tc.lr));
  for (auto& g : groups) static_cast<torch::optim::AdamWOptions&>(g.options()).weight_decay(tc.weight_decay);
  m.optimizer = std::make_unique<torch::optim::AdamW>(std::move(groups));
  m.peak_lr = {projector_lr, tc.lr};

  DataLoader& loader = *m.train_data.loader;
  m.resumed_from = tc.resume.empty() ? "" : resolve_checkpoint(tc.resume, tc.out_dir);
  if (!m.resumed_from.empty()) {
    m.state = load_checkpoint(m.resumed_from, {m.trainable, m.optimizer.get()}, m.pg().rank(), m.device());
    auto restored = [&](const char* kind) {
      return std::find(m.state.rng_restored.begin(), m.state.rng_restored.end(), kind) != m.state.rng_restored.end();
    };
    if (!restored("cpu")) seed_rank(tc.seed, m.pg().rank(), m.state.step);  // the writer had fewer ranks
    if (m.device().is_cuda() && !restored("cuda"))
      log_warn("train: ", m.resumed_from, " holds no CUDA generator state for rank ", m.pg().rank(),
               " (written on another device or world size): dropout masks on the GPU do not continue the saved stream");
    loader.set_position(m.state.data);
    log_info("train: resumed from ", m.resumed_from, " at step ", m.state.step, " (epoch ", m.state.data.epoch,
             ", sample ", m.state.data.sample, ")");
  }
  // With epochs deciding, the run ends where the data does, whatever the world size was so far.
  m.total = tc.max_steps > 0 ? tc.max_steps : m.state.step + loader.batches_before_epoch(tc.epochs) / tc.grad_accum;
  MEDVQA_CHECK(m.total > 0, "train: no optimizer step fits: ", loader.batches_per_epoch(), " batches per epoch, grad_accum ",
               tc.grad_accum);
  m.first_bad = torch::zeros({}, torch::TensorOptions().dtype(torch::kLong).device(m.device()));
  model->train();
  model->vision->eval();
}

Trainer::~Trainer() = default;

VqaModel& Trainer::model() { return impl_->built.model; }
const Tokenizer& Trainer::tokenizer() const { return *impl_->tokenizer; }
const PromptOptions& Trainer::prompt() const { return impl_->prompt; }
const Config& Trainer::config() const { return impl_->config; }
const std::vector<std::pair<std::string, at::Tensor>>& Trainer::trainable() const { return impl_->trainable; }

LossSum Trainer::accumulate(const Batch& b, double label_tokens, bool last_micro_batch) {
  Impl& m = *impl_;
  LossSum l;
  {
    LossBatch lb = m.built.model->loss_batch(b.input_ids, b.attention_mask, b.labels, b.pixels, m.device());
    AutocastGuard guard(m.device().type(), m.autocast, c10::kBFloat16);
    l = m.built.model->loss(lb);
  }
  // Only the step's last backward communicates: each gradient bucket starts its all-reduce in it
  // as soon as its gradients are final.
  if (last_micro_batch) m.grad_sync->arm();
  (l.sum / label_tokens).backward();
  return l;
}

void Trainer::step() {
  Impl& m = *impl_;
  const TrainConfig& tc = m.tc();
  DataLoader& loader = *m.train_data.loader;
  for (size_t g = 0; g < m.optimizer->param_groups().size(); ++g)
    m.optimizer->param_groups()[g].options().set_lr(m.peak_lr[g] * lr_factor(m.state.step, m.total, tc.warmup_ratio));
  // The loss of the step is divided by the label tokens of all its micro-batches on all ranks.
  double local_tokens = 0;
  for (int64_t k = 0; k < tc.grad_accum; ++k) local_tokens += static_cast<double>(loader.label_tokens_ahead(k));
  const double step_tokens = std::max(1.0, m.pg().sum_values({local_tokens})[0]);
  at::Tensor step_loss = torch::zeros({1}, torch::TensorOptions().dtype(torch::kFloat).device(m.device()));
  for (int64_t k = 0; k < tc.grad_accum; ++k) {
    Batch b = loader.next();
    if (b.indices.empty()) continue;  // this rank's slice of the epoch's last, partial global batch
    step_loss += accumulate(b, step_tokens, k + 1 == tc.grad_accum).sum.detach();
    m.window_samples += static_cast<double>(b.input_ids.size(0));
    m.window_seq_tokens += static_cast<double>(b.attention_mask.sum().item<int64_t>());  // a host tensor
  }
  m.grad_sync->finish();
  m.grad_norm_t = clip_grad_norm(m.params, tc.grad_clip);
  m.first_bad = torch::where(m.first_bad.eq(0).logical_and(m.grad_norm_t.isfinite().logical_not()), m.state.step + 1,
                             m.first_bad);
  m.optimizer->step();
  m.optimizer->zero_grad();
  m.state.step += 1;
  m.state.data = loader.position();
  m.window_losses.push_back(step_loss);
  m.window_tokens.push_back(step_tokens);
}

// The steps since the last read: their losses summed over ranks in one collective, checked, added
// to the curve; the counts summed over ranks.
void Trainer::read_window() {
  Impl& m = *impl_;
  std::vector<at::Tensor> sums{torch::cat(m.window_losses)};
  m.pg().all_reduce_sum(sums);
  at::Tensor host = sums[0].to(torch::kDouble).cpu();
  const int64_t bad = m.first_bad.item<int64_t>();
  for (size_t i = 0; i < m.window_losses.size(); ++i) {
    const double value = host[static_cast<int64_t>(i)].item<double>() / m.window_tokens[i];
    const int64_t step = m.state.step - static_cast<int64_t>(m.window_losses.size() - 1 - i);
    if (!std::isfinite(value) || (bad > 0 && bad <= step)) {
      const std::string good = resolve_checkpoint("auto", m.tc().out_dir);
      MEDVQA_FAIL("train: ", std::isfinite(value) ? "gradient norm" : "loss", " is not finite at step ",
                  std::isfinite(value) ? bad : step, "; stopping. ",
                  good.empty() ? "No checkpoint was written yet" : "The last good checkpoint is " + good,
                  " (lower train.lr or check the data and the weights)");
    }
    m.train_curve.emplace_back(static_cast<double>(step), value);
    m.loss = value;
  }
  m.grad_norm = m.grad_norm_t.item<double>();
  auto totals = m.pg().sum_values({m.window_samples, m.window_seq_tokens});
  m.samples_seen += static_cast<int64_t>(totals[0]);
  m.tokens_seen += static_cast<int64_t>(totals[1]);
  m.window_losses.clear();
  m.window_tokens.clear();
  m.window_samples = m.window_seq_tokens = 0;
}

double Trainer::validate() {
  Impl& m = *impl_;
  double loss = -1;
  if (m.val_data.loader) {
    loss = validation_loss(m.built.model, *m.val_data.loader, m.device(), m.autocast);
    m.val_curve.emplace_back(m.state.step, loss);
    m.metrics->log("val_loss", loss, m.state.step);
    log_info("train: step ", m.state.step, " validation loss ", loss);
  }
  m.pg().barrier();
  return loss;
}

std::string Trainer::save() {
  Impl& m = *impl_;
  m.state.rng = gather_rng_states(m.pg(), m.device());
  std::string path;
  if (m.rank0()) {
    path = save_checkpoint(m.tc().out_dir, {m.trainable, m.optimizer.get()}, m.state, m.tc().keep_last);
    write_file_atomic(RunDir(m.tc().out_dir).loss_curve().string(),
                      plot::loss_curve_png(m.train_curve, m.val_curve, "medvqa " + stage_name(m.tc()) + ": loss per optimizer step"));
  }
  m.pg().barrier();  // no rank runs ahead of (or exits before) a checkpoint that is still being written
  return path;
}

TrainSummary Trainer::run() {
  Impl& m = *impl_;
  const TrainConfig& tc = m.tc();
  ProcessGroup& pg = m.pg();
  const RunDir run(tc.out_dir);
  if (m.rank0()) m.open_run(run);
  int64_t n_params = 0;
  for (const auto& [name, p] : m.trainable) n_params += p.numel();
  log_info("train: stage ", stage_name(tc), ", ", m.train_data.items, " training items, ", m.total, " steps of ",
           tc.batch_size * tc.grad_accum * pg.world_size(), " samples (", pg.world_size(), " ranks), ", n_params,
           " trainable parameters, ", m.grad_sync->buckets(), " gradient buckets");
  std::signal(SIGTERM, on_stop_signal);
  std::signal(SIGINT, on_stop_signal);

  TrainSummary summary;
  summary.run_dir = tc.out_dir;
  summary.rank = pg.rank();
  std::optional<Progress> progress;  // rank 0's
  if (m.rank0()) progress.emplace("train: stage " + stage_name(tc), m.total, "steps", m.state.step);
  m.t_start = std::chrono::steady_clock::now();
  while (m.state.step < m.total) {
    step();
    // A stop signal any rank received, through the host group, so that all ranks stop at this step.
    const bool any_signal = pg.sum_values({g_stop_signal.load() ? 1.0 : 0.0})[0] > 0;
    const int sig = any_signal ? (g_stop_signal.load() ? g_stop_signal.load() : SIGTERM) : 0;
    const bool last = m.state.step == m.total;
    const bool log_step = m.state.step % tc.log_every == 0 || last;
    const bool val_step = (tc.val_every > 0 && m.state.step % tc.val_every == 0) || last;
    const bool save_step = (tc.save_every > 0 && m.state.step % tc.save_every == 0) || last || sig;
    if (log_step || val_step || save_step) {
      read_window();
      summary.last_loss = m.loss;
    }
    const double elapsed = seconds_since(m.t_start);
    const double lr = m.optimizer->param_groups().back().options().get_lr();
    if (m.rank0() && log_step) m.log_metrics(lr, elapsed);
    if (progress) {
      char note[128];
      std::snprintf(note, sizeof note, "loss %.4g, lr %.3g, grad-norm %.3g, %.3g samples/s", m.loss, lr, m.grad_norm,
                    m.samples_seen / elapsed);
      progress->advance(1, note);
    }
    if (val_step) {
      const double val = validate();
      if (val >= 0) summary.val_loss = val;
    }
    if (save_step) {
      const std::string path = save();
      if (sig) {
        if (m.rank0()) log_warn("train: signal ", sig, ": checkpoint ", path, " written; resume with train.resume=auto");
        summary.steps = m.state.step;
        summary.stop_signal = sig;
        return summary;
      }
    }
  }
  check_parameters_in_sync(pg, m.trainable);
  if (pg.distributed()) log_info("dist: trainable weights identical on all ", pg.world_size(), " ranks");
  const ModelDir final_model = run.final_model();
  if (m.rank0()) m.write_final(final_model);
  pg.barrier();
  summary.steps = m.state.step;
  if (progress) progress->finish();
  log_info("train: done, ", m.state.step, " steps; final weights in ", final_model.dir.string(), ", loss curve ",
           run.loss_curve().string());
  return summary;
}

TrainSummary train(const Config& config) { return Trainer(config).run(); }

}  // namespace medvqa
