// Request bodies of the HTTP API -> typed, validated requests. Pure functions of the body (no
// model, no I/O), so a fuzzer can drive them: anything malformed, of the wrong type, out of range
// or unsupported is an ApiError (400) naming the field, never a crash or a silent default.
//
// Field names and defaults follow OpenAI's API as vLLM serves it (vLLM's extensions top_k,
// min_p, repetition_penalty, ignore_eos, stop_token_ids, add_special_tokens,
// chat_template_kwargs), llama.cpp's server for /tokenize, /detokenize and /apply-template, and
// wick's own for /v1/candidates, /v1/score and /execute.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "server/api_error.h"
#include "wick/embedder.h"
#include "wick/generate.h"

namespace wick::server {

// Parses a request body: a JSON object, nested at most 64 levels, valid UTF-8.
json parse_body(const std::string& body);

struct PromptInput {
  std::string text;
  std::vector<int> tokens;
  bool is_tokens = false;
};

// Sampling and stopping fields shared by the generating endpoints.
struct SamplingRequest {
  SamplingParams sampling;
  std::optional<int64_t> max_tokens;  // absent: the endpoint's default
  std::vector<std::string> stop;
  std::vector<int> stop_token_ids;
  std::optional<uint64_t> seed;  // absent: a random seed per request
  int n = 1;
  bool ignore_eos = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
};

struct CompletionRequest {
  std::string model;
  std::vector<PromptInput> prompts;
  SamplingRequest s;
  int logprobs = -1;  // -1: none; else the number of top alternatives per token (0..20)
  bool echo = false;
  bool add_special_tokens = true;
};

struct ChatRequest {
  std::string model;
  json messages;                          // content parts already joined into strings
  json tools;                             // null when absent
  json template_kwargs = json::object();  // chat_template_kwargs: extra template variables
  bool add_generation_prompt = true;
  SamplingRequest s;
  bool logprobs = false;
  int top_logprobs = 0;
};

struct EmbeddingRequest {
  std::string model;
  std::vector<PromptInput> inputs;
  Pooling pooling = Pooling::kMean;
  bool normalize = false;
  bool base64 = false;  // encoding_format "base64": little-endian float32, base64
  bool add_special_tokens = true;
};

struct CandidatesRequest {
  std::string model;
  std::string prompt;  // the prompt text, or
  std::string state;   // a proof state put into `template_name` / `template_string`
  std::string template_name, template_string;
  SamplingRequest s;
  bool add_special_tokens = true;
};

struct ScoreRequest {
  std::string model;
  std::string prompt, continuation;
  bool add_special_tokens = true;
};

struct TokenizeRequest {
  std::string model;
  std::string content;
  bool add_special = false;
  bool with_pieces = false;
  bool parse_special = true;
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int> tokens;
};

struct ApplyTemplateRequest {
  std::string model;
  json messages;
  json tools;
  json template_kwargs = json::object();
  bool add_generation_prompt = true;
};

struct ExecuteRequest {
  std::string model;
  json job_id;
  std::string prompt;
  SamplingRequest s;
};

CompletionRequest parse_completion(const json& body);
ChatRequest parse_chat(const json& body);
EmbeddingRequest parse_embedding(const json& body);
CandidatesRequest parse_candidates(const json& body);
ScoreRequest parse_score(const json& body);
TokenizeRequest parse_tokenize(const json& body);
DetokenizeRequest parse_detokenize(const json& body);
ApplyTemplateRequest parse_apply_template(const json& body);
ExecuteRequest parse_execute(const json& body);

}  // namespace wick::server
