#include "medvqa/serve/chat_response.h"

#include <gtest/gtest.h>

#include "medvqa/serve/api_error.h"

using namespace medvqa::serve;

namespace {

const CompletionHeader kHeader{"chatcmpl-1", "medvqa", 1700000000};

TEST(ChatResponse, CompletionHasOpenAIsShape) {
  EXPECT_EQ(completion_json(kHeader, "CT", "stop", {10, 2}),
            R"({"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"medvqa","choices":[{"index":0,)"
            R"("message":{"role":"assistant","content":"CT","refusal":null},"logprobs":null,"finish_reason":"stop"}],)"
            R"("usage":{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}})");
}

TEST(ChatResponse, ChunksHaveOpenAIsShape) {
  const std::string head = R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"medvqa",)";
  EXPECT_EQ(role_chunk_json(kHeader, false),
            head + R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})");
  EXPECT_EQ(content_chunk_json(kHeader, "C\"T", true),
            head + R"("choices":[{"index":0,"delta":{"content":"C\"T"},"logprobs":null,"finish_reason":null}],"usage":null})");
  EXPECT_EQ(finish_chunk_json(kHeader, "length", false),
            head + R"("choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"length"}]})");
  EXPECT_EQ(usage_chunk_json(kHeader, {3, 4}),
            head + R"("choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}})");
}

TEST(ChatResponse, ServerSentEventsFraming) {
  EXPECT_EQ(sse_event("{}"), "data: {}\n\n");
  EXPECT_STREQ(kSseDone, "data: [DONE]\n\n");
}

TEST(ApiError, BodyIsOpenAIsErrorObject) {
  EXPECT_EQ(ApiError(400, "stop: bad", "stop").body(),
            R"({"error":{"message":"stop: bad","type":"invalid_request_error","param":"stop","code":null}})");
  EXPECT_EQ(ApiError(429, "busy").body(),
            R"({"error":{"message":"busy","type":"rate_limit_error","param":null,"code":null}})");
  EXPECT_STREQ(ApiError(401, "").type(), "authentication_error");
  EXPECT_STREQ(ApiError(404, "").type(), "not_found_error");
  EXPECT_STREQ(ApiError(413, "").type(), "request_too_large");
  EXPECT_STREQ(ApiError(500, "").type(), "server_error");
}

}  // namespace
