// The body of POST /v1/chat/completions read into what the model needs: one user message with a
// question and one image (a data URL), and the generation settings OpenAI's API names. Every
// problem is an ApiError naming the field (400) or a limit (413). Fields of the API this server
// does not use are ignored when they are absent or of their documented type. Not here: decoding
// the image, the prompt template, generation.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "medvqa/io/json_reader.h"
#include "medvqa/serve/data_url.h"

namespace medvqa::serve {

struct RequestLimits {
  size_t max_body_bytes = 32u << 20;   // the whole request body (base64 images included)
  size_t max_image_bytes = 16u << 20;  // one decoded image
  int64_t max_image_pixels = 8192LL * 8192;  // width * height once decoded
  size_t max_question_bytes = 16u << 10;     // the user's text
  int64_t default_max_tokens = 64;            // `ask`'s default answer length
  int64_t max_tokens = 1024;                  // the largest max_tokens a request may ask for
};

struct ChatRequest {
  std::string model;      // as the client named it ("" when absent)
  std::string question;   // the user message's text parts, joined by "\n"
  DataUrl image;
  std::string image_param;  // the image's field, for errors about its content
  int64_t max_tokens = 0;
  double temperature = 0;  // 0 = greedy, the same answer `ask` gives
  double top_p = 1;
  uint64_t seed = 0;
  std::vector<std::string> stop;  // up to four strings that end the answer (not included)
  bool ignore_eos = false;  // vLLM's and llama.cpp's extension: max_tokens tokens whatever the stop ids
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage: a last chunk with the usage
};

// Throws ApiError (400 or 413).
ChatRequest parse_chat_request(const std::string& body, const RequestLimits& limits);
// The JSON object of a request body, for every route that takes one: 413 above
// limits.max_body_bytes, 400 for invalid JSON or a value that is not an object.
JsonValue parse_request_body(const std::string& body, const RequestLimits& limits);

}  // namespace medvqa::serve
