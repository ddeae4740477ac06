#include "medvqa/serve/api_error.h"

#include <nlohmann/json.hpp>

namespace medvqa::serve {

ApiError::ApiError(int status, std::string message, std::string param)
    : Error(std::move(message)), status_(status), param_(std::move(param)) {}

const char* ApiError::type() const {
  switch (status_) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 503: return "service_unavailable";
    default: return status_ >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string ApiError::body() const {
  using json = nlohmann::ordered_json;
  json error{{"message", what()}, {"type", type()}, {"param", param_.empty() ? json() : json(param_)},
             {"code", json()}};
  return json{{"error", error}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace medvqa::serve
