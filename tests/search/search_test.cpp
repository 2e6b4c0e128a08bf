// Proof search against the stand-in REPL (tests/search/fake_repl.py, the real protocol over a
// toy theorem domain with scripted faults): reply parsing on recorded real replies, the REPL
// process (framing, timeouts, crashes, memory limit, restarts), the pool (parallel steps,
// replay on another process, faults cost one tactic), and the search itself (proofs found and
// re-checked, fake proofs never reported, limits, determinism, trajectory labels).
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "search/best_first.h"
#include "search/lean_repl.h"
#include "search/repl_pool.h"
#include "search/search_config.h"
#include "test_util.h"

namespace wick::search {
namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

const char* kHeader = "import Mathlib\nimport Aesop\nset_option maxHeartbeats 400000\nopen BigOperators Real Nat Topology Rat";

std::string fake_repl(const std::string& env = "") {
  return env + (env.empty() ? "" : " ") + "python3 " + std::string(WICK_SOURCE_DIR) + "/tests/search/fake_repl.py";
}

ReplOptions options(const std::string& env = "", double timeout = 5) {
  ReplOptions o;
  o.command = fake_repl(env);
  o.header = kHeader;
  o.timeout_seconds = timeout;
  return o;
}

Theorem reach(int n) {
  Theorem t;
  t.name = "reach_" + std::to_string(n);
  t.header = kHeader;
  t.statement = "theorem " + t.name + " : reach " + std::to_string(n) + " := by";
  return t;
}

// A policy that answers from a script: goals text -> candidates (a default for other states).
class ScriptedPolicy : public Policy {
 public:
  std::map<std::string, std::vector<TacticCandidate>> script;
  std::vector<TacticCandidate> otherwise;
  int calls = 0;
  std::vector<std::vector<TacticCandidate>> candidates(const std::vector<std::string>& states, int n,
                                                       const std::vector<uint64_t>&) override {
    ++calls;
    std::vector<std::vector<TacticCandidate>> out;
    for (const auto& s : states) {
      auto it = script.find(s);
      auto c = it != script.end() ? it->second : otherwise;
      if (static_cast<int>(c.size()) > n) c.resize(static_cast<size_t>(n));
      out.push_back(c);
    }
    return out;
  }
  std::vector<std::vector<float>> embed(const std::vector<std::string>& texts, Pooling) override {
    std::vector<std::vector<float>> out;
    for (const auto& t : texts) out.push_back({static_cast<float>(t.size()), 1.0f});  // a 2-wide "embedding"
    return out;
  }
};

TEST(ReplProtocol, RecordedRealRepliesParse) {
  std::ifstream f(std::string(WICK_SOURCE_DIR) + "/tests/search/fixtures/repl_replies.json");
  const json fixtures = json::parse(f);
  ASSERT_GE(fixtures.size(), 10u);
  for (const auto& fx : fixtures) {
    const json& e = fx["expect"];
    SCOPED_TRACE(fx["source"].get<std::string>());
    if (fx["mode"] == "command") {
      const CommandReply r = parse_command_reply(fx["reply"]);
      EXPECT_EQ(r.env, e["env"].get<int>());
      EXPECT_EQ(r.has_errors(), e["errors"].get<bool>());
      ASSERT_EQ(r.sorries.size(), e["sorries"].size());
      for (size_t i = 0; i < r.sorries.size(); ++i) {
        EXPECT_EQ(r.sorries[i].proof_state, e["sorries"][i][0].get<int>());
        EXPECT_EQ(r.sorries[i].goal, e["sorries"][i][1].get<std::string>());
      }
      EXPECT_EQ(proof_checks(r), e["checks"].get<bool>());
    } else {
      const TacticReply r = parse_tactic_reply(fx["reply"]);
      if (e.contains("thrown")) {
        EXPECT_EQ(r.error, e["thrown"].get<std::string>());
      }
      if (e.contains("proofState")) {
        EXPECT_EQ(r.proof_state, e["proofState"].get<int>());
      }
      if (e.contains("goals")) {
        EXPECT_EQ(r.goals, e["goals"].get<std::vector<std::string>>());
      }
      if (e.contains("status")) {
        EXPECT_EQ(r.proof_status.value_or(""), e["status"].get<std::string>());
      }
      EXPECT_EQ(usable_step(r), e["usable"].get<bool>());
      EXPECT_EQ(closes_proof(r), e["closes"].get<bool>()) << "an error patched with sorry must never count";
    }
  }
}

TEST(ReplProtocol, MalformedRepliesAreErrors) {
  EXPECT_THROW(parse_command_reply(json::array()), std::runtime_error);
  EXPECT_THROW(parse_command_reply(json{{"env", "x"}}), std::runtime_error);
  EXPECT_THROW(parse_tactic_reply(json{{"proofState", 1}, {"goals", 5}}), std::runtime_error);
  EXPECT_THROW(parse_tactic_reply(json{{"proofState", 1}, {"goals", {1}}}), std::runtime_error);
  EXPECT_THROW(parse_tactic_reply(json{{"goals", json::array()}}), std::runtime_error);
  EXPECT_THROW(parse_command_reply(json{{"env", 1}, {"messages", {{{"data", "no severity"}}}}}), std::runtime_error);
  EXPECT_EQ(command_request("a\nb", -1), "{\"cmd\":\"a\\nb\"}\n\n");
  EXPECT_EQ(tactic_request("simp", 3), "{\"proofState\":3,\"tactic\":\"simp\"}\n\n");
}

TEST(LeanRepl, CommandsAndTacticsOverTheRealFraming) {
  LeanRepl r(options());
  const int env = r.header_env();
  EXPECT_GE(env, 0);
  EXPECT_EQ(r.header_env(), env) << "the header is imported once per process";
  const CommandReply c = r.command("theorem t : reach 5 := by sorry", env);
  ASSERT_EQ(c.sorries.size(), 1u);
  EXPECT_EQ(c.sorries[0].goal, "⊢ reach 5");
  const TacticReply t = r.tactic("sub 2", c.sorries[0].proof_state);
  EXPECT_TRUE(usable_step(t));
  EXPECT_EQ(t.goals, std::vector<std::string>{"⊢ reach 3"});
  const TacticReply bad = r.tactic("sub 9", t.proof_state);
  EXPECT_NE(bad.error.find("cannot subtract"), std::string::npos) << "a failing tactic is a thrown error";
  EXPECT_FALSE(usable_step(bad));
  const TacticReply zero = r.tactic("sub 3", t.proof_state);
  EXPECT_FALSE(closes_proof(zero)) << "a goal remains";
  EXPECT_TRUE(closes_proof(r.tactic("rfl", zero.proof_state)));
  EXPECT_FALSE(closes_proof(r.tactic("patched", zero.proof_state))) << "an error patched with sorry";
  EXPECT_FALSE(closes_proof(r.tactic("fake_done", zero.proof_state))) << "no goals but Incomplete";
  EXPECT_TRUE(proof_checks(r.command("theorem t : reach 5 := by\n  sub 2\n  sub 3\n  rfl", env)));
  EXPECT_FALSE(proof_checks(r.command("theorem t : reach 5 := by\n  sub 2\n  sorry", env))) << "a sorry never checks";
  EXPECT_FALSE(proof_checks(r.command("theorem t : reach 5 := by\n  sub 2", env))) << "unsolved goals";
}

TEST(LeanRepl, AHungRequestTimesOutAndTheNextOneRestarts) {
  LeanRepl r(options("", 0.5));
  const int env = r.header_env();
  const int root = r.command("theorem t : reach 3 := by sorry", env).sorries.at(0).proof_state;
  const uint64_t gen = r.generation();
  const auto t0 = Clock::now();
  try {
    r.tactic("hang", root);
    FAIL() << "expected a timeout";
  } catch (const ReplFailure& e) {
    EXPECT_EQ(e.kind, ReplFailure::Kind::kTimeout);
  }
  const double waited = std::chrono::duration<double>(Clock::now() - t0).count();
  EXPECT_GE(waited, 0.45);
  EXPECT_LT(waited, 3.0);
  EXPECT_FALSE(r.running()) << "the hung process was killed";
  const int env2 = r.header_env();
  EXPECT_GT(r.generation(), gen) << "a new process, with the header imported again";
  EXPECT_EQ(r.command("theorem t : reach 3 := by sorry", env2).sorries.size(), 1u);
}

TEST(LeanRepl, ACrashAndAMemoryLimitAreFailuresNotOurs) {
  LeanRepl r(options());
  int env = r.header_env();
  int root = r.command("theorem t : reach 3 := by sorry", env).sorries.at(0).proof_state;
  try {
    r.tactic("crash", root);
    FAIL() << "expected a crash";
  } catch (const ReplFailure& e) {
    EXPECT_EQ(e.kind, ReplFailure::Kind::kCrashed);
  }
  ReplOptions o = options();
  o.memory_limit_bytes = size_t{512} << 20;
  LeanRepl limited(o);
  env = limited.header_env();
  root = limited.command("theorem t : reach 3 := by sorry", env).sorries.at(0).proof_state;
  try {
    limited.tactic("leak", root);
    FAIL() << "a 1 GiB allocation under a 512 MiB address-space limit";
  } catch (const ReplFailure& e) {
    EXPECT_EQ(e.kind, ReplFailure::Kind::kCrashed);
  }
  EXPECT_GE(limited.header_env(), 0) << "restarted";
}

TEST(LeanRepl, RestartsAfterMaxCommands) {
  ReplOptions o = options();
  o.max_commands = 3;
  LeanRepl r(o);
  std::set<pid_t> pids;
  for (int i = 0; i < 7; ++i) {
    const int env = r.header_env();
    pids.insert(r.pid());
    EXPECT_EQ(r.command("theorem t : reach 1 := by sorry", env).sorries.size(), 1u);
  }
  EXPECT_GE(pids.size(), 3u) << "a fresh process after every 3 requests (header + 2 commands)";
}

TEST(ReplPool, ParallelStepsReplayOnAnotherWorkerAndFaultsCostOneTactic) {
  ReplPool pool(options("", 1.0), 3);
  const std::string cmd = "theorem t : reach 9 := by sorry";
  const StepResult root = pool.root(cmd).get();
  ASSERT_EQ(root.kind, StepResult::Kind::kState);
  EXPECT_EQ(root.goals, std::vector<std::string>{"⊢ reach 9"});
  const StepResult a = pool.apply(cmd, {}, "sub 2", root.worker).get();
  ASSERT_EQ(a.kind, StepResult::Kind::kState);
  // The next step on purpose on other workers: they replay "sub 2" from the root.
  std::vector<std::future<StepResult>> futs;
  for (const char* tac : {"sub 3", "hang", "crash", "sub 9", "half", "sub 1", "patched", "fake_done"})
    futs.push_back(pool.apply(cmd, {"sub 2"}, tac, (a.worker + 1) % 3));
  std::vector<StepResult> rs;
  for (auto& f : futs) rs.push_back(f.get());
  EXPECT_EQ(rs[0].kind, StepResult::Kind::kState);
  EXPECT_EQ(rs[0].goals, std::vector<std::string>{"⊢ reach 4"});
  EXPECT_EQ(rs[1].kind, StepResult::Kind::kTimeout);
  EXPECT_EQ(rs[2].kind, StepResult::Kind::kCrashed);
  EXPECT_EQ(rs[3].kind, StepResult::Kind::kFailed) << "7 - 9";
  EXPECT_EQ(rs[4].kind, StepResult::Kind::kFailed) << "7 is odd";
  EXPECT_EQ(rs[5].goals, std::vector<std::string>{"⊢ reach 6"});
  EXPECT_EQ(rs[6].kind, StepResult::Kind::kFailed) << "patched with sorry";
  EXPECT_EQ(rs[7].kind, StepResult::Kind::kFailed) << "Incomplete with no goals";
  // Deeper, after the faults: the pool still works, replaying what restarted workers lost.
  const StepResult deep = pool.apply(cmd, {"sub 2", "sub 3"}, "half").get();
  ASSERT_EQ(deep.kind, StepResult::Kind::kState);
  EXPECT_EQ(deep.goals, (std::vector<std::string>{"⊢ reach 2", "⊢ reach 2"}));
  const PoolStats st = pool.stats();
  EXPECT_GT(st.replayed, 0u);
  EXPECT_EQ(st.timeouts, 1u);
  EXPECT_EQ(st.crashes, 1u);
  EXPECT_TRUE(pool.check("theorem t : reach 9 := by\n  sub 2\n  sub 3\n  half\n  omega\n  omega").get().ok);
  EXPECT_FALSE(pool.check("theorem t : reach 9 := by\n  sub 9\n  sorry").get().ok);
}

SearchConfig small_config() {
  SearchConfig c;
  c.max_nodes = 64;
  c.max_depth = 8;
  c.num_candidates = 8;
  c.timeout_per_theorem = 60;
  c.probe_tactics = {"omega", "rfl", "decide", "simp", "linarith"};
  return c;
}

TEST(Search, ScriptedPolicyFindsAProofThroughFaults) {
  ReplPool pool(options("", 1.0), 2);
  ScriptedPolicy policy;
  policy.script["⊢ reach 7"] = {{"fake_done", -0.01, 1}, {"patched", -0.02, 1}, {"sorry", -0.03, 1}, {"hang", -0.04, 1},
                                {"crash", -0.05, 1},     {"sub 9", -0.1, 2},    {"sub 3", -0.5, 2},  {"sub 1", -2.0, 2}};
  policy.script["⊢ reach 4"] = {{"admit", -0.01, 1}, {"native_decide", -0.02, 1}, {"half", -0.3, 1}, {"sub 1", -1.0, 2}};
  ProofSearch search(policy, pool, nullptr, small_config(), kHeader);
  std::vector<json> traj;
  const SearchResult r = search.prove(reach(7), 1, &traj);
  ASSERT_TRUE(r.proved) << r.error << " stopped by " << r.stopped_by;
  EXPECT_EQ(r.tactics, (std::vector<std::string>{"sub 3", "half", "omega", "omega"}));
  EXPECT_EQ(r.proof, "theorem reach_7 : reach 7 := by\n  sub 3\n  half\n  omega\n  omega");
  EXPECT_EQ(pool.stats().timeouts, 1u) << "the hang cost one tactic";
  EXPECT_EQ(pool.stats().crashes, 1u) << "the crash cost one tactic";
  EXPECT_GE(pool.stats().checks, 1u) << "the proof was re-checked as a whole";
  // Trajectory: exactly the proof path is positive.
  std::vector<std::string> positives;
  for (const auto& t : traj)
    if (t["label"] == 1) positives.push_back(t["state"]);
  EXPECT_EQ(positives, (std::vector<std::string>{"⊢ reach 7", "⊢ reach 4", "⊢ reach 2\n\n⊢ reach 2", "⊢ reach 2"}));
  for (const auto& t : traj) EXPECT_TRUE(t["label"].is_null() || t["label"] == 1) << "no negatives without harvest_siblings";
}

TEST(Search, AFakeProofIsNeverReported) {
  // An older REPL without proofStatus: "fake_done" leaves no goals and no error, so only the
  // whole-proof re-check can tell; "patched" logs an error.
  ReplPool pool(options("FAKE_REPL_NO_STATUS=1", 2.0), 2);
  ScriptedPolicy policy;
  policy.otherwise = {{"fake_done", -0.1, 1}, {"patched", -0.2, 1}, {"sorry", -0.3, 1}};
  SearchConfig c = small_config();
  c.probe_tactics.clear();
  ProofSearch search(policy, pool, nullptr, c, kHeader);
  const SearchResult r = search.prove(reach(7), 3);
  EXPECT_FALSE(r.proved);
  EXPECT_TRUE(r.tactics.empty());
  EXPECT_EQ(r.stopped_by, "exhausted");
  EXPECT_GE(pool.stats().checks, 1u) << "fake_done looked closed and was re-checked, and rejected";
}

TEST(Search, LimitsHold) {
  ReplPool pool(options("", 2.0), 2);
  ScriptedPolicy policy;  // never proves reach 50: every state offers steps down by 1, 2, 3 and a useless skip
  policy.otherwise = {{"sub 1", -0.1, 1}, {"sub 2", -0.2, 1}, {"sub 3", -0.3, 1}, {"skip", -0.01, 1}};
  SearchConfig c = small_config();
  c.probe_tactics.clear();
  c.max_nodes = 25;
  c.max_depth = 100;
  std::vector<json> traj;
  SearchResult r = ProofSearch(policy, pool, nullptr, c, kHeader).prove(reach(50), 1, &traj);
  EXPECT_FALSE(r.proved);
  EXPECT_EQ(r.stopped_by, "nodes");
  EXPECT_LE(r.nodes, 25);
  EXPECT_EQ(static_cast<int>(traj.size()), r.nodes) << "one node per distinct state (skip adds none: the DAG)";
  c.max_nodes = 1000;
  c.max_depth = 3;
  r = ProofSearch(policy, pool, nullptr, c, kHeader).prove(reach(50), 1, &traj);
  EXPECT_EQ(r.stopped_by, "exhausted");
  EXPECT_LE(r.depth, 3);
  policy.otherwise = {{"hang", -0.1, 1}, {"sub 1", -0.2, 1}};
  c.max_depth = 100;
  c.timeout_per_theorem = 2.5;
  const auto t0 = Clock::now();
  r = ProofSearch(policy, pool, nullptr, c, kHeader).prove(reach(50), 1);
  EXPECT_EQ(r.stopped_by, "time");
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - t0).count(), 2.5 + 2 * 2.0 + 1) << "at most one step past the limit";
}

TEST(Search, HarvestedSiblingsAreNegativesAndTheEnergyHeadScores) {
  test::TempDir tmp;
  EnergyHeadConfig hc;
  hc.input_dim = 2;
  hc.hidden = {4};
  ASSERT_TRUE(write_random_energy_head(tmp.path(), hc, 7));
  auto head = EnergyHead::load(tmp.path(), 1).value();
  ReplPool pool(options(), 2);
  ScriptedPolicy policy;
  policy.script["⊢ reach 5"] = {{"sub 2", -0.2, 1}, {"sub 1", -0.5, 1}, {"sub 4", -3.0, 1}};
  SearchConfig c = small_config();
  c.harvest_siblings = true;
  c.beta = 1.0;
  std::vector<json> traj;
  const SearchResult r = ProofSearch(policy, pool, head.get(), c, kHeader).prove(reach(5), 1, &traj);
  ASSERT_TRUE(r.proved);
  std::map<std::string, json> by_state;
  for (const auto& t : traj) by_state[t["state"]] = t;
  EXPECT_EQ(by_state["⊢ reach 5"]["label"], 1);
  for (const auto& t : traj) {
    EXPECT_TRUE(t["energy"].is_number()) << "every state scored by the head";
    if (t["parent"] == 0 && t["label"] != 1) {
      EXPECT_EQ(t["label"], 0) << "a failed sibling of the proof path: " << t["state"];
    }
  }
}

TEST(SearchSettings, TomlKeysAreCheckedAndFlagsAreSeparate) {
  test::TempDir tmp;
  test::write_file(tmp.file("ok.toml"),
                   "[search]\nmax_nodes = 10\nalpha = 0.5\nprobe_tactics = [\"simp\", \"ring\"]\n"
                   "harvest_siblings = true\ntemperature = 0.7\nmax_tokens = 64\n");
  SearchConfig c;
  SamplingSettings s;
  load_search_toml(tmp.file("ok.toml"), c, s);
  EXPECT_EQ(c.max_nodes, 10);
  EXPECT_EQ(c.alpha, 0.5);
  EXPECT_EQ(c.probe_tactics, (std::vector<std::string>{"simp", "ring"}));
  EXPECT_TRUE(c.harvest_siblings);
  EXPECT_DOUBLE_EQ(s.temperature, 0.7);
  EXPECT_EQ(s.max_tokens, 64);
  EXPECT_EQ(c.max_depth, SearchConfig{}.max_depth) << "keys absent from the file keep their values";
  auto error_of = [&](const std::string& text) {
    test::write_file(tmp.file("bad.toml"), text);
    try {
      SearchConfig c2;
      SamplingSettings s2;
      load_search_toml(tmp.file("bad.toml"), c2, s2);
      validate(c2, s2);
    } catch (const std::exception& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("[search]\nmax_nodez = 1\n").find("unknown key 'max_nodez'"), std::string::npos);
  EXPECT_NE(error_of("[search]\nmax_nodes = \"ten\"\n").find("max_nodes must be an integer"), std::string::npos);
  EXPECT_NE(error_of("[other]\n").find("unknown table"), std::string::npos);
  EXPECT_NE(error_of("[search]\nnum_candidates = 0\n").find("num_candidates"), std::string::npos);
  EXPECT_NE(error_of("[search\n").find("line"), std::string::npos);
}

TEST(Theorems, JsonlAndLeanFiles) {
  test::TempDir tmp;
  test::write_file(tmp.file("t.lean"),
                   "import Mathlib\nopen Nat\n\ntheorem a (n : ℕ) : reach 3 := by sorry\n\nlemma b :\n    reach 2 := by\n  sorry\n");
  const auto ts = load_theorems(tmp.file("t.lean"));
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[0].name, "a");
  EXPECT_EQ(ts[0].statement, "theorem a (n : ℕ) : reach 3 := by");
  EXPECT_EQ(ts[1].statement, "lemma b :\n    reach 2 := by");
  EXPECT_EQ(ts[0].header, "import Mathlib\nopen Nat");
  EXPECT_EQ(theorem_command(ts[0], ""), "theorem a (n : ℕ) : reach 3 := by sorry");
  EXPECT_EQ(proof_text(ts[0], "", {"sub 1", "have h : x := by\n  simp"}),
            "theorem a (n : ℕ) : reach 3 := by\n  sub 1\n  have h : x := by\n    simp");
  EXPECT_EQ(header_extra(ts[0], "import Mathlib"), "open Nat\n");
  Theorem needs = ts[0];
  needs.header = "import Other";
  EXPECT_THROW(header_extra(needs, "import Mathlib"), std::runtime_error);
  const auto js = load_theorems(std::string(WICK_SOURCE_DIR) + "/tests/search/data/toy_theorems.jsonl");
  EXPECT_EQ(js.size(), 5u);
  EXPECT_EQ(js[2].name, "reach_7");
  test::write_file(tmp.file("bad.jsonl"), "{\"name\": \"x\", \"formal_statement\": \"theorem x : True\"}\n");
  EXPECT_THROW(load_theorems(tmp.file("bad.jsonl")), std::runtime_error) << "no := by";
  EXPECT_TRUE(banned_tactic("sorry"));
  EXPECT_TRUE(banned_tactic("simp; admit"));
  EXPECT_TRUE(banned_tactic("exact (by native_decide)"));
  EXPECT_FALSE(banned_tactic("exact sorry_lemma"));
  EXPECT_FALSE(banned_tactic("simp [admitted]"));
}

}  // namespace
}  // namespace wick::search
