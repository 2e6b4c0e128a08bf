#include "search/policy.h"

#include <httplib.h>

#include <climits>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>

#include "runtime/row_sinks.h"
#include "wick/generator.h"

namespace wick::search {

std::string clean_tactic(const std::string& text) {
  const size_t a = text.find_first_not_of(" \t\r\n");
  if (a == std::string::npos) return "";
  const size_t b = text.find_last_not_of(" \t\r\n");
  return text.substr(a, b - a + 1);
}

namespace {

// Waits for a set of scheduler requests (their callbacks run on the scheduler's thread).
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  int left = 0;
  void done() {
    std::lock_guard<std::mutex> lock(mu);
    --left;
    cv.notify_all();
  }
  void wait() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  }
};

class LocalPolicy final : public Policy {
 public:
  LocalPolicy(Scheduler& s, PolicySettings p) : s_(s), p_(std::move(p)) {}

  std::vector<std::vector<TacticCandidate>> candidates(const std::vector<std::string>& states, int n,
                                                       const std::vector<uint64_t>& seeds) override {
    const Tokenizer& tok = s_.model().tokenizer();
    std::vector<std::vector<GenerateResult>> choices(states.size());
    Pending pending;
    const int ctx = s_.engine_options().context_length;
    n = std::max(1, std::min(n, s_.max_choices()));
    for (size_t i = 0; i < states.size(); ++i) {
      std::string text = p_.prompt.apply(states[i]);
      bool special = true;
      if (p_.chat) {
        nlohmann::ordered_json vars = p_.chat_vars;
        vars["messages"] = nlohmann::ordered_json::array({{{"role", "user"}, {"content", text}}});
        vars["add_generation_prompt"] = true;
        auto rendered = p_.chat->render(vars);
        if (!rendered) throw std::runtime_error("policy chat template: " + std::string(rendered.error().what()));
        text = std::move(rendered.value());
        special = false;  // the template writes its own special tokens
      }
      auto ids = tok.encode(text, {special, true});
      if (!ids || ids->empty() || static_cast<int>(ids->size()) + p_.max_tokens > ctx) continue;
      SchedulerRequest q;
      q.prompt = std::move(ids.value());
      q.n = n;
      q.params.sampling = p_.sampling;
      q.params.sampling.seed = seeds[i];
      q.params.max_new_tokens = p_.max_tokens;
      q.params.stop = p_.prompt.stop;
      for (int c = 0; c < n; ++c) q.seeds.push_back(sequence_seed(seeds[i], c));  // as generate_candidates
      choices[i].resize(static_cast<size_t>(n));
      auto* out = &choices[i];
      q.callbacks.on_choice_done = [out](int c, GenerateResult&& r) { (*out)[static_cast<size_t>(c)] = std::move(r); };
      q.callbacks.on_done = [&pending](const Error*) { pending.done(); };
      {
        std::lock_guard<std::mutex> lock(pending.mu);
        ++pending.left;
      }
      auto id = s_.submit(std::move(q));
      if (!id) {
        pending.done();
        choices[i].clear();
      }
    }
    pending.wait();
    std::vector<std::vector<TacticCandidate>> out(states.size());
    for (size_t i = 0; i < states.size(); ++i) {
      if (choices[i].empty()) continue;
      CandidatesResult ranked;
      rank_candidates(std::move(choices[i]), ranked);
      for (const GenerateResult& g : ranked.candidates)
        out[i].push_back({clean_tactic(g.text), g.logprob, static_cast<int>(g.tokens.size())});
    }
    return out;
  }

  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Pooling pooling) override {
    const Tokenizer& tok = s_.model().tokenizer();
    const int H = s_.model().config().hidden_size;
    std::vector<std::unique_ptr<PoolingSink>> sinks;
    std::vector<int> counts;
    Pending pending;
    std::string failure;
    for (const std::string& t : texts) {
      auto ids = tok.encode(t);
      if (!ids || ids->empty()) throw std::runtime_error("embed: a state gives no tokens");
      const int count = static_cast<int>(ids->size());
      sinks.push_back(std::make_unique<PoolingSink>(H, count, pooling));
      PoolingSink* sink = sinks.back().get();
      SchedulerRequest q;
      q.prompt = std::move(ids.value());
      q.params.max_new_tokens = 0;
      q.hidden = true;
      q.rows_from = pooling == Pooling::kMean ? 0 : INT_MAX;
      q.callbacks.on_prompt_rows = [sink](int pos, const float* rows, int n) { (*sink)(pos, rows, n); };
      q.callbacks.on_restart = [sink] { sink->reset(); };
      q.callbacks.on_done = [&pending, &failure](const Error* e) {
        if (e) {
          std::lock_guard<std::mutex> lock(pending.mu);
          failure = e->what();
        }
        pending.done();
      };
      {
        std::lock_guard<std::mutex> lock(pending.mu);
        ++pending.left;
      }
      auto id = s_.submit(std::move(q));
      if (!id) {
        pending.done();
        pending.wait();
        throw std::runtime_error("embed: " + std::string(id.error().what()));
      }
    }
    pending.wait();
    if (!failure.empty()) throw std::runtime_error("embed: " + failure);
    std::vector<std::vector<float>> out;
    for (size_t i = 0; i < sinks.size(); ++i) out.push_back(sinks[i]->finish(false, "state " + std::to_string(i)));
    return out;
  }

 private:
  Scheduler& s_;
  PolicySettings p_;
};

class RemotePolicy final : public Policy {
 public:
  RemotePolicy(std::string url, std::string key, std::string model, PolicySettings p, std::string tname, std::string tstring)
      : url_(std::move(url)),
        key_(std::move(key)),
        model_(std::move(model)),
        p_(std::move(p)),
        tname_(std::move(tname)),
        tstring_(std::move(tstring)) {}

  std::vector<std::vector<TacticCandidate>> candidates(const std::vector<std::string>& states, int n,
                                                       const std::vector<uint64_t>& seeds) override {
    std::vector<std::vector<TacticCandidate>> out(states.size());
    std::vector<std::string> errors(states.size());
    // One request per state, all in flight together: the server's scheduler batches them.
    std::vector<std::thread> threads;
    for (size_t i = 0; i < states.size(); ++i)
      threads.emplace_back([&, i] {
        nlohmann::json body = {{"state", states[i]},          {"n", n},
                               {"max_tokens", p_.max_tokens}, {"temperature", p_.sampling.temperature},
                               {"top_p", p_.sampling.top_p},  {"seed", seeds[i]}};
        if (p_.sampling.top_k > 0) body["top_k"] = p_.sampling.top_k;
        if (!tstring_.empty())
          body["template_string"] = tstring_;
        else
          body["template"] = tname_.empty() ? "plain" : tname_;
        if (!model_.empty()) body["model"] = model_;
        nlohmann::json r = post("/v1/candidates", body, &errors[i]);
        if (r.is_object() && r.contains("candidates"))
          for (const auto& c : r["candidates"])
            out[i].push_back({clean_tactic(c.value("text", "")), c.value("logprob", 0.0),
                              static_cast<int>(c.value("tokens", nlohmann::json::array()).size())});
      });
    for (auto& t : threads) t.join();
    for (const auto& e : errors)
      if (!e.empty() && e.find("HTTP 400") == std::string::npos) throw std::runtime_error("policy server: " + e);
    return out;
  }

  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Pooling pooling) override {
    nlohmann::json body = {{"input", texts}, {"pooling", pooling == Pooling::kMean ? "mean" : "last"}, {"encoding_format", "float"}};
    if (!model_.empty()) body["model"] = model_;
    std::string error;
    nlohmann::json r = post("/v1/embeddings", body, &error);
    if (!error.empty()) throw std::runtime_error("policy server: " + error);
    std::vector<std::vector<float>> out(texts.size());
    for (const auto& d : r["data"]) out[d["index"].get<size_t>()] = d["embedding"].get<std::vector<float>>();
    return out;
  }

 private:
  nlohmann::json post(const std::string& path, const nlohmann::json& body, std::string* error) {
    httplib::Client cli(url_);
    cli.set_read_timeout(3600, 0);
    cli.set_tcp_nodelay(true);
    httplib::Headers h;
    if (!key_.empty()) h.emplace("Authorization", "Bearer " + key_);
    auto res = cli.Post(path.c_str(), h, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json");
    if (!res) {
      *error = url_ + path + ": " + httplib::to_string(res.error());
      return nullptr;
    }
    if (res->status != 200) {
      *error = url_ + path + ": HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300);
      return nullptr;
    }
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    if (j.is_discarded()) *error = url_ + path + ": the reply is not JSON";
    return j;
  }

  std::string url_, key_, model_;
  PolicySettings p_;
  std::string tname_, tstring_;
};

}  // namespace

std::unique_ptr<Policy> make_local_policy(Scheduler& scheduler, PolicySettings settings) {
  return std::make_unique<LocalPolicy>(scheduler, std::move(settings));
}

std::unique_ptr<Policy> make_remote_policy(const std::string& url, const std::string& api_key, const std::string& model,
                                           PolicySettings settings, const std::string& template_name, const std::string& template_string) {
  return std::make_unique<RemotePolicy>(url, api_key, model, std::move(settings), template_name, template_string);
}

}  // namespace wick::search
