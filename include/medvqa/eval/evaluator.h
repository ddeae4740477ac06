// `medvqa eval`: a trained model (base towers + projector + adapter) on one split, batched greedy
// generation with the KV cache, every prediction scored with the text scorers; optionally the
// blind baseline (image features zeroed); with eval.baseline, the comparison against that earlier
// evaluation (compare.h). Writes predictions.jsonl, metrics.json, the report (and comparison.json with
// compare.xml, its JUnit form).
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "medvqa/config/config.h"

namespace medvqa {

// metrics.json's object ("blind_open_accuracy" added when eval.blind). Throws, after writing the
// files, Error when the open-ended accuracy is below eval.floor and GateFailure when the comparison
// with eval.baseline fails.
nlohmann::ordered_json evaluate(const Config& config);

}  // namespace medvqa
