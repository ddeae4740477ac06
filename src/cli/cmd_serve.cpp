// medvqa serve --model RUN_OR_BUNDLE_DIR [--host 127.0.0.1] [--port 8080] [--max-batch 8] [--max-queue 64]
// [--api-key KEY] [--threads N] [--device D] [--dtype D]: a trained model behind an
// OpenAI-compatible HTTP API (chat completions with an image), until SIGTERM or SIGINT.
#include <cstdlib>

#include "medvqa/cli/commands.h"
#include "medvqa/config/model_dir.h"
#include "medvqa/core/device.h"
#include "medvqa/core/log.h"
#include "medvqa/serve/http_server.h"
#include "medvqa/serve/scheduler.h"

namespace medvqa::cli {

namespace {

// Connection threads beyond one per queued or running request: /health, /metrics, the page.
constexpr size_t kSpareConnectionThreads = 8;

struct ServeArgs {
  std::string model;
  serve::ServerOptions server;
  serve::SchedulerOptions scheduler;
  int threads = 0;
  std::string device;
  std::string dtype;
};

void run_serve(ServeArgs a) {
  // Before any thread starts (the model's included): only the server's own waiter sees SIGTERM.
  serve::block_stop_signals();
  if (a.server.api_key.empty())
    if (const char* key = std::getenv("MEDVQA_API_KEY")) a.server.api_key = key;
  Config config = load_model_dir(a.model);
  if (!a.device.empty()) config.model.device = a.device;
  if (!a.dtype.empty()) config.model.dtype = a.dtype;
  config.model.threads = a.threads;
  set_threads(a.threads);
  a.scheduler.max_tokens = a.server.limits.max_tokens;
  a.server.connection_threads = a.scheduler.max_queue + static_cast<size_t>(a.scheduler.max_batch) + kSpareConnectionThreads;
  serve::ServeMetrics metrics;
  serve::Scheduler scheduler(config, a.scheduler, metrics);
  serve::serve_until_signal(a.server, scheduler, metrics);
  log_info("serve: stopped");
}

}  // namespace

void add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve a trained model over an OpenAI-compatible HTTP API (chat completions)");
  auto a = std::make_shared<ServeArgs>();
  cmd->add_option("--model", a->model, "run directory (its final/), a run's final/, or an `export --bundle` directory")
      ->required();
  cmd->add_option("--host", a->server.host, "address to listen on (default 127.0.0.1: this machine only)");
  cmd->add_option("--port", a->server.port, "TCP port (default 8080)")->check(CLI::Range(1, 65535));
  cmd->add_option("--max-batch", a->scheduler.max_batch,
                  "requests decoded together (continuous batching; default 8; on the CPU up to 8 decode exactly as "
                  "alone)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-queue", a->scheduler.max_queue, "requests that may wait for the model; more get 429 (default 64)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--api-key", a->server.api_key,
                  "require \"Authorization: Bearer KEY\" on every route but /health (default: $MEDVQA_API_KEY, "
                  "else none)");
  cmd->add_option("--threads", a->threads, "intra-op CPU threads (default: all cores)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--device", a->device, "auto, cpu, cuda or cuda:N (default: the model's config)");
  cmd->add_option("--dtype", a->dtype, "auto, fp32, bf16 or fp16 (default: the model's config)");
  cmd->callback([a] { run_serve(*a); });
}

}  // namespace medvqa::cli
