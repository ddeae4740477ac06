// The typed configuration of every job: model, data, train and eval sections with their
// defaults. Parsing lives in loader.h; modules never see YAML, only these structs' values.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medvqa/config/fields.h"

namespace medvqa {
class Problems;

// What a training run trains: align = the projector (stage 1); lora = LoRA adapters, the projector
// and, with model.train_special_rows, the chat-template token rows (stage 2).
enum class Stage { align, lora };
template <>
struct config::EnumNames<Stage> {
  static const std::vector<std::string>& names() {
    static const std::vector<std::string> kNames{"align", "lora"};
    return kNames;
  }
};

struct LoraConfig {
  int64_t r = 128;  // LLaVA-1.5 / LLaVA-Med recipe; the paper does not publish its LoRA settings
  double alpha = 256;
  double dropout = 0.05;
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};

  template <class V>
  void visit(V& v) {
    v.field("r", r, config::range(0, 4096, "LoRA rank; 0 = plain linear layers"));
    v.field("alpha", alpha, config::range(0, 1e6, "LoRA alpha; the update is scaled by alpha / r"));
    v.field("dropout", dropout, config::range(0, 1, "dropout on the LoRA input"));
    v.field("targets", targets, config::doc("linear layers that get adapters: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj"));
  }
};

struct ModelConfig {
  std::string from;       // trained model directory that supplies the keys below (model_dir.h)
  std::string vision;     // open_clip directory (open_clip_config.json + weights)
  std::string llm;        // HF LLaMA directory or Meta original directory
  std::string tokenizer;  // "" = the LLM directory's own
  std::string projector_weights;  // stage 1 output to start from ("" = fresh init)
  std::string adapter;            // PEFT adapter directory to start from ("" = fresh init)
  std::string projector = "mlp2x_gelu";
  int64_t feature_layer = -2;
  std::string feature_select = "patch";
  int64_t image_token_id = 128002;  // <|reserved_special_token_0|>
  int64_t pad_token_id = 128004;    // <|reserved_special_token_2|> (3.1: <|finetune_right_pad_id|>)
  bool train_special_rows = false;
  bool gradient_checkpointing = false;
  int64_t checkpoint_every = 1;
  std::string dtype = "auto";
  std::string device = "auto";
  int64_t threads = 0;
  LoraConfig lora;

  template <class V>
  void visit(V& v) {
    v.field("from", from, config::path("trained model directory: a run directory, its final/, or an `export --bundle` directory; supplies every other model key except device, dtype and threads"));
    v.field("vision", vision, config::path("open_clip directory of the vision tower (BiomedCLIP)"));
    v.field("llm", llm, config::path("HF LLaMA directory (config.json + safetensors) or Meta original directory"));
    v.field("tokenizer", tokenizer, config::path("tokenizer file or directory; empty = the LLM directory's own"));
    v.field("projector_weights", projector_weights, config::path("projector.safetensors to start from (stage 2 starts from stage 1's)"));
    v.field("adapter", adapter, config::path("PEFT adapter directory to load; empty = fresh LoRA"));
    v.field("projector", projector, config::one_of({"linear", "mlp2x_gelu"}, "projector from vision features to LLM embeddings"));
    v.field("feature_layer", feature_layer, config::range(-64, 64, "vision hidden state fed to the projector; -2 = second-to-last block"));
    v.field("feature_select", feature_select, config::one_of({"patch", "cls_patch", "pooled"}, "which vision tokens: patch tokens, class + patch tokens, or the pooled embedding"));
    v.field("image_token_id", image_token_id, config::range(0, 1 << 30, "reserved special token repeated once per image feature"));
    v.field("pad_token_id", pad_token_id, config::range(0, 1 << 30, "token id used for right padding"));
    v.field("train_special_rows", train_special_rows, config::doc("train the embedding and output rows of the chat-template special tokens (needed for base, non-Instruct LLaMA-3)"));
    v.field("gradient_checkpointing", gradient_checkpointing, config::doc("recompute each decoder layer in backward to save activation memory"));
    v.field("checkpoint_every", checkpoint_every, config::range(1, 1024, "with gradient_checkpointing: recompute every k-th decoder layer (0, k, 2k, ...), keep the others' activations"));
    v.field("dtype", dtype, config::one_of({"auto", "fp32", "bf16", "fp16"}, "weight/compute dtype; auto = bf16 on CUDA, fp32 on CPU"));
    v.field("device", device, config::doc("auto, cpu, cuda or cuda:N"));
    v.field("threads", threads, config::range(0, 1024, "intra-op CPU threads; 0 = the cores of the node shared among its ranks (LOCAL_WORLD_SIZE)"));
    v.section("lora", lora);
  }
};

struct DataConfig {
  std::string format = "omnimedvqa";
  std::string root;
  std::string manifest;
  std::string question_form = "open";
  std::vector<double> split{0.8, 0.1, 0.1};
  int64_t split_seed = 0;
  std::vector<std::string> modalities, question_types, datasets;
  int64_t max_seq_len = 512;
  std::string image_mode = "crop";
  int64_t workers = 2;
  std::string bad_items = "fail";
  double max_skip_fraction = 0.01;

  template <class V>
  void visit(V& v) {
    v.field("format", format, config::one_of({"omnimedvqa", "jsonl"}, "dataset layout"));
    v.field("root", root, config::path("OmniMedVQA root (QA_information/ and Images/) or a JSONL file"));
    v.field("manifest", manifest, config::path("split manifest (JSON of question ids); created if missing"));
    v.field("question_form", question_form, config::one_of({"open", "closed"}, "open = question alone, closed = options listed in the prompt"));
    v.field("split", split, config::doc("train/val/test fractions of the images, summing to 1"));
    v.field("split_seed", split_seed, config::range(0, 1e15, "seed of the image-disjoint split"));
    v.field("modalities", modalities, config::doc("keep only these modality_type values (empty = all)"));
    v.field("question_types", question_types, config::doc("keep only these question_type values (empty = all)"));
    v.field("datasets", datasets, config::doc("keep only these datasets (empty = all)"));
    v.field("max_seq_len", max_seq_len, config::range(16, 1 << 20, "tokens per sample; only the question text is truncated"));
    v.field("image_mode", image_mode, config::one_of({"crop", "pad"}, "crop = open_clip centre crop, pad = LLaVA-1.5 pad to square in the mean colour"));
    v.field("workers", workers, config::range(0, 256, "image decoding threads"));
    v.field("bad_items", bad_items, config::one_of({"fail", "skip"}, "what to do with invalid items"));
    v.field("max_skip_fraction", max_skip_fraction, config::range(0, 1, "skipped fraction above which the run fails"));
  }
};

struct TrainConfig {
  Stage stage = Stage::align;
  std::string out_dir = "runs/medvqa";
  int64_t epochs = 1;
  int64_t max_steps = 0;
  int64_t batch_size = 4;
  int64_t grad_accum = 1;
  double lr = 1e-3;
  double projector_lr = 2e-5;
  double weight_decay = 0.0;
  double warmup_ratio = 0.03;
  double grad_clip = 1.0;
  int64_t seed = 0;
  int64_t log_every = 10;
  int64_t val_every = 0;
  int64_t save_every = 0;
  int64_t keep_last = 2;
  std::string resume;
  std::string autocast = "auto";
  std::vector<std::string> loggers{"jsonl"};

  template <class V>
  void visit(V& v) {
    v.field("stage", stage, config::choice<Stage>("align = projector only (stage 1); lora = LoRA + projector (stage 2)"));
    v.field("out_dir", out_dir, config::path("run directory"));
    v.field("epochs", epochs, config::range(1, 1e6, "passes over the training split"));
    v.field("max_steps", max_steps, config::range(0, 1e12, "stop after this many optimizer steps; 0 = epochs decide"));
    v.field("batch_size", batch_size, config::range(1, 1e6, "samples per micro-batch per rank"));
    v.field("grad_accum", grad_accum, config::range(1, 1e6, "micro-batches per optimizer step"));
    v.field("lr", lr, config::range(0, 1, "peak learning rate (projector in stage 1, LoRA in stage 2)"));
    v.field("projector_lr", projector_lr, config::range(0, 1, "projector learning rate in stage 2"));
    v.field("weight_decay", weight_decay, config::range(0, 10, "AdamW weight decay"));
    v.field("warmup_ratio", warmup_ratio, config::range(0, 1, "fraction of steps of linear warmup before the cosine decay"));
    v.field("grad_clip", grad_clip, config::range(0, 1e9, "max global gradient norm; 0 = no clipping"));
    v.field("seed", seed, config::range(0, 1e15, "seed of initialisation, dropout and shuffling"));
    v.field("log_every", log_every, config::range(1, 1e12, "steps between metrics lines"));
    v.field("val_every", val_every, config::range(0, 1e12, "steps between validation losses; 0 = at the end only"));
    v.field("save_every", save_every, config::range(0, 1e12, "steps between checkpoints; 0 = at the end only"));
    v.field("keep_last", keep_last, config::range(1, 1e6, "checkpoints kept"));
    v.field("resume", resume, config::doc("'' = fresh run, 'auto' = latest checkpoint of out_dir, or a checkpoint path"));
    v.field("autocast", autocast, config::one_of({"auto", "bf16", "none"}, "forward + loss under bf16 autocast with fp32 trainable weights and optimizer states; auto = on CUDA only, none = compute in model.dtype"));
    v.field("loggers", loggers, config::one_of({"jsonl", "tensorboard"}, "where rank 0 writes the metrics: out_dir/metrics.jsonl, TensorBoard event files in out_dir/tb/"));
  }
};

// Data-parallel runs of train and eval (medvqa/dist).
struct DistConfig {
  int64_t timeout_s = 1800;
  double bucket_mb = 25;

  template <class V>
  void visit(V& v) {
    v.field("timeout_s", timeout_s, config::range(1, 1e6, "rendezvous and collective timeout in seconds; a rank that stops answering fails the others after this long"));
    v.field("bucket_mb", bucket_mb, config::range(0.001, 1e5, "size of the flat gradient buckets all-reduced together, in MiB"));
  }
};

struct EvalConfig {
  std::string split = "test";
  std::string out_dir = "runs/eval";
  int64_t batch_size = 8;
  int64_t max_new_tokens = 32;
  bool blind = true;
  bool prefix_score = true;
  bool prefix_image = true;
  int64_t report_examples = 8;
  double floor = 0.0;
  std::string baseline;
  double baseline_max_drop = 0.01;
  int64_t baseline_min_n = 30;
  double baseline_alpha = 0.05;
  std::vector<std::string> loggers;

  template <class V>
  void visit(V& v) {
    v.field("split", split, config::one_of({"train", "val", "test", "all"}, "manifest split to evaluate (JSONL data: every split is the whole file)"));
    v.field("out_dir", out_dir, config::path("where predictions.jsonl, metrics.json and the reports go"));
    v.field("batch_size", batch_size, config::range(1, 1e6, "prompts generated together"));
    v.field("max_new_tokens", max_new_tokens, config::range(1, 1e6, "generation length cap"));
    v.field("blind", blind, config::doc("also run the blind baseline (image features zeroed)"));
    v.field("prefix_score", prefix_score, config::doc("also compute OmniMedVQA's prefix-based score (one forward per option of each item with options)"));
    v.field("prefix_image", prefix_image, config::doc("the prefix score sees the image (features before the text); false = text only, as OmniMedVQA's LLaVA script"));
    v.field("report_examples", report_examples, config::range(0, 1000, "example images in report.md / report.html, half right, half wrong"));
    v.field("floor", floor, config::range(0, 1, "fail when open-ended accuracy is below this"));
    v.field("baseline", baseline, config::path("eval directory (or predictions.jsonl) to compare against, as `medvqa compare` grouped by modality, question type and dataset: the report gets an 'against baseline' section and the run fails (exit 3) on a significant drop; '' = none"));
    v.field("baseline_max_drop", baseline_max_drop, config::range(0, 1, "with baseline: the largest tolerated drop in open-ended accuracy (a fraction), as compare --max-drop"));
    v.field("baseline_min_n", baseline_min_n, config::range(1, 1e9, "with baseline: groups with fewer paired items are reported, not tested, as compare --min-n"));
    v.field("baseline_alpha", baseline_alpha, config::range(0, 1, "with baseline: significance level of the Holm-adjusted p-values, as compare --alpha"));
    v.field("loggers", loggers, config::one_of({"tensorboard"}, "where the metrics go besides metrics.json: TensorBoard event files in out_dir/tb/ (overall and per modality)"));
  }
};

struct Config {
  ModelConfig model;
  DataConfig data;
  TrainConfig train;
  EvalConfig eval;
  DistConfig dist;

  template <class V>
  void visit(V& v) {
    v.section("model", model);
    v.section("data", data);
    v.section("train", train);
    v.section("eval", eval);
    v.section("dist", dist);
  }
  // Rules that involve more than one field.
  void validate(Problems& problems) const;
};

}  // namespace medvqa
