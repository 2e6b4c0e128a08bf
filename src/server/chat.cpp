// POST /v1/chat/completions and POST /apply-template: the conversation rendered with the model's
// chat template (or --chat-template), then generated like a completion; chat-format log-probs;
// streaming starts with a role delta per choice and ends every choice with a finish_reason.
#include "server/openai_format.h"
#include "server/server_context.h"

namespace wick::server {
namespace {

std::string render_prompt(const LoadedModel& m, const json& messages, const json& tools, const json& kwargs, bool add_generation_prompt) {
  if (!m.chat_template) throw bad_request(m.chat_template_error, "messages");
  json vars = m.special_tokens;
  for (auto it = kwargs.begin(); it != kwargs.end(); ++it) vars[it.key()] = it.value();
  vars["messages"] = messages;
  if (!tools.is_null()) vars["tools"] = tools;
  vars["add_generation_prompt"] = add_generation_prompt;
  auto text = m.chat_template->render(vars);
  if (!text) throw bad_request(std::string("chat template: ") + text.error().what(), "messages");
  return text.value();
}

struct Chat {
  std::string id = new_id("chatcmpl-");
  int64_t created = unix_now();
  std::string model;
  std::vector<int> prompt;
  std::vector<int> eos_ids;
  bool logprobs = false, include_usage = false;
  int top_logprobs = 0;
  const Tokenizer* tok = nullptr;

  json chunk(json choices, const char* object) const {
    return {{"id", id}, {"object", object}, {"created", created}, {"model", model}, {"choices", std::move(choices)}};
  }
};

class ChatStream : public StreamBody {
 public:
  ChatStream(std::shared_ptr<Chat> c, int choices) : c_(std::move(c)), n_(choices) {
    for (int i = 0; i < choices; ++i) {
      pieces_.emplace_back(*c_->tok);
      pieces_.back().prime(c_->prompt);
    }
  }
  void begin(std::string& out) override {
    for (int i = 0; i < n_; ++i)
      out += sse(c_->chunk(
          json::array(
              {{{"index", i}, {"delta", {{"role", "assistant"}, {"content", ""}}}, {"logprobs", nullptr}, {"finish_reason", nullptr}}}),
          "chat.completion.chunk"));
  }
  void event(JobEvent& e, std::string& out) override {
    const size_t ci = static_cast<size_t>(e.choice);
    if (e.kind == JobEvent::Kind::kToken) {
      ++completion_tokens_;
      if (e.text.empty() && !c_->logprobs) return;
      json lp = nullptr;
      if (c_->logprobs) lp = {{"content", json::array({chat_logprob_entry(pieces_[ci], e.token, e.logprob, e.top, c_->top_logprobs)})}};
      out += sse(
          c_->chunk(json::array({{{"index", e.choice}, {"delta", {{"content", e.text}}}, {"logprobs", lp}, {"finish_reason", nullptr}}}),
                    "chat.completion.chunk"));
      return;
    }
    out += sse(c_->chunk(json::array({{{"index", e.choice},
                                       {"delta", json::object()},
                                       {"logprobs", nullptr},
                                       {"finish_reason", e.result.finish_reason},
                                       {"stop_reason", stop_reason_json(e.result, c_->eos_ids)}}}),
                         "chat.completion.chunk"));
  }
  void end(std::string& out) override {
    access_info().completion_tokens = completion_tokens_;
    if (auto err = job->error()) {
      out += stream_error(*err);
      return;
    }
    if (c_->include_usage) {
      json u = c_->chunk(json::array(), "chat.completion.chunk");
      u["usage"] = usage_json(static_cast<int64_t>(c_->prompt.size()), completion_tokens_);
      out += sse(u);
    }
    out += "data: [DONE]\n\n";
  }

 private:
  std::shared_ptr<Chat> c_;
  int n_;
  std::vector<PieceDecoder> pieces_;
  int64_t completion_tokens_ = 0;
};

}  // namespace

void handle_chat(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ChatRequest r = parse_chat(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  LoadedModel& m = *lease;
  access_info().model = m.name;
  if (r.s.n > m.scheduler->max_choices())
    throw bad_request("'n' must be in 1.." + std::to_string(m.scheduler->max_choices()) + " for this server", "n");
  auto c = std::make_shared<Chat>();
  c->model = m.name;
  c->logprobs = r.logprobs;
  c->top_logprobs = r.top_logprobs;
  c->include_usage = r.s.include_usage;
  c->tok = &m.model->tokenizer();
  c->eos_ids = m.model->config().eos_token_ids;
  if (c->tok->eos_id() >= 0) c->eos_ids.push_back(c->tok->eos_id());
  // The template writes the special tokens itself (transformers and vLLM add none for chat).
  c->prompt = encode(m, render_prompt(m, r.messages, r.tools, r.template_kwargs, r.add_generation_prompt), false, "messages");
  if (c->prompt.empty()) throw bad_request("the chat template rendered an empty prompt", "messages");
  access_info().prompt_tokens = static_cast<int64_t>(c->prompt.size());

  SchedulerRequest q;
  q.prompt = c->prompt;
  q.n = r.s.n;
  q.params = generate_params(r.s, max_tokens_of(m, r.s, static_cast<int64_t>(c->prompt.size()), -1));
  q.params.top_logprobs = r.logprobs ? r.top_logprobs : 0;
  std::vector<SchedulerRequest> requests;
  requests.push_back(std::move(q));
  auto job = std::make_unique<GenerationJob>(*m.scheduler, ctx.metrics, m.name, r.s.stream);
  job->submit(std::move(requests));
  if (r.s.stream) {
    auto body = std::make_shared<ChatStream>(c, job->choices());
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
    completion_tokens += static_cast<int64_t>(g.tokens.size());
    json lp = nullptr;
    if (r.logprobs) {
      PieceDecoder pieces(*c->tok);
      pieces.prime(c->prompt);
      json content = json::array();
      for (size_t t = 0; t < g.tokens.size(); ++t)
        content.push_back(chat_logprob_entry(pieces, g.tokens[t], g.logprobs[t],
                                             r.top_logprobs > 0 ? g.top_logprobs[t] : std::vector<TokenLogprob>{}, r.top_logprobs));
      lp = {{"content", content}};
    }
    choices.push_back({{"index", i},
                       {"message", {{"role", "assistant"}, {"content", g.text}}},
                       {"logprobs", lp},
                       {"finish_reason", g.finish_reason},
                       {"stop_reason", stop_reason_json(g, c->eos_ids)}});
  }
  access_info().completion_tokens = completion_tokens;
  json out = c->chunk(std::move(choices), "chat.completion");
  out["usage"] = usage_json(static_cast<int64_t>(c->prompt.size()), completion_tokens);
  reply_json(res, 200, out);
}

void handle_apply_template(ServerContext& ctx, const httplib::Request& req, httplib::Response& res) {
  const ApplyTemplateRequest r = parse_apply_template(parse_body(req.body));
  ModelPool::Lease lease = ctx.pool.acquire(r.model);
  access_info().model = lease->name;
  reply_json(res, 200, {{"prompt", render_prompt(*lease, r.messages, r.tools, r.template_kwargs, r.add_generation_prompt)}});
}

}  // namespace wick::server
