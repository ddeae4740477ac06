// A trained model directory -> the Config it runs with. Three kinds: a run directory (its final/
// is used), a run's final/ itself, or a bundle from `medvqa export --bundle`. Each holds
// config.yaml and projector.safetensors; a final/ of a LoRA run also holds adapter/. Not here:
// loading the weights (models/registry.h).
#pragma once

#include <string>

#include "medvqa/config/config.h"

namespace medvqa {

// The directory holding the weights: `path` itself or `path`/final. Throws Error saying what is
// missing (e.g. a run that has checkpoints but never finished).
std::string find_model_dir(const std::string& path);
// The config saved with the weights, model.projector_weights and model.adapter pointing at them.
Config load_model_dir(const std::string& path);
// model.from set: the model keys come from that directory (device, dtype and threads stay the
// caller's). Every other weight path set beside it is a contradiction, reported in `problems`.
void apply_model_from(Config& config, Problems& problems);

}  // namespace medvqa
