// POST /v1/completions: OpenAI's legacy completions as vLLM serves them — prompts as text or
// token ids (one or many), n choices each (choice index = prompt index * n + i), echo, legacy
// log-probs (the prompt's too with echo), streaming with an optional usage chunk.
#include <cmath>

#include "runtime/row_sinks.h"
#include "server/openai_format.h"
#include "server/server_context.h"

namespace wick::server {
namespace {

struct Prompt {
  std::vector<int> ids;
  std::string text;                            // echoed: the request's string, or the decoded token ids
  std::vector<float> logprobs;                 // echo + logprobs: log p of ids[1..]
  std::vector<std::vector<TokenLogprob>> top;  // and the top alternatives there
};

struct Completion {
  std::string id = new_id("cmpl-");
  int64_t created = unix_now();
  std::string model;
  int n = 1, logprobs = -1;
  bool echo = false, include_usage = false;
  std::vector<std::unique_ptr<Prompt>> prompts;
  std::vector<int> eos_ids;
  int64_t prompt_tokens = 0;
  const Tokenizer* tok = nullptr;

  json chunk(json choices) const {
    return {{"id", id}, {"object", "text_completion"}, {"created", created}, {"model", model}, {"choices", std::move(choices)}};
  }
  // The prompt's entries of the legacy log-probs (echo): the first token has none.
  void prompt_logprobs(const Prompt& p, LegacyLogprobs& lp, int64_t& offset) const {
    PieceDecoder pieces(*tok);
    for (size_t i = 0; i < p.ids.size(); ++i) {
      const float v = i == 0 ? NAN : p.logprobs[i - 1];
      json top = nullptr;
      if (i > 0) top = legacy_top(pieces, logprobs > 0 ? p.top[i - 1] : std::vector<TokenLogprob>{}, p.ids[i], v);
      lp.add(pieces.next(p.ids[i]), v, top, offset);
    }
  }
};

class CompletionStream : public StreamBody {
 public:
  explicit CompletionStream(std::shared_ptr<Completion> c, int choices)
      : c_(std::move(c)), echoed_(static_cast<size_t>(choices), false), offsets_(static_cast<size_t>(choices), 0) {
    for (int i = 0; i < choices; ++i) {
      pieces_.emplace_back(*c_->tok);
      pieces_.back().prime(c_->prompts[static_cast<size_t>(i / c_->n)]->ids);
    }
  }

  void event(JobEvent& e, std::string& out) override {
    const size_t ci = static_cast<size_t>(e.choice);
    if (c_->echo && !echoed_[ci]) {  // the prompt first (its log-probs are known once it is prefilled)
      echoed_[ci] = true;
      const Prompt& p = *c_->prompts[ci / static_cast<size_t>(c_->n)];
      json lp = nullptr;
      if (c_->logprobs >= 0) {
        LegacyLogprobs l;
        c_->prompt_logprobs(p, l, offsets_[ci]);
        lp = l.to_json();
      } else {
        offsets_[ci] += utf8_length(p.text);
      }
      out += sse(c_->chunk(
          json::array({{{"index", e.choice}, {"text", p.text}, {"logprobs", lp}, {"finish_reason", nullptr}, {"stop_reason", nullptr}}})));
    }
    if (e.kind == JobEvent::Kind::kToken) {
      ++completion_tokens_;
      if (e.text.empty() && c_->logprobs < 0) return;
      json lp = nullptr;
      if (c_->logprobs >= 0) {
        LegacyLogprobs l;
        const json top = legacy_top(pieces_[ci], e.top, e.token, e.logprob);
        l.add(pieces_[ci].next(e.token), e.logprob, top, offsets_[ci]);
        lp = l.to_json();
      }
      out += sse(c_->chunk(
          json::array({{{"index", e.choice}, {"text", e.text}, {"logprobs", lp}, {"finish_reason", nullptr}, {"stop_reason", nullptr}}})));
      return;
    }
    out += sse(c_->chunk(json::array({{{"index", e.choice},
                                       {"text", ""},
                                       {"logprobs", nullptr},
                                       {"finish_reason", e.result.finish_reason},
                                       {"stop_reason", stop_reason_json(e.result, c_->eos_ids)}}})));
  }

  void end(std::string& out) override {
    access_info().completion_tokens = completion_tokens_;
    if (auto err = job->error()) {
      out += stream_error(*err);
      return;
    }
    if (c_->include_usage) {
      json u = c_->chunk(json::array());
      u["usage"] = usage_json(c_->prompt_tokens, completion_tokens_);
      out += sse(u);
    }
    out += "data: [DONE]\n\n";
  }

 private:
  std::shared_ptr<Completion> c_;
  std::vector<bool> echoed_;
  std::vector<int64_t> offsets_;
  std::vector<PieceDecoder> pieces_;
  int64_t completion_tokens_ = 0;
};

}  // namespace

void handle_completions(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const CompletionRequest r = parse_completion(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  LoadedModel& m = *lease;
  access_info().model = m.name;
  if (r.s.n > m.scheduler->max_choices())
    throw bad_request("'n' must be in 1.." + std::to_string(m.scheduler->max_choices()) + " for this server", "n");

  auto c = std::make_shared<Completion>();
  c->model = m.name;
  c->n = r.s.n;
  c->logprobs = r.logprobs;
  c->echo = r.echo;
  c->include_usage = r.s.include_usage;
  c->tok = &m.model->tokenizer();
  c->eos_ids = m.model->config().eos_token_ids;
  if (c->tok->eos_id() >= 0) c->eos_ids.push_back(c->tok->eos_id());
  const int vocab = m.model->config().vocab_size;
  std::vector<SchedulerRequest> requests;
  for (const PromptInput& in : r.prompts) {
    auto p = std::make_unique<Prompt>();
    p->ids = in.is_tokens ? in.tokens : encode(m, in.text, r.add_special_tokens, "prompt");
    if (p->ids.empty()) throw bad_request("the prompt is empty (no tokens)", "prompt");
    check_tokens(p->ids, vocab, "prompt");
    p->text = in.is_tokens ? c->tok->decode(p->ids, false) : in.text;
    c->prompt_tokens += static_cast<int64_t>(p->ids.size());
    SchedulerRequest q;
    q.prompt = p->ids;
    q.n = r.s.n;
    q.params = generate_params(r.s, max_tokens_of(m, r.s, static_cast<int64_t>(p->ids.size()), 16));
    q.params.top_logprobs = std::max(r.logprobs, 0);
    if (r.echo && r.logprobs >= 0 && p->ids.size() > 1) {
      q.rows_from = 0;
      q.callbacks.on_prompt_rows = prompt_logprob_sink(p->ids, vocab, p->logprobs, r.logprobs, &p->top);
    } else {
      p->logprobs.assign(p->ids.size() > 0 ? p->ids.size() - 1 : 0, 0.0f);
      p->top.assign(p->logprobs.size(), {});
    }
    requests.push_back(std::move(q));
    c->prompts.push_back(std::move(p));
  }
  access_info().prompt_tokens = c->prompt_tokens;

  auto job = std::make_unique<GenerationJob>(*m.scheduler, ctx.metrics, m.name, r.s.stream);
  job->submit(std::move(requests));
  if (r.s.stream) {
    auto body = std::make_shared<CompletionStream>(c, job->choices());
    body->lease = std::move(lease);
    body->state = c;
    body->job = std::move(job);
    stream(res, body);
    return;
  }
  job->wait();
  if (auto err = job->error()) throw from_error(*err);
  json choices = json::array();
  int64_t completion_tokens = 0;
  for (int i = 0; i < job->choices(); ++i) {
    const GenerateResult& g = job->results()[static_cast<size_t>(i)];
    const Prompt& p = *c->prompts[static_cast<size_t>(i / r.s.n)];
    completion_tokens += static_cast<int64_t>(g.tokens.size());
    json lp = nullptr;
    if (r.logprobs >= 0) {
      LegacyLogprobs l;
      int64_t offset = 0;
      if (r.echo) c->prompt_logprobs(p, l, offset);
      PieceDecoder pieces(*c->tok);
      pieces.prime(p.ids);
      for (size_t t = 0; t < g.tokens.size(); ++t) {
        const json top = legacy_top(pieces, r.logprobs > 0 ? g.top_logprobs[t] : std::vector<TokenLogprob>{}, g.tokens[t], g.logprobs[t]);
        l.add(pieces.next(g.tokens[t]), g.logprobs[t], top, offset);
      }
      lp = l.to_json();
    }
    choices.push_back({{"index", i},
                       {"text", (r.echo ? p.text : "") + g.text},
                       {"logprobs", lp},
                       {"finish_reason", g.finish_reason},
                       {"stop_reason", stop_reason_json(g, c->eos_ids)}});
  }
  access_info().completion_tokens = completion_tokens;
  json out = c->chunk(std::move(choices));
  out["usage"] = usage_json(c->prompt_tokens, completion_tokens);
  reply_json(res, 200, out);
}

}  // namespace wick::server
