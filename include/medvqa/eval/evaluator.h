// `medvqa eval`: a trained model (base towers + projector + adapter) on one split, batched greedy
// generation with the KV cache, every prediction scored with the text scorers; optionally the
// blind baseline (image features zeroed). Writes predictions.jsonl and metrics.json.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "medvqa/config/config.h"

namespace medvqa {

// metrics.json's object ("blind_open_accuracy" added when eval.blind). Throws when the open-ended
// accuracy is below eval.floor (after writing the files).
nlohmann::ordered_json evaluate(const Config& config);

}  // namespace medvqa
