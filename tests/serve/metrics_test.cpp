#include "medvqa/serve/metrics.h"

#include <gtest/gtest.h>

using namespace medvqa::serve;

namespace {

TEST(ServeMetrics, PrometheusTextHasEveryCounter) {
  ServeMetrics m;
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/v1/chat/completions", 200);
  m.count_request("/health", 200);
  m.count_request("/v1/chat/completions", 429);
  m.count_generation(10, 2.0, 0.5);
  m.count_generation(6, 1.0, 0.25);
  m.count_step(3, 0.5);
  m.count_step(5, 0.25);
  m.count_prefill(1.5);
  const std::string text = m.prometheus(3, 1);
  for (const char* line :
       {"# TYPE medvqa_requests_total counter\n", "medvqa_requests_total{route=\"/v1/chat/completions\",status=\"200\"} 2\n",
        "medvqa_requests_total{route=\"/v1/chat/completions\",status=\"429\"} 1\n",
        "medvqa_requests_total{route=\"/health\",status=\"200\"} 1\n", "medvqa_queue_length 3\n",
        "medvqa_running_requests 1\n", "medvqa_completion_tokens_total 16\n", "medvqa_generation_seconds_total 3\n",
        "medvqa_tokens_per_second 6\n", "medvqa_time_to_first_token_seconds_sum 0.75\n",
        "medvqa_time_to_first_token_seconds_count 2\n", "medvqa_decode_steps_total 2\n",
        "medvqa_decode_rows_total 8\n", "medvqa_decode_seconds_total 0.75\n", "medvqa_prefill_seconds_sum 1.5\n",
        "medvqa_prefill_seconds_count 1\n", "# TYPE medvqa_prefill_seconds summary\n"})
    EXPECT_NE(text.find(line), std::string::npos) << line << "\nin:\n" << text;
}

}  // namespace
