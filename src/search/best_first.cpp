#include "search/best_first.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <queue>
#include <unordered_map>
#include <unordered_set>

namespace wick::search {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t mix(uint64_t a, uint64_t b) {  // splitmix64 of a pair: per-node seeds
  uint64_t x = a ^ (b + 0x9e3779b97f4a7c15ull + (a << 6) + (a >> 2));
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

struct Node {
  int id = 0, parent = -1, depth = 0, worker = -1, tokens = 0;
  std::string tactic, goals, source;
  std::vector<std::string> path;
  double logprob = 0, energy = 0, score = 0;
  bool has_energy = false;
  std::vector<int> children;
};

}  // namespace

bool banned_tactic(const std::string& t) {
  for (const char* word : {"sorry", "admit", "native_decide"}) {
    const std::string w(word);
    for (size_t at = t.find(w); at != std::string::npos; at = t.find(w, at + 1)) {
      const bool left = at == 0 || !(std::isalnum(static_cast<unsigned char>(t[at - 1])) || t[at - 1] == '_' || t[at - 1] == '.');
      const size_t end = at + w.size();
      const bool right = end >= t.size() || !(std::isalnum(static_cast<unsigned char>(t[end])) || t[end] == '_');
      if (left && right) return true;
    }
  }
  return false;
}

json SearchResult::to_json() const {
  json j = {{"name", name},
            {"proved", proved},
            {"tactics", tactics},
            {"proof", proof},
            {"stopped_by", stopped_by},
            {"nodes", nodes},
            {"nodes_expanded", expanded},
            {"depth", depth},
            {"tactics_tried", tactics_tried},
            {"wall_seconds", wall_seconds},
            {"policy_seconds", policy_seconds},
            {"repl_seconds", repl_seconds},
            {"energy_seconds", energy_seconds}};
  if (!error.empty()) j["error"] = error;
  return j;
}

ProofSearch::ProofSearch(Policy& policy, ReplPool& pool, const EnergyHead* head, SearchConfig config, std::string pool_header)
    : policy_(policy), pool_(pool), head_(head), cfg_(std::move(config)), pool_header_(std::move(pool_header)) {}

SearchResult ProofSearch::prove(const Theorem& th, uint64_t seed, std::vector<json>* trajectory) {
  const auto t0 = Clock::now();
  SearchResult res;
  res.name = th.name;
  std::vector<Node> nodes;
  std::unordered_map<std::string, int> by_goals;
  using Entry = std::pair<double, int>;  // score, -id: the best score first, then the oldest node
  std::priority_queue<Entry> open;
  std::vector<int> proof_path;  // node ids from the root to the state the last tactic closed
  std::string extra, cmd;
  try {
    extra = header_extra(th, pool_header_);
  } catch (const std::exception& e) {
    res.error = e.what();
    res.stopped_by = "error";
    return res;
  }
  cmd = theorem_command(th, extra);

  auto score_of = [&](const Node& n) {
    const double lp = cfg_.length_normalize ? n.logprob / std::max(1, n.tokens) : n.logprob;
    return cfg_.alpha * (lp / cfg_.llm_temperature) + cfg_.beta * (n.has_energy ? -n.energy / cfg_.ebm_temperature : 0.0);
  };
  auto add_state = [&](int parent, const std::string& tactic, const std::vector<std::string>& goals, double lp, int tokens, int worker,
                       const char* source) {
    const std::string text = goals_text(goals);
    if (by_goals.count(text)) return -1;  // the same state reached another way: one node
    Node n;
    n.id = static_cast<int>(nodes.size());
    n.parent = parent;
    n.tactic = tactic;
    n.goals = text;
    n.source = source;
    n.worker = worker;
    if (parent >= 0) {
      n.path = nodes[static_cast<size_t>(parent)].path;
      n.path.push_back(tactic);
      n.depth = nodes[static_cast<size_t>(parent)].depth + 1;
      n.logprob = nodes[static_cast<size_t>(parent)].logprob + lp;
      n.tokens = nodes[static_cast<size_t>(parent)].tokens + tokens;
      nodes[static_cast<size_t>(parent)].children.push_back(n.id);
    }
    by_goals[text] = n.id;
    res.depth = std::max(res.depth, n.depth);
    nodes.push_back(std::move(n));
    return static_cast<int>(nodes.size()) - 1;
  };
  auto out_of_budget = [&] { return static_cast<int>(nodes.size()) >= cfg_.max_nodes || since(t0) >= cfg_.timeout_per_theorem; };
  // A tactic closed the proof from `parent`: re-check the whole proof before believing it.
  auto try_proof = [&](int parent, const std::string& tactic) {
    std::vector<std::string> tactics = nodes[static_cast<size_t>(parent)].path;
    tactics.push_back(tactic);
    const std::string text = proof_text(th, extra, tactics);
    const auto t = Clock::now();
    const CheckResult c = pool_.check(text).get();
    res.repl_seconds += since(t);
    if (!c.ok) return false;
    res.proved = true;
    res.tactics = tactics;
    res.proof = text;
    res.depth = static_cast<int>(tactics.size());
    for (int id = parent; id >= 0; id = nodes[static_cast<size_t>(id)].parent) proof_path.push_back(id);
    std::reverse(proof_path.begin(), proof_path.end());
    return true;
  };
  // Applies (node, tactic) pairs in parallel; results in order. Returns the new node ids.
  auto apply_all = [&](const std::vector<std::pair<int, std::string>>& jobs, const std::vector<double>& lps, const std::vector<int>& toks,
                       const char* source, std::vector<int>& fresh) {
    std::vector<std::future<StepResult>> futs;
    for (const auto& [id, tac] : jobs)
      futs.push_back(pool_.apply(cmd, nodes[static_cast<size_t>(id)].path, tac, nodes[static_cast<size_t>(id)].worker));
    const auto t = Clock::now();
    std::vector<StepResult> results;
    for (auto& f : futs) results.push_back(f.get());
    res.repl_seconds += since(t);
    res.tactics_tried += static_cast<int>(jobs.size());
    for (size_t k = 0; k < jobs.size(); ++k) {
      const StepResult& r = results[k];
      if (r.kind == StepResult::Kind::kProved) {
        if (try_proof(jobs[k].first, jobs[k].second)) return;
      } else if (r.kind == StepResult::Kind::kState && nodes[static_cast<size_t>(jobs[k].first)].depth < cfg_.max_depth &&
                 static_cast<int>(nodes.size()) < cfg_.max_nodes) {
        const int id = add_state(jobs[k].first, jobs[k].second, r.goals, lps[k], toks[k], r.worker, source);
        if (id >= 0) fresh.push_back(id);
      }
    }
  };
  // Energies of states (in batches of batch_encode_size) from the policy's embeddings.
  auto score_energies = [&](const std::vector<int>& ids) {
    if (!head_) return;
    const size_t batch = static_cast<size_t>(std::max(1, cfg_.batch_encode_size));
    auto tmpl = PromptTemplate::from_string(head_->config().template_text);
    for (size_t b = 0; b < ids.size(); b += batch) {
      const size_t e = std::min(ids.size(), b + batch);
      std::vector<std::string> texts;
      for (size_t i = b; i < e; ++i) {
        const std::string& goals = nodes[static_cast<size_t>(ids[i])].goals;
        texts.push_back(tmpl ? tmpl->apply(goals) : goals);
      }
      const auto t = Clock::now();
      const auto vectors = policy_.embed(texts, head_->config().pooling);
      auto energies = head_->energies(vectors);
      res.energy_seconds += since(t);
      if (!energies) throw std::runtime_error(energies.error().what());
      for (size_t i = b; i < e; ++i) {
        Node& n = nodes[static_cast<size_t>(ids[i])];
        n.energy = energies.value()[i - b];
        n.has_energy = true;
      }
    }
  };
  // New states: probe tactics first (their results are new states too), then energies and scores.
  auto process_new = [&](std::vector<int> fresh) {
    std::vector<int> scored;
    while (!fresh.empty() && !res.proved) {
      scored.insert(scored.end(), fresh.begin(), fresh.end());
      std::vector<std::pair<int, std::string>> jobs;
      for (int id : fresh)
        for (const std::string& p : cfg_.probe_tactics)
          if (!banned_tactic(p)) jobs.emplace_back(id, p);
      std::vector<int> next;
      apply_all(jobs, std::vector<double>(jobs.size(), 0.0), std::vector<int>(jobs.size(), 0), "probe", next);
      if (out_of_budget()) break;
      fresh = std::move(next);
    }
    if (res.proved) return;
    score_energies(scored);
    for (int id : scored) {
      Node& n = nodes[static_cast<size_t>(id)];
      n.score = score_of(n);
      if (n.depth < cfg_.max_depth) open.push({n.score, -n.id});
    }
  };

  try {
    const auto t = Clock::now();
    const StepResult root = pool_.root(cmd).get();
    res.repl_seconds += since(t);
    if (root.kind != StepResult::Kind::kState) {
      res.error = root.error;
      res.stopped_by = "error";
      res.wall_seconds = since(t0);
      return res;
    }
    add_state(-1, "", root.goals, 0, 0, root.worker, "root");
    process_new({0});
    while (!res.proved) {
      if (since(t0) >= cfg_.timeout_per_theorem) {
        res.stopped_by = "time";
        break;
      }
      if (static_cast<int>(nodes.size()) >= cfg_.max_nodes) {
        res.stopped_by = "nodes";
        break;
      }
      if (open.empty()) {
        res.stopped_by = "exhausted";
        break;
      }
      std::vector<int> batch;
      while (!open.empty() && static_cast<int>(batch.size()) < std::max(1, cfg_.batch_expansion_size)) {
        batch.push_back(-open.top().second);
        open.pop();
      }
      std::vector<std::string> states;
      std::vector<uint64_t> seeds;
      for (int id : batch) {
        states.push_back(nodes[static_cast<size_t>(id)].goals);
        seeds.push_back(mix(seed, static_cast<uint64_t>(id)));
      }
      const auto tp = Clock::now();
      const auto cands = policy_.candidates(states, cfg_.num_candidates, seeds);
      res.policy_seconds += since(tp);
      res.expanded += static_cast<int>(batch.size());
      std::vector<std::pair<int, std::string>> jobs;
      std::vector<double> lps;
      std::vector<int> toks;
      for (size_t i = 0; i < batch.size(); ++i) {
        std::unordered_set<std::string> seen;
        for (const TacticCandidate& c : cands[i]) {
          if (c.tactic.empty() || banned_tactic(c.tactic) || !seen.insert(c.tactic).second) continue;
          jobs.emplace_back(batch[i], c.tactic);
          lps.push_back(c.logprob);
          toks.push_back(c.tokens);
        }
      }
      std::vector<int> fresh;
      apply_all(jobs, lps, toks, "policy", fresh);
      if (res.proved) break;
      process_new(std::move(fresh));
    }
  } catch (const std::exception& e) {
    res.error = e.what();
    res.stopped_by = "error";
  }
  if (res.proved) res.stopped_by = "proved";
  res.nodes = static_cast<int>(nodes.size());
  res.wall_seconds = since(t0);

  if (trajectory) {
    // States found in the round that ended the search were not scored yet: the trajectory
    // carries every state's energy.
    std::vector<int> unscored;
    for (const Node& n : nodes)
      if (!n.has_energy) unscored.push_back(n.id);
    try {
      score_energies(unscored);
    } catch (const std::exception& e) {
      if (res.error.empty()) res.error = e.what();
    }
    std::unordered_set<int> on_path(proof_path.begin(), proof_path.end());
    std::unordered_set<int> siblings;
    if (cfg_.harvest_siblings)
      for (int id : proof_path)
        for (int c : nodes[static_cast<size_t>(id)].children)
          if (!on_path.count(c)) siblings.insert(c);
    for (const Node& n : nodes) {
      json r = {{"theorem", th.name}, {"id", n.id},        {"parent", n.parent >= 0 ? json(n.parent) : json(nullptr)},
                {"tactic", n.tactic}, {"state", n.goals},  {"logprob", n.logprob},
                {"depth", n.depth},   {"source", n.source}};
      r["energy"] = n.has_energy ? json(n.energy) : json(nullptr);
      r["label"] = on_path.count(n.id) ? json(1) : siblings.count(n.id) ? json(0) : json(nullptr);
      trajectory->push_back(std::move(r));
    }
  }
  return res;
}

}  // namespace wick::search
