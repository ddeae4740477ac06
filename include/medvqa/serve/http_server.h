// The HTTP face of `medvqa serve` (cpp-httplib, kept to this file's translation unit): OpenAI's
// POST /v1/chat/completions (whole or streamed as server-sent events) and GET /v1/models, plus
// GET /health, GET /metrics and the page at GET /; the Bearer key check (every route but /health
// and the static page, which a browser loads without headers), request limits, and the
// SIGTERM/SIGINT drain. Answers come from the Scheduler; shapes from chat_request / chat_response.
#pragma once

#include <string>

#include "medvqa/serve/chat_request.h"
#include "medvqa/serve/metrics.h"
#include "medvqa/serve/scheduler.h"

namespace medvqa::serve {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;  // "" = no key required
  std::string model_id = "medvqa";  // the one model GET /v1/models lists
  RequestLimits limits;
  // Every waiting chat request holds a connection thread, so there must be more of them than the
  // scheduler's queue (or a full queue would never be seen, and /health would wait behind it).
  size_t connection_threads = 72;
};

// Blocks SIGTERM and SIGINT in the calling thread and every thread it starts later, so that only
// serve_until_signal sees them: call it before starting any thread (the model's included).
void block_stop_signals();

// Listens until SIGTERM or SIGINT, then stops accepting connections and returns once the requests
// in flight are answered. Throws Error when the address cannot be bound.
void serve_until_signal(const ServerOptions& options, Scheduler& scheduler, ServeMetrics& metrics);

}  // namespace medvqa::serve
