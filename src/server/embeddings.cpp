// POST /v1/embeddings: the model's own final-norm hidden states, mean- or last-pooled per input
// ("encode-only", as the library's Embedder), in OpenAI's shape; float lists or base64 (what
// OpenAI's Python client asks for by default).
#include <climits>

#include "runtime/row_sinks.h"
#include "server/openai_format.h"
#include "server/server_context.h"

namespace wick::server {
namespace {

std::string base64_floats(const std::vector<float>& v) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* b = reinterpret_cast<const unsigned char*>(v.data());  // little-endian float32, as numpy reads it
  const size_t n = v.size() * sizeof(float);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t x = (uint32_t{b[i]} << 16) | (i + 1 < n ? uint32_t{b[i + 1]} << 8 : 0) | (i + 2 < n ? uint32_t{b[i + 2]} : 0);
    out += kAlphabet[(x >> 18) & 63];
    out += kAlphabet[(x >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(x >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[x & 63] : '=';
  }
  return out;
}

}  // namespace

void handle_embeddings(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const json body = parse_body(req.body);
  const EmbeddingRequest r = parse_embedding(body);
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  LoadedModel& m = *lease;
  access_info().model = m.name;
  const int H = m.model->config().hidden_size;
  if (body.contains("dimensions") && !body["dimensions"].is_null() && body["dimensions"].get<int64_t>() != H)
    throw bad_request("'dimensions' must be the model's hidden size (" + std::to_string(H) + ")", "dimensions");
  const int ctx_len = m.scheduler->engine_options().context_length;
  const int vocab = m.model->config().vocab_size;

  std::vector<std::vector<int>> ids;
  std::vector<std::unique_ptr<PoolingSink>> sinks;
  std::vector<SchedulerRequest> requests;
  int64_t prompt_tokens = 0;
  for (size_t i = 0; i < r.inputs.size(); ++i) {
    const PromptInput& in = r.inputs[i];
    ids.push_back(in.is_tokens ? in.tokens : encode(m, in.text, r.add_special_tokens, "input"));
    const auto& t = ids.back();
    if (t.empty()) throw bad_request("input " + std::to_string(i) + " has no tokens", "input");
    check_input_fits(i, t.size(), ctx_len, "input");
    check_tokens(t, vocab, "input");
    prompt_tokens += static_cast<int64_t>(t.size());
    sinks.push_back(std::make_unique<PoolingSink>(H, static_cast<int>(t.size()), r.pooling));
    PoolingSink* sink = sinks.back().get();
    SchedulerRequest q;
    q.prompt = t;
    q.params.max_new_tokens = 0;
    q.hidden = true;
    q.rows_from = r.pooling == Pooling::kMean ? 0 : INT_MAX;
    q.callbacks.on_prompt_rows = [sink](int pos, const float* rows, int n) { (*sink)(pos, rows, n); };
    q.callbacks.on_restart = [sink] { sink->reset(); };
    requests.push_back(std::move(q));
  }
  access_info().prompt_tokens = prompt_tokens;
  GenerationJob job(*m.scheduler, ctx.metrics, m.name, false);
  job.submit(std::move(requests));
  job.wait();
  if (auto err = job.error()) throw from_error(*err);
  json data = json::array();
  for (size_t i = 0; i < sinks.size(); ++i) {
    std::vector<float> v;
    try {
      v = sinks[i]->finish(r.normalize, "input " + std::to_string(i));
    } catch (const Error& e) {
      throw ApiError(500, e.what());
    }
    json emb = r.base64 ? json(base64_floats(v)) : json(v);
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(emb)}});
  }
  reply_json(res, 200, {{"object", "list"}, {"data", data}, {"model", m.name}, {"usage", usage_json(prompt_tokens, 0)}});
}

}  // namespace wick::server
