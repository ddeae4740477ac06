// A synthetic dataset in the exact OmniMedVQA layout for the demo and the tests: images of six
// imaging styles (CT-, X-ray-, MRI-, fundus-, microscopy-, ultrasound-like) carrying large,
// high-contrast findings, and questions of the five OmniMedVQA types whose answers can only be
// read from the image. Deterministic for a seed.
#pragma once

#include <cstdint>
#include <string>

namespace medvqa {

struct DemoDataOptions {
  uint64_t seed = 0;
  int images_per_modality = 60;
};

// Writes <out>/QA_information/Open-access/<Dataset>.json and <out>/Images/<Dataset>/*.png;
// returns the number of questions written.
size_t write_demo_data(const std::string& out, const DemoDataOptions& options);

}  // namespace medvqa
