// medvqa export --model RUN_DIR --out DIR (--bundle [--dtype D] | --adapter): a trained model as one
// relocatable folder (vision tower, projector, LLaMA with the LoRA merged, tokenizer, config), or
// its PEFT adapter + projector.
#include "medvqa/cli/commands.h"
#include "medvqa/core/error.h"
#include "medvqa/run/export.h"

namespace medvqa::cli {

namespace {

struct ExportArgs {
  std::string model;
  std::string out;
  bool bundle = false;
  bool adapter = false;
  std::string dtype;
};

void run_export(const ExportArgs& a) {
  MEDVQA_CHECK(a.bundle != a.adapter, "give one of --bundle (everything, LoRA merged) and --adapter (PEFT adapter + projector)");
  MEDVQA_CHECK(a.dtype.empty() || a.bundle, "--dtype applies to --bundle (the adapter is copied as trained)");
  if (a.bundle)
    export_bundle(a.model, a.out, a.dtype);
  else
    export_adapter(a.model, a.out);
}

}  // namespace

void add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Export a trained model: a relocatable bundle (LoRA merged) or the PEFT adapter");
  auto a = std::make_shared<ExportArgs>();
  cmd->add_option("--model", a->model, "run directory (its final/) or a run's final/")->required();
  cmd->add_option("--out", a->out, "new folder to write (must not exist, or be empty)")->required();
  cmd->add_flag("--bundle", a->bundle,
                "vision/ + projector.safetensors + llm/ (HF LLaMA, LoRA merged, tokenizer) + config.yaml; "
                "`ask --model` and eval's model.from load it anywhere");
  cmd->add_flag("--adapter", a->adapter, "adapter_config.json + adapter_model.safetensors (PEFT) + projector.safetensors");
  cmd->add_option("--dtype", a->dtype, "dtype of the merged LLaMA weights: fp32, bf16 or fp16 (default: the model's)");
  cmd->callback([a] { run_export(*a); });
}

}  // namespace medvqa::cli
