// The proof-search and utility endpoints: POST /v1/candidates (n distinct continuations ranked by
// log-prob, what Generator::generate_candidates returns), POST /v1/score (teacher-forced
// log-probs, as Generator::score), POST /tokenize and /detokenize (llama.cpp's shapes), and
// POST /execute (the job worker's token stream).
#include <climits>

#include "runtime/row_sinks.h"
#include "server/openai_format.h"
#include "tokenizer/unicode.h"
#include "server/server_context.h"
#include "wick/generator.h"
#include "wick/prompt_template.h"

namespace wick::server {

void handle_candidates(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const CandidatesRequest r = parse_candidates(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  LoadedModel& m = *lease;
  access_info().model = m.name;
  if (r.s.n > m.scheduler->max_choices())
    throw bad_request("'n' must be in 1.." + std::to_string(m.scheduler->max_choices()) + " for this server", "n");
  std::string text = r.prompt;
  SamplingRequest s = r.s;
  if (!r.state.empty() || !r.template_name.empty() || !r.template_string.empty()) {
    auto t = !r.template_string.empty() ? PromptTemplate::from_string(r.template_string)
                                        : PromptTemplate::preset(r.template_name.empty() ? "plain" : r.template_name);
    if (!t) throw bad_request(t.error().what(), "template");
    text = t->apply(r.state);
    s.stop.insert(s.stop.end(), t->stop.begin(), t->stop.end());
  }
  SchedulerRequest q;
  q.prompt = encode(m, text, r.add_special_tokens, "prompt");
  if (q.prompt.empty()) throw bad_request("the prompt is empty (no tokens)", "prompt");
  q.n = s.n;
  q.params = generate_params(s, max_tokens_of(m, s, static_cast<int64_t>(q.prompt.size()), 64));
  for (int i = 0; i < s.n; ++i) q.seeds.push_back(sequence_seed(q.params.sampling.seed, i));  // as generate_candidates
  const size_t prompt_size = q.prompt.size();
  access_info().prompt_tokens = static_cast<int64_t>(prompt_size);
  std::vector<SchedulerRequest> requests;
  requests.push_back(std::move(q));
  GenerationJob job(*m.scheduler, ctx.metrics, m.name, false);
  job.submit(std::move(requests));
  job.wait();
  if (auto err = job.error()) throw from_error(*err);
  CandidatesResult c;
  c.requested = s.n;
  rank_candidates(std::move(job.results()), c);
  json list = json::array();
  for (size_t i = 0; i < c.candidates.size(); ++i) {
    const GenerateResult& g = c.candidates[i];
    list.push_back({{"text", g.text},
                    {"tokens", g.tokens},
                    {"logprob", g.logprob},
                    {"logprobs", g.logprobs},
                    {"finish_reason", g.finish_reason},
                    {"stop_reason", g.stop_reason},
                    {"index", c.indices[i]}});
  }
  access_info().completion_tokens = c.generated_tokens;
  reply_json(res, 200,
             {{"object", "candidates"},
              {"model", m.name},
              {"candidates", list},
              {"prompt_tokens", prompt_size},
              {"requested", c.requested},
              {"duplicates_removed", c.duplicates_removed},
              {"generated_tokens", c.generated_tokens},
              {"usage", usage_json(static_cast<int64_t>(prompt_size), c.generated_tokens)}});
}

void handle_score(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ScoreRequest r = parse_score(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  LoadedModel& m = *lease;
  access_info().model = m.name;
  auto split = split_for_scoring(m.model->tokenizer(), r.prompt, r.continuation, r.add_special_tokens);
  if (!split) throw from_error(split.error());
  ScoreResult out;
  out.prompt_tokens = std::move(split->first);
  out.tokens = std::move(split->second);
  if (out.prompt_tokens.empty()) throw bad_request("the prompt has no tokens (a score needs at least one, e.g. BOS)", "prompt");
  ScoreSink sink(out, m.model->config().vocab_size);
  SchedulerRequest q;
  q.prompt = out.prompt_tokens;
  q.prompt.insert(q.prompt.end(), out.tokens.begin(), out.tokens.end());
  check_context(m, static_cast<int64_t>(out.prompt_tokens.size()), static_cast<int64_t>(out.tokens.size()));
  q.params.max_new_tokens = 0;
  q.rows_from = sink.first_position();
  q.callbacks.on_prompt_rows = [&sink](int pos, const float* rows, int n) { sink(pos, rows, n); };
  access_info().prompt_tokens = static_cast<int64_t>(q.prompt.size());
  std::vector<SchedulerRequest> requests;
  requests.push_back(std::move(q));
  GenerationJob job(*m.scheduler, ctx.metrics, m.name, false);
  job.submit(std::move(requests));
  job.wait();
  if (auto err = job.error()) throw from_error(*err);
  sink.finish();
  reply_json(res, 200,
             {{"object", "score"},
              {"model", m.name},
              {"logprob", out.logprob},
              {"tokens", out.tokens},
              {"logprobs", out.logprobs},
              {"prompt_tokens", out.prompt_tokens.size()},
              {"greedy", out.greedy}});
}

void handle_tokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const TokenizeRequest r = parse_tokenize(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  access_info().model = lease->name;
  const Tokenizer& tok = lease->model->tokenizer();
  auto ids = tok.encode(r.content, {r.add_special, r.parse_special});
  if (!ids) throw bad_request(std::string("content: ") + ids.error().what(), "content");
  json tokens = json::array();
  PieceDecoder pieces(tok);  // each piece in context: the pieces concatenate to the decoded text
  for (int id : ids.value()) {
    if (!r.with_pieces) {
      tokens.push_back(id);
      continue;
    }
    // llama.cpp's shape: the piece as a string when it is valid UTF-8, else its bytes.
    const std::string piece = pieces.next(id);
    json p = piece;
    if (!is_valid_utf8(piece)) {
      p = json::array();
      for (unsigned char ch : piece) p.push_back(static_cast<int>(ch));
    }
    tokens.push_back({{"id", id}, {"piece", p}});
  }
  reply_json(res, 200, {{"tokens", tokens}});
}

void handle_detokenize(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const DetokenizeRequest r = parse_detokenize(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  access_info().model = lease->name;
  const Tokenizer& tok = lease->model->tokenizer();
  check_tokens(r.tokens, tok.vocab_size(), "tokens");
  reply_json(res, 200, {{"content", tok.decode(r.tokens, false)}});
}

namespace {

struct ExecuteStream : StreamBody {
  json job_id;
  int64_t tokens_out = 0;
  void event(JobEvent& e, std::string& out) override {
    if (e.kind == JobEvent::Kind::kToken) {
      ++tokens_out;
      out += sse({{"type", "token"}, {"t", e.text}});
      return;
    }
    out += sse({{"type", "end"}, {"job_id", job_id}, {"tokens_out", tokens_out}, {"finish_reason", e.result.finish_reason}});
  }
  void end(std::string& out) override {
    access_info().completion_tokens = tokens_out;
    if (auto err = job->error()) out += sse({{"type", "error"}, {"job_id", job_id}, {"message", err->what()}});
  }
};

}  // namespace

void handle_execute(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ExecuteRequest r = parse_execute(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  LoadedModel& m = *lease;
  access_info().model = m.name;
  SchedulerRequest q;
  q.prompt = encode(m, r.prompt, true, "prompt");
  if (q.prompt.empty()) throw bad_request("the prompt is empty (no tokens)", "prompt");
  q.params = generate_params(r.s, max_tokens_of(m, r.s, static_cast<int64_t>(q.prompt.size()), 128));
  access_info().prompt_tokens = static_cast<int64_t>(q.prompt.size());
  std::vector<SchedulerRequest> requests;
  requests.push_back(std::move(q));
  auto job = std::make_unique<GenerationJob>(*m.scheduler, ctx.metrics, m.name, true);
  job->submit(std::move(requests));
  auto body = std::make_shared<ExecuteStream>();
  body->job_id = r.job_id;
  body->lease = std::move(lease);
  body->job = std::move(job);
  stream(res, body);
}

}  // namespace wick::server
