#include "prove_command.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <iostream>
#include <mutex>
#include <thread>

#include "search/search_config.h"
#include "wick/energy_head.h"
#include "wick/prompt_template.h"

namespace wick::cli {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t theorem_seed(uint64_t seed, size_t index) {  // splitmix64: a stream per theorem
  uint64_t x = seed + 0x9e3779b97f4a7c15ull * (index + 1);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// --shard i/N: theorems i, i+N, i+2N, ... (0-based).
bool parse_shard(const std::string& s, size_t* i, size_t* n) {
  const size_t slash = s.find('/');
  if (slash == std::string::npos) return false;
  try {
    *i = std::stoul(s.substr(0, slash));
    *n = std::stoul(s.substr(slash + 1));
  } catch (...) {
    return false;
  }
  return *n > 0 && *i < *n;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    const size_t comma = s.find(',', start);
    const std::string item = search::clean_tactic(s.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

CLI::App* ProveCommand::add(CLI::App& parent) {
  auto* c = parent.add_subcommand("prove", "best-first Lean 4 proof search with the policy model, an energy head and Lean REPLs");
  app = c;
  auto* m = c->add_option("-m,--model", model, "the policy model (HF directory or GGUF)");
  c->add_option("--policy-url", policy_url, "use a `wick serve` endpoint (/v1/candidates, /v1/embeddings) as the policy")->excludes(m);
  c->add_option("--policy-model", policy_model, "the model name at --policy-url");
  c->add_option("--api-key", api_key, "bearer token for --policy-url");
  c->add_option("--theorems", theorems, "theorems: DeepSeek-Prover / miniF2F JSONL, or a .lean file of `theorem ... := by sorry`")
      ->required();
  c->add_option("--repl", repl, "the command line that starts one Lean REPL (e.g. 'lake env .lake/build/bin/repl')")->required();
  c->add_option("--repl-cwd", repl_cwd, "working directory of the REPLs (the Lean project)");
  c->add_option("--header", header, "the proof header every REPL imports (default: the first theorem's header)");
  c->add_option("--lean-workers", lean_workers, "REPL processes");
  c->add_option("--tactic-timeout", tactic_timeout, "seconds per tactic; a REPL that takes longer is killed and restarted");
  c->add_option("--repl-memory-mb", repl_memory_mb, "address-space limit of each REPL process (0: none)");
  c->add_option("--repl-max-commands", max_commands, "restart a REPL after this many requests (its memory grows)");
  c->add_option("--config", config_file, "search settings: a TOML file with a [search] table");
  c->add_option("--head", head_dir, "an energy head directory (head.json + head.safetensors)");
  c->add_option(
      "--template", template_name, "policy prompt preset (" + [] {
        std::string s;
        for (const auto& n : PromptTemplate::preset_names()) s += (s.empty() ? "" : ", ") + n;
        return s;
      }() + ")");
  c->add_option("--template-string", template_string, "a policy prompt with one {state}");
  c->add_option("--chat-template", chat_template,
                "send the (templated) state as a chat message: 'model' for the model's chat template, or a Jinja file");
  c->add_option("--jobs", jobs, "theorems searched at once (their candidates decode in the same batches)");
  c->add_option("--shard", shard, "i/N: search theorems i, i+N, ... (0-based); result files concatenate");
  c->add_option("--out", out, "results JSONL: one object per theorem");
  c->add_option("--trajectories", trajectories, "trajectories JSONL: every visited state, labelled for energy-head training");
  c->add_option("--seed", seed, "random seed (the search is deterministic for a seed)");
  c->add_flag("--json", json, "print a JSON summary on stdout");
  c->add_option("--max-nodes", max_nodes, "states per theorem");
  c->add_option("--max-depth", max_depth, "tactics from the root");
  c->add_option("--num-candidates", num_candidates, "tactics asked for per expanded state");
  c->add_option("--alpha", alpha, "weight of the log-prob term of a state's score");
  c->add_option("--beta", beta, "weight of the energy term of a state's score");
  c->add_option("--llm-temperature", llm_temperature, "divides the log-prob term");
  c->add_option("--ebm-temperature", ebm_temperature, "divides the energy term");
  c->add_option("--timeout-per-theorem", timeout_per_theorem, "seconds per theorem");
  c->add_option("--batch-expansion-size", batch_expansion_size, "best states expanded together");
  c->add_option("--batch-encode-size", batch_encode_size, "states embedded together for the energy head");
  c->add_flag("--harvest-siblings", harvest_siblings, "label the failed siblings of the proof path as negatives");
  c->add_flag("--length-normalize", length_normalize, "score by log-prob per tactic token");
  c->add_option("--probe-tactics", probe_tactics, "comma-separated tactics tried on every new state ('' for none)");
  c->add_option("--temperature", temperature, "policy sampling temperature");
  c->add_option("--top-p", top_p, "policy nucleus sampling");
  c->add_option("--top-k", top_k, "policy top-k (0: off)");
  c->add_option("--max-tokens", max_tokens, "tokens per tactic");
  engine.add(c);
  return c;
}

int ProveCommand::run() const {
  search::SearchConfig cfg;
  search::SamplingSettings sampling;
  try {
    if (!config_file.empty()) search::load_search_toml(config_file, cfg, sampling);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wick: error: %s\n", e.what());
    return 2;
  }
  auto given = [&](const char* flag) { return app->count(flag) > 0; };
  if (given("--max-nodes")) cfg.max_nodes = max_nodes;
  if (given("--max-depth")) cfg.max_depth = max_depth;
  if (given("--num-candidates")) cfg.num_candidates = num_candidates;
  if (given("--alpha")) cfg.alpha = alpha;
  if (given("--beta")) cfg.beta = beta;
  if (given("--llm-temperature")) cfg.llm_temperature = llm_temperature;
  if (given("--ebm-temperature")) cfg.ebm_temperature = ebm_temperature;
  if (given("--timeout-per-theorem")) cfg.timeout_per_theorem = timeout_per_theorem;
  if (given("--batch-expansion-size")) cfg.batch_expansion_size = batch_expansion_size;
  if (given("--batch-encode-size")) cfg.batch_encode_size = batch_encode_size;
  if (given("--harvest-siblings")) cfg.harvest_siblings = true;
  if (given("--length-normalize")) cfg.length_normalize = true;
  if (given("--probe-tactics")) cfg.probe_tactics = split_list(probe_tactics);
  if (given("--temperature")) sampling.temperature = temperature;
  if (given("--top-p")) sampling.top_p = top_p;
  if (given("--top-k")) sampling.top_k = top_k;
  if (given("--max-tokens")) sampling.max_tokens = max_tokens;
  size_t shard_i = 0, shard_n = 1;
  if (!shard.empty() && !parse_shard(shard, &shard_i, &shard_n)) {
    std::fprintf(stderr, "wick: error: --shard must be i/N with 0 <= i < N, got '%s'\n", shard.c_str());
    return 2;
  }
  if (model.empty() && policy_url.empty()) {
    std::fprintf(stderr, "wick: error: give the policy: -m MODEL or --policy-url URL\n");
    return 2;
  }
  std::vector<search::Theorem> all;
  try {
    search::validate(cfg, sampling);
    all = search::load_theorems(theorems);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "wick: error: %s\n", e.what());
    return 2;
  }
  std::vector<size_t> mine;  // indices into all: the shard's theorems
  for (size_t i = shard_i; i < all.size(); i += shard_n) mine.push_back(i);

  auto tmpl = !template_string.empty() ? PromptTemplate::from_string(template_string) : PromptTemplate::preset(template_name);
  if (!tmpl) return fail(tmpl.error());
  search::PolicySettings ps;
  ps.prompt = tmpl.value();
  ps.sampling.temperature = static_cast<float>(sampling.temperature);
  ps.sampling.top_p = static_cast<float>(sampling.top_p);
  ps.sampling.top_k = sampling.top_k;
  ps.max_tokens = sampling.max_tokens;

  std::unique_ptr<EnergyHead> head;
  if (!head_dir.empty()) {
    auto h = EnergyHead::load(head_dir, engine.threads, engine.device);
    if (!h) return fail(h.error());
    head = std::move(h.value());
  } else if (cfg.beta != 0) {
    std::fprintf(stderr, "wick: error: beta is %g but no --head was given\n", cfg.beta);
    return 2;
  }

  std::shared_ptr<Model> loaded;
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<search::Policy> policy;
  if (!model.empty()) {
    int rc = 0;
    loaded = load_or_report(model, &rc, engine.dtype);
    if (!loaded) return rc;
    if (head) {
      auto ok = head->check_model(*loaded);
      if (!ok) return fail(ok.error());
      const std::string w = head->dtype_warning(*loaded);
      if (!w.empty()) std::fprintf(stderr, "wick: warning: %s\n", w.c_str());
    }
    SchedulerOptions so;
    so.engine = engine.options();
    // Every search thread's expansions decode together: room for all their candidates.
    const int want = std::min(256, std::max(64, cfg.num_candidates * cfg.batch_expansion_size * std::max(1, jobs)));
    so.engine.max_sequences = want;
    so.engine.max_logits_rows = want;
    so.engine.max_batch_tokens = std::max(so.engine.max_batch_tokens, want);
    auto s = Scheduler::create(loaded, so);
    if (!s) return fail(s.error());
    scheduler = std::move(s.value());
    if (!chat_template.empty()) {
      std::string source = loaded->tokenizer().chat_template();
      if (chat_template != "model") {
        std::ifstream f(chat_template, std::ios::binary);
        if (!f) {
          std::fprintf(stderr, "wick: error: cannot read %s\n", chat_template.c_str());
          return 2;
        }
        source.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
      }
      if (source.empty()) {
        std::fprintf(stderr, "wick: error: the model has no chat template (give --chat-template FILE.jinja)\n");
        return 2;
      }
      auto ct = ChatTemplate::parse(source);
      if (!ct) return fail(ct.error());
      ps.chat = ct.value();
      ps.chat_vars = special_tokens_context(loaded->tokenizer());
    }
    policy = search::make_local_policy(*scheduler, ps);
  } else {
    if (!chat_template.empty()) {
      std::fprintf(stderr, "wick: error: --chat-template needs a local model (-m); a policy server applies its own templates\n");
      return 2;
    }
    policy =
        search::make_remote_policy(policy_url, api_key, policy_model, ps, template_string.empty() ? template_name : "", template_string);
  }

  search::ReplOptions ro;
  ro.command = repl;
  ro.cwd = repl_cwd;
  ro.header = !header.empty() ? header : all.front().header;
  ro.timeout_seconds = tactic_timeout;
  ro.memory_limit_bytes = static_cast<size_t>(repl_memory_mb * 1024 * 1024);
  ro.max_commands = max_commands;
  search::ReplPool pool(ro, lean_workers);

  std::ofstream out_file, traj_file;
  if (!out.empty()) out_file.open(out);
  if (!trajectories.empty()) traj_file.open(trajectories);
  if ((!out.empty() && !out_file) || (!trajectories.empty() && !traj_file)) {
    std::fprintf(stderr, "wick: error: cannot write %s\n", !out_file ? out.c_str() : trajectories.c_str());
    return 1;
  }

  const auto t0 = Clock::now();
  std::mutex mu;
  std::vector<search::SearchResult> results(mine.size());
  std::atomic<size_t> next{0};
  size_t done = 0, proved = 0;
  int64_t nodes = 0;
  const bool tty = isatty(2);
  auto worker = [&] {
    search::ProofSearch ps_search(*policy, pool, head.get(), cfg, ro.header);
    for (size_t k; (k = next++) < mine.size();) {
      std::vector<nlohmann::json> traj;
      search::SearchResult r = ps_search.prove(all[mine[k]], theorem_seed(seed, mine[k]), traj_file.is_open() ? &traj : nullptr);
      std::lock_guard<std::mutex> lock(mu);
      if (out_file) out_file << r.to_json().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n" << std::flush;
      for (const auto& t : traj) traj_file << t.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
      traj_file.flush();
      ++done;
      proved += r.proved ? 1 : 0;
      nodes += r.nodes;
      if (tty) {
        const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
        std::fprintf(stderr, "\r[prove] %zu/%zu done, %zu proved, %.1f nodes/s   ", done, mine.size(), proved, secs > 0 ? nodes / secs : 0);
        std::fflush(stderr);
      }
      results[k] = std::move(r);
    }
  };
  std::vector<std::thread> threads;
  for (int j = 0; j < std::max(1, jobs); ++j) threads.emplace_back(worker);
  for (auto& t : threads) t.join();
  if (tty) std::fprintf(stderr, "\n");

  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  double policy_s = 0, repl_s = 0, energy_s = 0;
  int64_t expanded = 0, tactics = 0;
  for (const auto& r : results) {
    policy_s += r.policy_seconds;
    repl_s += r.repl_seconds;
    energy_s += r.energy_seconds;
    expanded += r.expanded;
    tactics += r.tactics_tried;
  }
  const search::PoolStats st = pool.stats();
  nlohmann::json summary = {{"theorems", mine.size()},
                            {"proved", proved},
                            {"pass_rate", mine.empty() ? 0.0 : double(proved) / mine.size()},
                            {"nodes", nodes},
                            {"expansions", expanded},
                            {"tactics", tactics},
                            {"wall_seconds", wall},
                            {"expansions_per_second", wall > 0 ? expanded / wall : 0},
                            {"nodes_per_second", wall > 0 ? nodes / wall : 0},
                            {"policy_seconds", policy_s},
                            {"repl_seconds", repl_s},
                            {"energy_seconds", energy_s},
                            {"repl",
                             {{"requests", st.tactics},
                              {"replayed", st.replayed},
                              {"timeouts", st.timeouts},
                              {"crashes", st.crashes},
                              {"restarts", st.restarts},
                              {"checks", st.checks}}},
                            {"jobs", jobs},
                            {"lean_workers", lean_workers}};
  if (json) {
    std::cout << dump(summary) << "\n";
  } else {
    std::printf("%-28s %6s %7s %8s %7s %9s\n", "theorem", "proved", "nodes", "expanded", "depth", "seconds");
    for (const auto& r : results)
      std::printf("%-28s %6s %7d %8d %7d %9.2f%s%s\n", r.name.substr(0, 28).c_str(), r.proved ? "yes" : "no", r.nodes, r.expanded, r.depth,
                  r.wall_seconds, r.error.empty() ? "" : "  ", r.error.substr(0, 80).c_str());
    std::printf(
        "proved %zu/%zu (%.1f%%) in %.1f s: %.2f expansions/s, %lld tactics; time in policy %.1f s, REPL %.1f s, energy %.1f s; "
        "REPL timeouts %llu, crashes %llu, restarts %llu\n",
        proved, mine.size(), mine.empty() ? 0.0 : 100.0 * proved / mine.size(), wall, wall > 0 ? expanded / wall : 0,
        static_cast<long long>(tactics), policy_s, repl_s, energy_s, static_cast<unsigned long long>(st.timeouts),
        static_cast<unsigned long long>(st.crashes), static_cast<unsigned long long>(st.restarts));
  }
  return 0;
}

CLI::App* EnergyCommand::add(CLI::App& parent) {
  auto* c = parent.add_subcommand("energy", "the energy head's values (lower = more provable) for proof states");
  c->add_option("-m,--model", model, "the policy model whose embeddings the head reads")->required();
  c->add_option("--head", head_dir, "energy head directory (head.json + head.safetensors)")->required();
  c->add_flag("--json", json, "print {\"energies\":[...]}");
  c->add_option("states", states, "proof states")->required();
  engine.add(c);
  return c;
}

int EnergyCommand::run() const {
  auto head = EnergyHead::load(head_dir, engine.threads, engine.device);
  if (!head) return fail(head.error());
  int rc = 0;
  auto m = load_or_report(model, &rc, engine.dtype);
  if (!m) return rc;
  auto ok = head.value()->check_model(*m);
  if (!ok) return fail(ok.error());
  const std::string warning = head.value()->dtype_warning(*m);
  if (!warning.empty()) std::fprintf(stderr, "wick: warning: %s\n", warning.c_str());
  const EnergyHeadConfig& hc = head.value()->config();
  auto tmpl = PromptTemplate::from_string(hc.template_text);
  if (!tmpl) return fail(tmpl.error());
  std::vector<std::string> texts;
  for (const auto& s : states) texts.push_back(tmpl->apply(s));
  auto embedder = Embedder::create(m, engine.options());
  if (!embedder) return fail(embedder.error());
  EncodeParams ep;
  ep.pooling = hc.pooling;
  auto emb = embedder.value()->encode(texts, ep);
  if (!emb) return fail(emb.error());
  auto e = head.value()->energies(emb->vectors);
  if (!e) return fail(e.error());
  if (json) {
    std::cout << dump({{"energies", e.value()},
                       {"dim", emb->dim},
                       {"token_counts", emb->token_counts},
                       {"embedding_dtype", hc.embedding_dtype},
                       {"warning", warning}})
              << "\n";
  } else {
    for (size_t i = 0; i < states.size(); ++i) std::printf("%.6f\t%s\n", e.value()[i], states[i].substr(0, 100).c_str());
  }
  return 0;
}

}  // namespace wick::cli
