// What the model sees of an image, as a PNG for the page (POST /preview): the preprocessed pixels
// with the normalisation undone. DICOM and TIFF, which browsers cannot show, become viewable.
// Preprocessing itself is vision's; routing is http_server's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medvqa/serve/chat_request.h"
#include "medvqa/vision/transform.h"

namespace medvqa::serve {

// The image of a preview request's body {"image": DATA_URL}; ApiError (400, 413) as for chat requests.
DataUrl parse_preview_request(const std::string& body, const RequestLimits& limits);

// pixels [3, H, W] normalised with options' mean and std -> an 8-bit RGB PNG.
std::vector<uint8_t> preview_png(const vision::Pixels& pixels, const vision::PreprocessOptions& options);

}  // namespace medvqa::serve
