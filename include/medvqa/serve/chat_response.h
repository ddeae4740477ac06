// OpenAI's response shapes for chat completions: the whole `chat.completion` object, the
// `chat.completion.chunk` objects of a stream framed as server-sent events and its closing
// `data: [DONE]`, and the `usage` counts. Formatting only: what the answer is comes from elsewhere.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace medvqa::serve {

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// What every object of one completion shares.
struct CompletionHeader {
  std::string id;  // "chatcmpl-..."
  std::string model;
  int64_t created = 0;  // Unix seconds
};

// finish_reason: "stop" (a stop id or stop string) or "length" (max_tokens reached).
std::string completion_json(const CompletionHeader& header, const std::string& answer, const std::string& finish_reason,
                            const Usage& usage);

// One chunk of a stream: the first carries role "assistant", later ones content, the last the
// finish_reason with an empty delta; with include_usage every chunk has "usage": null except a
// final one with no choices and the counts (usage_chunk_json).
std::string role_chunk_json(const CompletionHeader& header, bool include_usage);
std::string content_chunk_json(const CompletionHeader& header, const std::string& content, bool include_usage);
std::string finish_chunk_json(const CompletionHeader& header, const std::string& finish_reason, bool include_usage);
std::string usage_chunk_json(const CompletionHeader& header, const Usage& usage);

// "data: <json>\n\n" and the stream's end.
std::string sse_event(const std::string& json);
inline constexpr const char* kSseDone = "data: [DONE]\n\n";

}  // namespace medvqa::serve
