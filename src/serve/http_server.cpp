#include "medvqa/serve/http_server.h"

#include <httplib.h>
#include <netdb.h>
#include <pthread.h>
#include <sys/socket.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "medvqa/core/log.h"
#include "medvqa/serve/api_error.h"
#include "medvqa/serve/chat_response.h"
#include "medvqa/serve/page.h"
#include "medvqa/serve/preview.h"
#include "medvqa/vision/decode.h"
#include "medvqa/vision/image_size.h"

namespace medvqa::serve {
namespace {

using json = nlohmann::ordered_json;

constexpr const char* kJson = "application/json";
constexpr const char* kRetryAfterSeconds = "1";
// How long a connection may go without sending a byte of its request (slow-loris clients get a 400
// then): long enough for a client on a slow link, short enough that stalled ones free their thread.
constexpr time_t kReadTimeoutSeconds = 5;
// How often a connection waiting for its answer checks that its client is still there.
constexpr std::chrono::milliseconds kWaitSlice{100};

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status();
  res.set_content(e.body(), kJson);
}

// Compares every byte whatever the first difference, so the time taken tells nothing of the key.
bool same_key(const std::string& given, const std::string& key) {
  unsigned char diff = given.size() != key.size();
  for (size_t i = 0; i < given.size(); ++i) diff |= static_cast<unsigned char>(given[i] ^ key[i % key.size()]);
  return diff == 0;
}

// The route a request counts under in the metrics; unknown paths share one label.
std::string route_of(const httplib::Request& req) {
  for (const char* known : {"/", "/preview", "/v1/chat/completions", "/v1/models", "/health", "/metrics"})
    if (req.path == known) return known;
  return "other";
}

std::string completion_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char text[40];
  std::snprintf(text, sizeof text, "chatcmpl-%016llx%08llx", static_cast<unsigned long long>(salt),
                static_cast<unsigned long long>(++counter));
  return text;
}

void check_pixels(int64_t width, int64_t height, const std::string& param, const RequestLimits& limits) {
  if (width * height > limits.max_image_pixels)
    throw ApiError(413,
                   param + ": the image is " + std::to_string(width) + "x" + std::to_string(height) +
                       " pixels, more than the server's limit of " + std::to_string(limits.max_image_pixels),
                   param);
}

// The request's image decoded and preprocessed as the model wants it; decoding problems are the
// client's (400), an image over the pixel limit a 413: from its header, before a decoder allocates
// for it, where the format declares its size there.
vision::Pixels request_pixels(const DataUrl& url, const std::string& param, const RequestLimits& limits,
                              const vision::PreprocessOptions& options) {
  if (const auto declared = vision::declared_image_size(url.bytes))
    check_pixels(declared->width, declared->height, param, limits);
  // The name only routes DICOM and names the image in errors; nothing is read from disk.
  const std::string& type = url.media_type;
  const std::string name = type == "application/dicom" ? "image.dcm" : "image." + type.substr(type.find('/') + 1);
  vision::Image image;
  try {
    image = vision::decode_image_bytes(url.bytes, name, options.decode);
  } catch (const Error& e) {
    throw ApiError(400, param + ": " + e.what(), param);
  }
  check_pixels(image.width, image.height, param, limits);
  return vision::preprocess(image, options);
}

// The socket of the request's connection, found among this process's descriptors by its peer's
// address and port (cpp-httplib 0.11 does not hand it to handlers); -1 when none matches.
int connection_socket(const httplib::Request& req) {
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd", error)) {
    const int fd = std::atoi(entry.path().filename().c_str());
    sockaddr_storage peer{};
    socklen_t length = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) != 0) continue;
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo(reinterpret_cast<sockaddr*>(&peer), length, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) == 0 &&
        req.remote_addr == host && std::to_string(req.remote_port) == port)
      return fd;
  }
  return -1;
}

// False once the peer of `fd` has closed its side (a pending end of stream) or the socket failed.
bool client_connected(int fd) {
  char byte;
  const ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK));
}

class Routes {
 public:
  Routes(const ServerOptions& options, Scheduler& scheduler, ServeMetrics& metrics)
      : options_(options), scheduler_(scheduler), metrics_(metrics) {}

  // Refuses new chat requests (503) and waits until those in flight have been answered, their
  // streams written out included: httplib's stop() would cut a running stream short.
  void drain() {
    std::unique_lock<std::mutex> lock(mutex_);
    draining_ = true;
    idle_.wait(lock, [&] { return in_flight_ == 0; });
  }

  void install(httplib::Server& server) {
    server.set_payload_max_length(options_.limits.max_body_bytes);
    server.set_read_timeout(kReadTimeoutSeconds);
    server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      if (options_.api_key.empty() || req.path == "/health" || (req.path == "/" && req.method == "GET"))
        return httplib::Server::HandlerResponse::Unhandled;
      const std::string kBearer = "Bearer ";
      const std::string auth = req.get_header_value("Authorization");
      if (auth.compare(0, kBearer.size(), kBearer) == 0 && same_key(auth.substr(kBearer.size()), options_.api_key))
        return httplib::Server::HandlerResponse::Unhandled;
      send_error(res, ApiError(401, "missing or wrong API key: send the header \"Authorization: Bearer KEY\""));
      return httplib::Server::HandlerResponse::Handled;
    });
    // httplib's own failures (unknown route, body over the limit, malformed HTTP) in OpenAI's shape.
    server.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
      std::string message = "the request cannot be handled (HTTP " + std::to_string(res.status) + ")";
      if (res.status == 404) message = "no route " + req.method + " " + req.path;
      if (res.status == 413) message = "the request body is larger than the server's limit";
      send_error(res, ApiError(res.status, message));
      return httplib::Server::HandlerResponse::Handled;
    }));
    server.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      metrics_.count_request(route_of(req), res.status);
    });
    server.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(page_html(), "text/html; charset=utf-8");
    });
    server.Get("/health", [](const httplib::Request&, httplib::Response& res) {
      res.set_content("{\"status\":\"ok\"}", kJson);
    });
    server.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.prometheus(scheduler_.queued(), scheduler_.running()), "text/plain; version=0.0.4");
    });
    server.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      json model{{"id", options_.model_id}, {"object", "model"}, {"created", started_}, {"owned_by", "medvqa"}};
      res.set_content(json{{"object", "list"}, {"data", json::array({model})}}.dump(), kJson);
    });
    // The page's view of an image as the model sees it: {"image": DATA_URL} -> PNG.
    server.Post("/preview", [this](const httplib::Request& req, httplib::Response& res) {
      try {
        const DataUrl url = parse_preview_request(req.body, options_.limits);
        const vision::PreprocessOptions& options = scheduler_.image_options();
        const vision::Pixels pixels = request_pixels(url, "image", options_.limits, options);
        const std::vector<uint8_t> png = preview_png(pixels, options);
        res.set_content(std::string(png.begin(), png.end()), "image/png");
      } catch (const ApiError& e) {
        send_error(res, e);
      }
    });
    server.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      try {
        chat(req, res);
      } catch (const ApiError& e) {
        send_error(res, e);
      }
    });
  }

 private:
  // Counts a chat request in flight for as long as the returned token lives; nullptr while draining.
  std::shared_ptr<void> enter() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (draining_) return nullptr;
    ++in_flight_;
    // Not an owner of the routes: the "deleter" only counts the request out.
    return std::shared_ptr<Routes>(this, [](Routes* routes) {
      std::lock_guard<std::mutex> lock(routes->mutex_);
      if (--routes->in_flight_ == 0) routes->idle_.notify_all();
    });
  }

  void chat(const httplib::Request& req, httplib::Response& res) {
    std::shared_ptr<void> in_flight = enter();
    if (!in_flight) throw ApiError(503, "the server is shutting down");
    const ChatRequest request = parse_chat_request(req.body, options_.limits);
    Job job;
    job.prompt = scheduler_.prompt(request.question, "messages[0].content");
    job.pixels = request_pixels(request.image, request.image_param, options_.limits, scheduler_.image_options());
    job.max_tokens = request.max_tokens;
    job.temperature = request.temperature;
    job.top_p = request.top_p;
    job.seed = request.seed;
    job.stop = request.stop;
    job.ignore_eos = request.ignore_eos;
    std::shared_ptr<Completion> completion = scheduler_.submit(std::move(job));
    if (!completion) {
      res.set_header("Retry-After", kRetryAfterSeconds);
      throw ApiError(429, "the server is busy: its queue of requests is full; retry later");
    }
    const CompletionHeader header{completion_id(), options_.model_id, now()};
    if (request.stream)
      stream(res, completion, header, request.include_usage, std::move(in_flight));
    else
      whole(req, res, *completion, header);
  }

  // The answer in one response. A client that goes away while it waits cancels the completion.
  static void whole(const httplib::Request& req, httplib::Response& res, Completion& completion,
                    const CompletionHeader& header) {
    const int socket = connection_socket(req);
    std::string answer;
    std::optional<CompletionEnd> end;
    while (!(end = completion.wait(answer, kWaitSlice)))
      if (socket >= 0 && !client_connected(socket)) completion.cancel();
    if (end->error_status != 0) throw ApiError(end->error_status, end->error);
    res.set_content(completion_json(header, answer, end->finish_reason, end->usage), kJson);
  }

  // Server-sent events: the role chunk, a chunk per decoded piece, the finish chunk, the usage chunk
  // when asked for, [DONE]. A client that goes away cancels the completion.
  static void stream(httplib::Response& res, std::shared_ptr<Completion> completion, const CompletionHeader& header,
                     bool include_usage, std::shared_ptr<void> in_flight) {
    res.set_header("Cache-Control", "no-cache");
    res.set_chunked_content_provider(
        "text/event-stream",
        [completion, header, include_usage, started = false](size_t, httplib::DataSink& sink) mutable {
          auto send = [&](const std::string& event) { return sink.write(event.data(), event.size()); };
          if (!started) {
            started = true;
            return send(sse_event(role_chunk_json(header, include_usage)));
          }
          std::string text;
          const std::optional<CompletionEnd> end = completion->wait(text, kWaitSlice);
          if (!text.empty()) return send(sse_event(content_chunk_json(header, text, include_usage)));
          if (!end) return true;  // nothing yet: httplib asks again
          if (end->error_status != 0) {
            if (!send(sse_event(ApiError(end->error_status, end->error).body()))) return false;
          } else {
            if (!send(sse_event(finish_chunk_json(header, end->finish_reason, include_usage)))) return false;
            if (include_usage && !send(sse_event(usage_chunk_json(header, end->usage)))) return false;
          }
          if (!send(kSseDone)) return false;
          sink.done();
          return true;
        },
        [completion, in_flight](bool success) {
          if (!success) completion->cancel();
        });
  }

  static int64_t now() {
    return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  }

  const ServerOptions& options_;
  Scheduler& scheduler_;
  ServeMetrics& metrics_;
  const int64_t started_ = now();
  std::mutex mutex_;
  std::condition_variable idle_;
  int in_flight_ = 0;
  bool draining_ = false;
};

}  // namespace

sigset_t stop_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  return signals;
}

void block_stop_signals() {
  const sigset_t signals = stop_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

void serve_until_signal(const ServerOptions& options, Scheduler& scheduler, ServeMetrics& metrics) {
  block_stop_signals();
  httplib::Server server;
  server.new_task_queue = [n = options.connection_threads] { return new httplib::ThreadPool(n); };
  Routes routes(options, scheduler, metrics);
  routes.install(server);
  MEDVQA_CHECK(server.bind_to_port(options.host, options.port), "serve: cannot listen on ", options.host, ":",
               options.port, " (in use, or not an address of this machine)");
  // Stopping happens on this thread, outside any signal handler.
  std::atomic<bool> signalled{false};
  std::thread waiter([&] {
    const sigset_t signals = stop_signals();
    int signal = 0;
    sigwait(&signals, &signal);
    signalled = true;
    log_info("serve: ", signal == SIGTERM ? "SIGTERM" : "SIGINT", ": finishing the requests in flight");
    routes.drain();
    server.stop();
  });
  log_info("serve: listening on http://", options.host, ":", options.port,
           options.api_key.empty() ? "" : " (API key required)");
  const bool listened = server.listen_after_bind();
  if (!signalled) pthread_kill(waiter.native_handle(), SIGTERM);
  waiter.join();
  MEDVQA_CHECK(listened || signalled, "serve: the server stopped listening on ", options.host, ":", options.port);
}

}  // namespace medvqa::serve
