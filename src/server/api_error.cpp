#include "server/api_error.h"

namespace wick::server {
namespace {

std::string type_for(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 413: return "invalid_request_error";
    case 429: return "rate_limit_error";
    case 503: return "unavailable_error";
    default: return "internal_error";
  }
}

}  // namespace

ApiError::ApiError(int status_, std::string message, std::string param_, std::string type_)
    : std::runtime_error(std::move(message)),
      status(status_),
      type(type_.empty() ? type_for(status_) : std::move(type_)),
      param(std::move(param_)) {}

ApiError bad_request(const std::string& message, const std::string& param) { return ApiError(400, message, param); }

ApiError model_not_found(const std::string& model) { return ApiError(404, "The model `" + model + "` does not exist.", "model"); }

ApiError from_error(const Error& e) {
  switch (e.code()) {
    case ErrorCode::kInvalidArgument: return ApiError(400, e.what());
    case ErrorCode::kResourceExhausted: {
      ApiError a(429, e.what());
      a.retry_after = 1;
      return a;
    }
    case ErrorCode::kCancelled: return ApiError(503, e.what());
    default: return ApiError(500, e.what());
  }
}

json error_json(const ApiError& e) {
  json err = {{"message", e.what()}, {"type", e.type}};
  err["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  err["code"] = e.status;
  return {{"error", err}};
}

}  // namespace wick::server
