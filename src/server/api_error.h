// Errors of the HTTP API, in OpenAI's shape: {"error": {"message", "type", "param", "code"}}
// with the HTTP status as the code (as vLLM sends it). Handlers throw ApiError; the server turns
// it into the response (or, once a stream has started, into an error event).
#pragma once

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "wick/error.h"

namespace wick::server {

using json = nlohmann::ordered_json;

struct ApiError : std::runtime_error {
  int status;
  std::string type;
  std::string param;    // the request field at fault, "" if none
  int retry_after = 0;  // seconds, for 429 / 503
  ApiError(int status_, std::string message, std::string param_ = "", std::string type_ = "");
};

ApiError bad_request(const std::string& message, const std::string& param = "");
ApiError model_not_found(const std::string& model);
// An engine/library error as the API reports it: bad input -> 400, a full queue -> 429,
// cancelled -> 503, anything else -> 500.
ApiError from_error(const Error& e);

json error_json(const ApiError& e);

}  // namespace wick::server
