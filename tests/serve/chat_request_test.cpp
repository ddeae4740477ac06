#include "medvqa/serve/chat_request.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "medvqa/serve/api_error.h"

using namespace medvqa::serve;
using json = nlohmann::json;

namespace {

const char* kImage = "data:image/png;base64,TWFu";

json good() {
  return {{"model", "medvqa"},
          {"messages",
           {{{"role", "user"},
             {"content",
              {{{"type", "text"}, {"text", "What modality?"}},
               {{"type", "image_url"}, {"image_url", {{"url", kImage}}}}}}}}}};
}

struct Failure {
  int status;
  std::string param;
  std::string message;
  bool operator==(const Failure& o) const { return status == o.status && param == o.param && message == o.message; }
};
std::ostream& operator<<(std::ostream& os, const Failure& f) {
  return os << f.status << " [" << f.param << "] " << f.message;
}

Failure failure(const std::string& body, const RequestLimits& limits = {}) {
  try {
    parse_chat_request(body, limits);
  } catch (const ApiError& e) {
    return {e.status(), e.param(), e.what()};
  }
  return {0, "", ""};
}
Failure failure(const json& body) { return failure(body.dump()); }

json with(const std::string& key, const json& value) {
  json j = good();
  j[key] = value;
  return j;
}

TEST(ParseChatRequest, ReadsTheQuestionImageAndSettings) {
  json j = good();
  j["messages"][0]["content"].push_back({{"type", "text"}, {"text", "Answer briefly."}});
  j.update({{"max_tokens", 12}, {"temperature", 0.5}, {"top_p", 0.9}, {"seed", 7}, {"stop", "\n"}, {"stream", true},
            {"stream_options", {{"include_usage", true}}}, {"frequency_penalty", 0}, {"user", "u"}});
  const ChatRequest r = parse_chat_request(j.dump(), {});
  EXPECT_EQ(r.model, "medvqa");
  EXPECT_EQ(r.question, "What modality?\nAnswer briefly.");
  EXPECT_EQ(r.image.media_type, "image/png");
  EXPECT_EQ(r.image.bytes.size(), 3u);
  EXPECT_EQ(r.max_tokens, 12);
  EXPECT_EQ(r.temperature, 0.5);
  EXPECT_EQ(r.top_p, 0.9);
  EXPECT_EQ(r.seed, 7u);
  EXPECT_EQ(r.stop, std::vector<std::string>{"\n"});
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(ParseChatRequest, DefaultsAreGreedyWithAsksLength) {
  const ChatRequest r = parse_chat_request(good().dump(), {});
  EXPECT_EQ(r.max_tokens, 64);
  EXPECT_EQ(r.temperature, 0);
  EXPECT_EQ(r.top_p, 1);
  EXPECT_TRUE(r.stop.empty());
  EXPECT_FALSE(r.stream);
  json j = good();
  j["max_completion_tokens"] = 5;
  EXPECT_EQ(parse_chat_request(j.dump(), {}).max_tokens, 5);
}

TEST(ParseChatRequest, TheImageUrlMayBeAString) {
  json j = good();
  j["messages"][0]["content"][1]["image_url"] = kImage;
  EXPECT_EQ(parse_chat_request(j.dump(), {}).image.bytes.size(), 3u);
}

TEST(ParseChatRequest, BadBodiesAre400s) {
  EXPECT_EQ(failure(std::string("{\"messages\": [")),
            (Failure{400, "", "request body: invalid JSON at column 15: syntax error while parsing value - "
                              "unexpected end of input; expected '[', '{', or a literal"}));
  EXPECT_EQ(failure(std::string("[1]")),
            (Failure{400, "", "request body: expected a JSON object, found an array"}));
  RequestLimits small;
  small.max_body_bytes = 10;
  EXPECT_EQ(failure(good().dump(), small),
            (Failure{413, "", "the request body is larger than the server's limit of 10 bytes"}));
}

TEST(ParseChatRequest, BadMessagesNameTheField) {
  json j = good();
  j.erase("messages");
  EXPECT_EQ(failure(j), (Failure{400, "messages", "messages: missing (expected one user message with a question and "
                                                  "an image)"}));
  EXPECT_EQ(failure(with("messages", "hi")),
            (Failure{400, "messages", "messages: expected a non-empty list of messages, found \"hi\""}));
  EXPECT_EQ(failure(with("messages", json::array())),
            (Failure{400, "messages", "messages: expected a non-empty list of messages, found []"}));
  j = good();
  j["messages"].insert(j["messages"].begin(), json::object({{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(failure(j), (Failure{400, "messages",
                                 "messages: expected exactly one message, a user message with a question and an image "
                                 "(found 2): the model answers one question about one image"}));
  EXPECT_EQ(failure(with("messages", {5})),
            (Failure{400, "messages[0]", "messages[0]: expected a JSON object, found a number (5)"}));
  j = good();
  j["messages"][0]["role"] = "assistant";
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].role", "messages[0].role: expected \"user\", found \"assistant\""}));
  j["messages"][0]["role"] = 3;
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].role",
                                 "messages[0]: key \"role\": expected a string, found a number (3)"}));
  j = good();
  j["messages"][0].erase("content");
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content", "messages[0].content: missing"}));
  j["messages"][0]["content"] = 1;
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content",
                                 "messages[0].content: expected a string or a list of content parts, found 1"}));
}

TEST(ParseChatRequest, BadContentPartsNameTheField) {
  json j = good();
  j["messages"][0]["content"] = "What modality?";
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content",
                                 "messages[0].content: no image: add an image_url part holding a data URL "
                                 "(data:image/png;base64,...)"}));
  j = good();
  j["messages"][0]["content"].erase(0);
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content", "messages[0].content: no question: add a text part"}));
  j = good();
  j["messages"][0]["content"].push_back(j["messages"][0]["content"][1]);
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content[2]",
                                 "messages[0].content[2]: only one image per request is supported"}));
  j = good();
  j["messages"][0]["content"][0]["type"] = "audio";
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content[0].type",
                                 "messages[0].content[0].type: expected \"text\" or \"image_url\", found \"audio\""}));
  j["messages"][0]["content"][0] = {{"type", "text"}, {"text", 4}};
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content[0].text",
                                 "messages[0].content[0]: key \"text\": expected a string, found a number (4)"}));
  j = good();
  j["messages"][0]["content"][1]["image_url"] = {{"url", false}};
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content[1].image_url.url",
                                 "messages[0].content[1].image_url: key \"url\": expected a string, found a boolean "
                                 "(false)"}));
  j["messages"][0]["content"][1].erase("image_url");
  EXPECT_EQ(failure(j), (Failure{400, "messages[0].content[1].image_url", "messages[0].content[1].image_url: missing"}));
  j = good();
  j["messages"][0]["content"][1]["image_url"]["url"] = "file:///etc/passwd";
  EXPECT_EQ(failure(j).param, "messages[0].content[1].image_url.url");
  RequestLimits limits;
  limits.max_question_bytes = 4;
  EXPECT_EQ(failure(good().dump(), limits),
            (Failure{400, "messages[0].content",
                     "messages[0].content: the question is 14 bytes, more than the server's limit of 4"}));
}

TEST(ParseChatRequest, BadSettingsNameTheField) {
  EXPECT_EQ(failure(with("model", 1)), (Failure{400, "model", "request body: key \"model\": expected a string, found a "
                                                              "number (1)"}));
  EXPECT_EQ(failure(with("max_tokens", 0)),
            (Failure{400, "max_tokens", "request body: key \"max_tokens\": expected a positive integer, found a "
                                        "number (0)"}));
  EXPECT_EQ(failure(with("max_tokens", "5")),
            (Failure{400, "max_tokens", "request body: key \"max_tokens\": expected a positive integer, found a "
                                        "string (\"5\")"}));
  EXPECT_EQ(failure(with("max_tokens", 5000)), (Failure{400, "max_tokens", "max_tokens: at most 1024, found 5000"}));
  EXPECT_EQ(failure(with("temperature", 3)),
            (Failure{400, "temperature", "temperature: expected a number in [0, 2], found 3"}));
  EXPECT_EQ(failure(with("temperature", "hot")),
            (Failure{400, "temperature", "temperature: expected a number in [0, 2], found \"hot\""}));
  EXPECT_EQ(failure(with("top_p", 0)), (Failure{400, "top_p", "top_p: expected a number in (0, 1], found 0"}));
  EXPECT_EQ(failure(with("seed", 1.5)), (Failure{400, "seed", "seed: expected an integer, found 1.5"}));
  EXPECT_EQ(failure(with("n", 2)), (Failure{400, "n", "n: only n=1 is supported, found 2"}));
  EXPECT_EQ(failure(with("stop", 1)), (Failure{400, "stop", "stop: expected a string or a list of up to 4 strings, "
                                                            "found 1"}));
  EXPECT_EQ(failure(with("stop", {"a", "b", "c", "d", "e"})).param, "stop");
  EXPECT_EQ(failure(with("stop", {""})), (Failure{400, "stop", "stop: a stop string must not be empty"}));
  EXPECT_EQ(failure(with("stream", "yes")),
            (Failure{400, "stream", "request body: key \"stream\": expected true or false, found a string (\"yes\")"}));
  EXPECT_EQ(failure(with("stream_options", {{"include_usage", 1}})),
            (Failure{400, "stream_options.include_usage",
                     "request body: key \"stream_options.include_usage\": expected true or false, found a number (1)"}));
}

}  // namespace
