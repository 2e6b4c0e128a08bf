#include "server/request_parsing.h"

#include <cmath>
#include <limits>

namespace wick::server {
namespace {

constexpr int kMaxDepth = 64;
constexpr size_t kMaxPrompts = 1024;  // prompts (or inputs) in one request

// Typed access to a request object's fields; a field that is present but of the wrong type or
// out of range is a 400 naming it. null counts as absent, as in OpenAI's API.
class Fields {
 public:
  explicit Fields(const json& obj) : o_(obj) {
    if (!o_.is_object()) throw bad_request("the request body must be a JSON object");
  }
  const json* get(const char* k) const {
    auto it = o_.find(k);
    if (it == o_.end() || it->is_null()) return nullptr;
    return &*it;
  }
  bool has(const char* k) const { return get(k) != nullptr; }

  std::optional<std::string> str(const char* k) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_string()) throw bad_request("'" + std::string(k) + "' must be a string", k);
    return v->get<std::string>();
  }
  std::optional<bool> boolean(const char* k) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw bad_request("'" + std::string(k) + "' must be a boolean", k);
    return v->get<bool>();
  }
  std::optional<int64_t> integer(const char* k, int64_t lo, int64_t hi) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    int64_t x = 0;
    if (v->is_number_integer()) {
      if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        throw bad_request("'" + std::string(k) + "' is out of range", k);
      x = v->get<int64_t>();
    } else if (v->is_number_float() && std::isfinite(v->get<double>()) && v->get<double>() == std::floor(v->get<double>()) &&
               std::fabs(v->get<double>()) < 9e18) {
      x = static_cast<int64_t>(v->get<double>());  // 16.0 is an integer in JSON's eyes
    } else {
      throw bad_request("'" + std::string(k) + "' must be an integer", k);
    }
    if (x < lo || x > hi)
      throw bad_request(
          "'" + std::string(k) + "' must be in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got " + std::to_string(x), k);
    return x;
  }
  std::optional<double> number(const char* k, double lo, double hi) const {
    const json* v = get(k);
    if (!v) return std::nullopt;
    if (!v->is_number()) throw bad_request("'" + std::string(k) + "' must be a number", k);
    const double x = v->get<double>();
    if (!std::isfinite(x) || x < lo || x > hi)
      throw bad_request("'" + std::string(k) + "' must be a finite number in [" + fmt(lo) + ", " + fmt(hi) + "], got " + v->dump(), k);
    return x;
  }
  const json& obj() const { return o_; }

 private:
  static std::string fmt(double d) {
    if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
    char b[32];
    std::snprintf(b, sizeof b, "%g", d);
    return b;
  }
  const json& o_;
};

std::string model_of(const Fields& f) { return f.str("model").value_or(""); }

std::vector<int> token_list(const json& a, const char* field) {
  std::vector<int> out;
  for (const auto& t : a) {
    if (!t.is_number_integer()) throw bad_request("'" + std::string(field) + "' token ids must be integers", field);
    const int64_t v = t.is_number_unsigned() && t.get<uint64_t>() > 0x7fffffffull ? int64_t{1} << 40 : t.get<int64_t>();
    if (v < 0 || v > std::numeric_limits<int32_t>::max())
      throw bad_request("'" + std::string(field) + "': token id " + t.dump() + " is out of range", field);
    out.push_back(static_cast<int>(v));
  }
  return out;
}

// A prompt / input field: a string, a list of strings, a list of token ids, or a list of those.
std::vector<PromptInput> prompts_of(const json* v, const char* field) {
  if (!v) throw bad_request("'" + std::string(field) + "' is required", field);
  std::vector<PromptInput> out;
  if (v->is_string()) {
    out.push_back({v->get<std::string>(), {}, false});
    return out;
  }
  if (!v->is_array() || v->empty())
    throw bad_request("'" + std::string(field) + "' must be a string, a list of strings, a list of token ids or a list of those", field);
  if ((*v)[0].is_number()) {
    out.push_back({"", token_list(*v, field), true});
    return out;
  }
  if (v->size() > kMaxPrompts)
    throw bad_request("'" + std::string(field) + "' has more than " + std::to_string(kMaxPrompts) + " entries", field);
  for (const auto& e : *v) {
    if (e.is_string())
      out.push_back({e.get<std::string>(), {}, false});
    else if (e.is_array() && !e.empty() && e[0].is_number())
      out.push_back({"", token_list(e, field), true});
    else
      throw bad_request("'" + std::string(field) + "' entries must all be strings or all be lists of token ids", field);
  }
  return out;
}

std::vector<std::string> stops_of(const Fields& f) {
  const json* v = f.get("stop");
  std::vector<std::string> out;
  if (!v) return out;
  if (v->is_string())
    out.push_back(v->get<std::string>());
  else if (v->is_array()) {
    for (const auto& s : *v) {
      if (!s.is_string()) throw bad_request("'stop' must be a string or a list of strings", "stop");
      out.push_back(s.get<std::string>());
    }
  } else {
    throw bad_request("'stop' must be a string or a list of strings", "stop");
  }
  if (out.size() > 64) throw bad_request("'stop' has more than 64 strings", "stop");
  for (const auto& s : out)
    if (s.empty()) throw bad_request("'stop' strings must not be empty", "stop");
  return out;
}

void unsupported_if(bool cond, const std::string& what, const char* field) {
  if (cond) throw bad_request(what + " is not supported", field);
}

SamplingRequest sampling_of(const Fields& f, const char* max_tokens_key = "max_tokens") {
  SamplingRequest s;
  s.sampling.temperature = static_cast<float>(f.number("temperature", 0, 1e6).value_or(1.0));
  s.sampling.top_p = static_cast<float>(f.number("top_p", 0, 1).value_or(1.0));
  if (s.sampling.top_p <= 0) throw bad_request("'top_p' must be in (0, 1]", "top_p");
  const int64_t top_k = f.integer("top_k", -1, std::numeric_limits<int32_t>::max()).value_or(0);
  s.sampling.top_k = top_k < 0 ? 0 : static_cast<int>(top_k);
  s.sampling.min_p = static_cast<float>(f.number("min_p", 0, 1).value_or(0.0));
  s.sampling.presence_penalty = static_cast<float>(f.number("presence_penalty", -2, 2).value_or(0.0));
  s.sampling.frequency_penalty = static_cast<float>(f.number("frequency_penalty", -2, 2).value_or(0.0));
  s.sampling.repetition_penalty = static_cast<float>(f.number("repetition_penalty", 0, 1e6).value_or(1.0));
  if (s.sampling.repetition_penalty <= 0) throw bad_request("'repetition_penalty' must be > 0", "repetition_penalty");
  s.max_tokens = f.integer(max_tokens_key, 0, std::numeric_limits<int64_t>::max());
  s.stop = stops_of(f);
  if (const json* ids = f.get("stop_token_ids")) {
    if (!ids->is_array()) throw bad_request("'stop_token_ids' must be a list of token ids", "stop_token_ids");
    s.stop_token_ids = token_list(*ids, "stop_token_ids");
  }
  if (const json* seed = f.get("seed")) {
    if (!seed->is_number_integer()) throw bad_request("'seed' must be an integer", "seed");
    s.seed = seed->is_number_unsigned() ? seed->get<uint64_t>() : static_cast<uint64_t>(seed->get<int64_t>());
  }
  s.n = static_cast<int>(f.integer("n", 1, 1024).value_or(1));
  s.ignore_eos = f.boolean("ignore_eos").value_or(false);
  s.stream = f.boolean("stream").value_or(false);
  if (const json* so = f.get("stream_options")) {
    if (!so->is_object()) throw bad_request("'stream_options' must be an object", "stream_options");
    if (!s.stream) throw bad_request("Stream options can only be defined when `stream=True`.", "stream_options");
    Fields sf(*so);
    s.include_usage = sf.boolean("include_usage").value_or(false);
  }
  if (const json* lb = f.get("logit_bias")) unsupported_if(!lb->is_object() || !lb->empty(), "'logit_bias'", "logit_bias");
  if (const int64_t min_tokens = f.integer("min_tokens", 0, std::numeric_limits<int32_t>::max()).value_or(0); min_tokens > 0)
    throw bad_request("'min_tokens' is not supported", "min_tokens");
  return s;
}

// OpenAI message content may be a list of parts; text parts are joined with "\n" (vLLM's
// "string" content format). Other parts (images, audio) are not supported.
json normalized_messages(const json* v) {
  if (!v || !v->is_array() || v->empty()) throw bad_request("'messages' must be a non-empty list of messages", "messages");
  json out = json::array();
  for (const auto& m : *v) {
    if (!m.is_object()) throw bad_request("each message must be an object", "messages");
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) throw bad_request("each message needs a string 'role'", "messages");
    json msg = m;
    auto content = m.find("content");
    if (content != m.end() && content->is_array()) {
      std::string text;
      bool first = true;
      for (const auto& part : *content) {
        if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") || !part["text"].is_string())
          throw bad_request("only text content parts are supported", "messages");
        if (!first) text += '\n';
        text += part["text"].get<std::string>();
        first = false;
      }
      msg["content"] = text;
    } else if (content != m.end() && !content->is_string() && !content->is_null()) {
      throw bad_request("message content must be a string, null or a list of text parts", "messages");
    }
    out.push_back(std::move(msg));
  }
  return out;
}

json tools_of(const Fields& f) {
  const json* t = f.get("tools");
  if (!t) return nullptr;
  if (!t->is_array()) throw bad_request("'tools' must be a list", "tools");
  for (const auto& tool : *t)
    if (!tool.is_object()) throw bad_request("each tool must be an object", "tools");
  return *t;
}

json kwargs_of(const Fields& f) {
  const json* k = f.get("chat_template_kwargs");
  if (!k) return json::object();
  if (!k->is_object()) throw bad_request("'chat_template_kwargs' must be an object", "chat_template_kwargs");
  for (auto it = k->begin(); it != k->end(); ++it)
    if (it.key() == "messages" || it.key() == "tools")
      throw bad_request("'chat_template_kwargs' must not set '" + it.key() + "'", "chat_template_kwargs");
  return *k;
}

}  // namespace

json parse_body(const std::string& body) {
  // Depth first, outside strings: nothing deeper than kMaxDepth reaches the parser.
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : body) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) throw bad_request("the JSON body is nested more than " + std::to_string(kMaxDepth) + " levels deep");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  json j;
  try {
    j = json::parse(body);
  } catch (const json::exception& e) {  // syntax, invalid UTF-8, a number out of range (1e400)
    throw bad_request(std::string("invalid JSON body: ") + e.what());
  }
  if (!j.is_object()) throw bad_request("the request body must be a JSON object");
  return j;
}

CompletionRequest parse_completion(const json& body) {
  Fields f(body);
  CompletionRequest r;
  r.model = model_of(f);
  r.prompts = prompts_of(f.get("prompt"), "prompt");
  r.s = sampling_of(f);
  if (const json* lp = f.get("logprobs")) {
    if (lp->is_boolean()) throw bad_request("'logprobs' must be an integer for completions", "logprobs");
    r.logprobs = static_cast<int>(f.integer("logprobs", 0, 20).value());
  }
  r.echo = f.boolean("echo").value_or(false);
  r.add_special_tokens = f.boolean("add_special_tokens").value_or(true);
  unsupported_if(f.has("suffix"), "'suffix'", "suffix");
  if (const auto best_of = f.integer("best_of", 1, 1024)) unsupported_if(*best_of != r.s.n, "'best_of' other than n", "best_of");
  if (r.prompts.size() * static_cast<size_t>(r.s.n) > kMaxPrompts)
    throw bad_request("prompts x n is more than " + std::to_string(kMaxPrompts) + " choices", "n");
  return r;
}

ChatRequest parse_chat(const json& body) {
  Fields f(body);
  ChatRequest r;
  r.model = model_of(f);
  r.messages = normalized_messages(f.get("messages"));
  r.tools = tools_of(f);
  r.template_kwargs = kwargs_of(f);
  r.add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
  r.s = sampling_of(f, f.has("max_completion_tokens") ? "max_completion_tokens" : "max_tokens");
  if (r.s.max_tokens && *r.s.max_tokens == 0) throw bad_request("'max_tokens' must be at least 1", "max_tokens");
  r.logprobs = f.boolean("logprobs").value_or(false);
  r.top_logprobs = static_cast<int>(f.integer("top_logprobs", 0, 20).value_or(0));
  if (r.top_logprobs > 0 && !r.logprobs) throw bad_request("'top_logprobs' needs 'logprobs': true", "top_logprobs");
  if (const json* tc = f.get("tool_choice"))
    unsupported_if(!(tc->is_string() && (tc->get<std::string>() == "auto" || tc->get<std::string>() == "none")),
                   "'tool_choice' other than \"auto\" or \"none\"", "tool_choice");
  if (const json* rf = f.get("response_format"))
    unsupported_if(!rf->is_object() || rf->value("type", "") != "text", "'response_format' other than text", "response_format");
  if (f.boolean("continue_final_message").value_or(false))
    throw bad_request("'continue_final_message' is not supported", "continue_final_message");
  return r;
}

EmbeddingRequest parse_embedding(const json& body) {
  Fields f(body);
  EmbeddingRequest r;
  r.model = model_of(f);
  r.inputs = prompts_of(f.get("input"), "input");
  const std::string fmt = f.str("encoding_format").value_or("float");
  if (fmt != "float" && fmt != "base64") throw bad_request("'encoding_format' must be \"float\" or \"base64\"", "encoding_format");
  r.base64 = fmt == "base64";
  const std::string pooling = f.str("pooling").value_or("mean");
  if (pooling == "mean")
    r.pooling = Pooling::kMean;
  else if (pooling == "last")
    r.pooling = Pooling::kLast;
  else
    throw bad_request("'pooling' must be \"mean\" or \"last\"", "pooling");
  r.normalize = f.boolean("normalize").value_or(false);
  r.add_special_tokens = f.boolean("add_special_tokens").value_or(true);
  if (f.has("dimensions")) f.integer("dimensions", 1, 1 << 20);  // checked against the model by the handler
  return r;
}

CandidatesRequest parse_candidates(const json& body) {
  Fields f(body);
  CandidatesRequest r;
  r.model = model_of(f);
  r.prompt = f.str("prompt").value_or("");
  r.state = f.str("state").value_or("");
  r.template_name = f.str("template").value_or("");
  r.template_string = f.str("template_string").value_or("");
  const bool has_prompt = f.has("prompt"), has_state = f.has("state");
  if (has_prompt == has_state) throw bad_request("give either 'prompt' or 'state' (with 'template')", has_prompt ? "state" : "prompt");
  if (has_prompt && (f.has("template") || f.has("template_string")))
    throw bad_request("'template' applies to 'state', not 'prompt'", "template");
  if (!r.template_name.empty() && !r.template_string.empty())
    throw bad_request("give 'template' or 'template_string', not both", "template");
  r.s = sampling_of(f);
  r.add_special_tokens = f.boolean("add_special_tokens").value_or(true);
  return r;
}

ScoreRequest parse_score(const json& body) {
  Fields f(body);
  ScoreRequest r;
  r.model = model_of(f);
  r.prompt = f.str("prompt").value_or("");
  if (!f.has("continuation")) throw bad_request("'continuation' is required", "continuation");
  r.continuation = f.str("continuation").value();
  if (r.continuation.empty()) throw bad_request("'continuation' must not be empty", "continuation");
  r.add_special_tokens = f.boolean("add_special_tokens").value_or(true);
  return r;
}

TokenizeRequest parse_tokenize(const json& body) {
  Fields f(body);
  TokenizeRequest r;
  r.model = model_of(f);
  if (!f.has("content")) throw bad_request("'content' is required", "content");
  r.content = f.str("content").value();
  r.add_special = f.boolean("add_special").value_or(false);
  r.with_pieces = f.boolean("with_pieces").value_or(false);
  r.parse_special = f.boolean("parse_special").value_or(true);
  return r;
}

DetokenizeRequest parse_detokenize(const json& body) {
  Fields f(body);
  DetokenizeRequest r;
  r.model = model_of(f);
  const json* t = f.get("tokens");
  if (!t || !t->is_array()) throw bad_request("'tokens' must be a list of token ids", "tokens");
  r.tokens = token_list(*t, "tokens");
  return r;
}

ApplyTemplateRequest parse_apply_template(const json& body) {
  Fields f(body);
  ApplyTemplateRequest r;
  r.model = model_of(f);
  r.messages = normalized_messages(f.get("messages"));
  r.tools = tools_of(f);
  r.template_kwargs = kwargs_of(f);
  r.add_generation_prompt = f.boolean("add_generation_prompt").value_or(true);
  return r;
}

ExecuteRequest parse_execute(const json& body) {
  Fields f(body);
  ExecuteRequest r;
  r.model = model_of(f);
  const json* id = f.get("job_id");
  if (!id || !(id->is_string() || id->is_number_integer())) throw bad_request("'job_id' must be a string or an integer", "job_id");
  r.job_id = *id;
  if (!f.has("prompt")) throw bad_request("'prompt' is required", "prompt");
  r.prompt = f.str("prompt").value();
  r.s = sampling_of(f);
  if (r.s.n != 1) throw bad_request("'n' must be 1 for /execute", "n");
  return r;
}

}  // namespace wick::server
