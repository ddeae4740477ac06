// A failed API request as OpenAI reports it: an HTTP status and the error object
// {"error": {"message", "type", "param", "code"}}. Raised by request parsing and the routes;
// turning it into an HTTP response is http_server's business.
#pragma once

#include <string>

#include "medvqa/core/error.h"

namespace medvqa::serve {

class ApiError : public Error {
 public:
  // `param`: the request field at fault ("messages[0].content[1].image_url.url"), "" for none.
  ApiError(int status, std::string message, std::string param = "");

  int status() const { return status_; }
  const std::string& param() const { return param_; }
  // OpenAI's type for the status: invalid_request_error, authentication_error, ...
  const char* type() const;
  // The JSON body, one line.
  std::string body() const;

 private:
  int status_;
  std::string param_;
};

// read(), with a medvqa::Error it throws (a JsonObject getter's, say) turned into a 400 naming `param`.
template <class F>
auto as_bad_request(const std::string& param, F&& read) -> decltype(read()) {
  try {
    return read();
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw ApiError(400, e.what(), param);
  }
}

}  // namespace medvqa::serve
