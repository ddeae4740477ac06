#include "medvqa/serve/chat_response.h"

#include <nlohmann/json.hpp>

namespace medvqa::serve {
namespace {

using json = nlohmann::ordered_json;

// Invalid UTF-8 never reaches here (the answerer replaces it), but a dump must not throw.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json usage_json(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

json object(const CompletionHeader& h, const char* kind) {
  return {{"id", h.id}, {"object", kind}, {"created", h.created}, {"model", h.model}};
}

std::string chunk(const CompletionHeader& h, const json& delta, const json& finish_reason, bool include_usage) {
  json j = object(h, "chat.completion.chunk");
  j["choices"] = json::array({{{"index", 0}, {"delta", delta}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}});
  if (include_usage) j["usage"] = nullptr;
  return dump(j);
}

}  // namespace

std::string completion_json(const CompletionHeader& h, const std::string& answer, const std::string& finish_reason,
                            const Usage& usage) {
  json j = object(h, "chat.completion");
  json message{{"role", "assistant"}, {"content", answer}, {"refusal", nullptr}};
  j["choices"] = json::array({{{"index", 0}, {"message", message}, {"logprobs", nullptr}, {"finish_reason", finish_reason}}});
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string role_chunk_json(const CompletionHeader& h, bool include_usage) {
  return chunk(h, {{"role", "assistant"}, {"content", ""}}, nullptr, include_usage);
}

std::string content_chunk_json(const CompletionHeader& h, const std::string& content, bool include_usage) {
  return chunk(h, {{"content", content}}, nullptr, include_usage);
}

std::string finish_chunk_json(const CompletionHeader& h, const std::string& finish_reason, bool include_usage) {
  return chunk(h, json::object(), finish_reason, include_usage);
}

std::string usage_chunk_json(const CompletionHeader& h, const Usage& usage) {
  json j = object(h, "chat.completion.chunk");
  j["choices"] = json::array();
  j["usage"] = usage_json(usage);
  return dump(j);
}

std::string sse_event(const std::string& json) { return "data: " + json + "\n\n"; }

}  // namespace medvqa::serve
