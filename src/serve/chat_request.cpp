#include "medvqa/serve/chat_request.h"

#include "medvqa/io/json_reader.h"
#include "medvqa/serve/api_error.h"

namespace medvqa::serve {
namespace {

constexpr size_t kMaxStops = 4;  // OpenAI's limit

std::string shown(const JsonValue& v) { return v.dump(-1, ' ', false, JsonValue::error_handler_t::replace); }

[[noreturn]] void bad(const std::string& param, const std::string& problem) {
  throw ApiError(400, param + ": " + problem, param);
}

// `range` as shown in the message: "[0, 2]"; low_open excludes `low`.
double number_in(const JsonObject& request, const std::string& key, double low, double high, bool low_open,
                 const char* range, double fallback) {
  const JsonValue* v = request.find(key);
  if (!v) return fallback;
  const bool ok = v->is_number() && (low_open ? v->get<double>() > low : v->get<double>() >= low) &&
                  v->get<double>() <= high;
  if (!ok) bad(key, std::string("expected a number in ") + range + ", found " + shown(*v));
  return v->get<double>();
}

std::vector<std::string> read_stop(const JsonObject& request) {
  const JsonValue* v = request.find("stop");
  if (!v) return {};
  std::vector<std::string> stops;
  if (v->is_string()) {
    stops.push_back(v->get<std::string>());
  } else if (v->is_array() && v->size() <= kMaxStops) {
    for (const JsonValue& s : *v) {
      if (!s.is_string()) bad("stop", "expected a string or a list of up to 4 strings, found " + shown(*v));
      stops.push_back(s.get<std::string>());
    }
  } else {
    bad("stop", "expected a string or a list of up to 4 strings, found " + shown(*v));
  }
  for (const std::string& s : stops)
    if (s.empty()) bad("stop", "a stop string must not be empty");
  return stops;
}

// The text and the image of the user message's content parts.
void read_content(const JsonValue& content, const std::string& param, const RequestLimits& limits, ChatRequest& out) {
  if (content.is_string()) {
    out.question = content.get<std::string>();
  } else if (content.is_array()) {
    bool has_image = false;
    for (size_t i = 0; i < content.size(); ++i) {
      const std::string part_param = param + "[" + std::to_string(i) + "]";
      const JsonObject part = as_bad_request(part_param, [&] { return JsonObject(content[i], part_param); });
      const std::string type = *as_bad_request(part_param + ".type", [&] { return part.string("type"); });
      if (type == "text") {
        const std::string text = *as_bad_request(part_param + ".text", [&] { return part.string("text"); });
        out.question += out.question.empty() ? text : "\n" + text;
      } else if (type == "image_url") {
        if (has_image) bad(part_param, "only one image per request is supported");
        has_image = true;
        const std::string url_param = part_param + ".image_url.url";
        // image_url is {"url": ...}; a bare string is accepted as the URL too.
        const JsonValue* image_url = part.find("image_url");
        if (!image_url) bad(part_param + ".image_url", "missing");
        std::string url;
        if (image_url->is_string()) {
          url = image_url->get<std::string>();
        } else {
          const JsonObject object = as_bad_request(part_param + ".image_url", [&] { return JsonObject(*image_url, part_param + ".image_url"); });
          url = *as_bad_request(url_param, [&] { return object.string("url"); });
        }
        out.image = parse_data_url(url, url_param, limits.max_image_bytes);
        out.image_param = url_param;
      } else {
        bad(part_param + ".type", "expected \"text\" or \"image_url\", found \"" + type + "\"");
      }
    }
  } else {
    bad(param, "expected a string or a list of content parts, found " + shown(content));
  }
}

}  // namespace

JsonValue parse_request_body(const std::string& body, const RequestLimits& limits) {
  if (body.size() > limits.max_body_bytes)
    throw ApiError(413, "the request body is larger than the server's limit of " + std::to_string(limits.max_body_bytes) +
                            " bytes");
  JsonValue value = as_bad_request("", [&] { return parse_json(body, "request body"); });
  as_bad_request("", [&] { JsonObject(value, "request body"); });
  return value;
}

ChatRequest parse_chat_request(const std::string& body, const RequestLimits& limits) {
  const JsonValue value = parse_request_body(body, limits);
  const JsonObject request(value, "request body");
  ChatRequest out;
  out.model = as_bad_request("model", [&] { return request.string("model", Presence::kOptional); }).value_or("");

  const JsonValue* messages = request.find("messages");
  if (!messages) bad("messages", "missing (expected one user message with a question and an image)");
  if (!messages->is_array() || messages->empty())
    bad("messages", "expected a non-empty list of messages, found " + shown(*messages));
  if (messages->size() != 1)
    bad("messages", "expected exactly one message, a user message with a question and an image (found " +
                        std::to_string(messages->size()) + "): the model answers one question about one image");
  const JsonObject message = as_bad_request("messages[0]", [&] { return JsonObject((*messages)[0], "messages[0]"); });
  const std::string role = *as_bad_request("messages[0].role", [&] { return message.string("role"); });
  if (role != "user") bad("messages[0].role", "expected \"user\", found \"" + role + "\"");
  const JsonValue* content = message.find("content");
  if (!content) bad("messages[0].content", "missing");
  read_content(*content, "messages[0].content", limits, out);
  if (out.image.bytes.empty())
    bad("messages[0].content", "no image: add an image_url part holding a data URL (data:image/png;base64,...)");
  if (out.question.empty()) bad("messages[0].content", "no question: add a text part");
  if (out.question.size() > limits.max_question_bytes)
    bad("messages[0].content", "the question is " + std::to_string(out.question.size()) +
                                   " bytes, more than the server's limit of " +
                                   std::to_string(limits.max_question_bytes));

  const char* tokens_key = request.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  out.max_tokens = as_bad_request(tokens_key, [&] { return request.positive_int(tokens_key, Presence::kOptional); })
                       .value_or(limits.default_max_tokens);
  if (out.max_tokens > limits.max_tokens)
    bad(tokens_key, "at most " + std::to_string(limits.max_tokens) + ", found " + std::to_string(out.max_tokens));
  out.temperature = number_in(request, "temperature", 0, 2, false, "[0, 2]", 0);
  out.top_p = number_in(request, "top_p", 0, 1, true, "(0, 1]", 1);
  if (const JsonValue* seed = request.find("seed")) {
    if (!seed->is_number_integer()) bad("seed", "expected an integer, found " + shown(*seed));
    out.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : uint64_t(seed->get<int64_t>());
  }
  if (const JsonValue* n = request.find("n"); n && !(n->is_number_integer() && n->get<int64_t>() == 1))
    bad("n", "only n=1 is supported, found " + shown(*n));
  out.stop = read_stop(request);
  out.ignore_eos =
      as_bad_request("ignore_eos", [&] { return request.boolean("ignore_eos", Presence::kOptional); }).value_or(false);
  out.stream = as_bad_request("stream", [&] { return request.boolean("stream", Presence::kOptional); }).value_or(false);
  if (auto options = as_bad_request("stream_options", [&] { return request.object("stream_options", Presence::kOptional); }))
    out.include_usage =
        as_bad_request("stream_options.include_usage", [&] { return options->boolean("include_usage", Presence::kOptional); })
            .value_or(false);
  return out;
}

}  // namespace medvqa::serve
