// Preprocessing many image files on worker threads (decode + transform per file), results in
// input order. Every failing file is reported at once. The transform itself is transform.h's.
#pragma once

#include <string>
#include <vector>

#include "medvqa/vision/transform.h"

namespace medvqa::vision {

// threads <= 0: one per hardware thread, at most one per file.
std::vector<Pixels> preprocess_files(const std::vector<std::string>& paths, const PreprocessOptions& options,
                                     int threads = 0);

}  // namespace medvqa::vision
