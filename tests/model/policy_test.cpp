// The policy API on the real TinyStories model and on random-weight models: candidates (sorted,
// distinct, scored consistently, batch == alone), KV block sharing, embeddings (batch == alone,
// PyTorch reference), stop strings, log-probs, batched generation, the engine's continuous
// batching, and bad input.
#include <cmath>
#include <nlohmann/json.hpp>
#include <numeric>
#include <set>

#include "formats/safetensors.h"
#include "test_util.h"
#include "wick/embedder.h"
#include "wick/generator.h"
#include "wick/prompt_template.h"

namespace wick::test {
namespace {

std::shared_ptr<Model> g_tiny_stories, g_random;
std::unique_ptr<TempDir> g_tmp;

class Policy : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testdata_dir().empty()) return;
    g_tiny_stories = Model::load(testdata_dir() + "/models/tinystories-656k").value();
    g_tmp = std::make_unique<TempDir>();
    std::string out;
    ASSERT_EQ(run_command(bin("wick-make-model") + " --preset tiny --seed 3 --testdata '" + testdata_dir() + "' -o " +
                              g_tmp->file("llama") + " --set max_position_embeddings=1024 2>&1",
                          &out),
              0)
        << out;
    g_random = Model::load(g_tmp->file("llama")).value();
  }
  static void TearDownTestSuite() {
    g_tiny_stories.reset();
    g_random.reset();
    g_tmp.reset();
  }
  void SetUp() override { WICK_REQUIRE_TESTDATA(); }

  static std::unique_ptr<Generator> generator(std::shared_ptr<Model> m, EngineOptions o = {}) {
    o.n_threads = 2;
    auto g = Generator::create(std::move(m), o);
    EXPECT_TRUE(g) << g.error().what();
    return std::move(g.value());
  }
  static GenerateParams sampled(uint64_t seed, int max_new) {
    GenerateParams p;
    p.sampling.temperature = 1.0f;
    p.sampling.seed = seed;
    p.max_new_tokens = max_new;
    return p;
  }
};

TEST_F(Policy, CandidatesAreSortedDistinctAndScoredConsistently) {
  auto gen = generator(g_tiny_stories);
  const GenerateParams p = sampled(5, 20);
  auto r = gen->generate_candidates("Once upon a time", 16, p);
  ASSERT_TRUE(r) << r.error().what();
  const CandidatesResult& c = r.value();
  ASSERT_GE(c.candidates.size(), 4u) << "16 samples at temperature 1 are not all the same";
  EXPECT_EQ(c.candidates.size() + static_cast<size_t>(c.duplicates_removed), 16u);
  std::set<std::string> texts;
  for (size_t i = 0; i < c.candidates.size(); ++i) {
    const GenerateResult& g = c.candidates[i];
    if (i > 0) {
      EXPECT_GE(c.candidates[i - 1].logprob, g.logprob) << "sorted best first";
    }
    EXPECT_TRUE(texts.insert(g.text).second) << "duplicate text: " << g.text;
    EXPECT_EQ(g.logprobs.size(), g.tokens.size());
    EXPECT_NEAR(std::accumulate(g.logprobs.begin(), g.logprobs.end(), 0.0), g.logprob, 1e-9);
    // Teacher forcing the same tokens gives the same log-probs.
    auto s = gen->score_tokens(c.prompt_tokens, g.tokens);
    ASSERT_TRUE(s) << s.error().what();
    for (size_t t = 0; t < g.tokens.size(); ++t) EXPECT_NEAR(s->logprobs[t], g.logprobs[t], 1e-5) << "candidate " << i << " token " << t;
    EXPECT_NEAR(s->logprob, g.logprob, 1e-4);
    // The batched sequence equals the same sequence generated alone with its seed.
    GenerateParams alone = p;
    alone.sampling.seed = sequence_seed(p.sampling.seed, c.indices[i]);
    auto a = gen->generate_from_tokens(c.prompt_tokens, alone);
    ASSERT_TRUE(a) << a.error().what();
    EXPECT_EQ(a->tokens, g.tokens) << "candidate " << i << " (sequence " << c.indices[i] << ")";
    EXPECT_EQ(a->logprobs, g.logprobs) << "bit-identical log-probs in a batch and alone";
    EXPECT_EQ(a->text, g.text);
    EXPECT_EQ(a->finish_reason, g.finish_reason);
  }
  // score() of the text equals the candidate's log-prob when the text re-tokenizes the same way.
  int checked = 0;
  for (const GenerateResult& g : c.candidates) {
    if (g.finish_reason != "length") continue;
    auto s = gen->score("Once upon a time", g.text);
    ASSERT_TRUE(s);
    std::vector<int> joined = s->prompt_tokens;
    joined.insert(joined.end(), s->tokens.begin(), s->tokens.end());
    std::vector<int> expect = c.prompt_tokens;
    expect.insert(expect.end(), g.tokens.begin(), g.tokens.end());
    if (joined != expect) continue;
    EXPECT_NEAR(s->logprob, g.logprob, 1e-4) << g.text;
    ++checked;
  }
  EXPECT_GT(checked, 0) << "no candidate re-tokenized identically";
  EXPECT_EQ(gen->engine().kv_stats().used_blocks, 0) << "every block is free after the call";
  EXPECT_EQ(gen->engine().live_sequences(), 0);
}

// The whole policy path on the reference backend, whose arena memory cannot be reached except
// through the Backend interface: candidates (the prompt's partial KV block is copied on write
// by the backend for each sequence but the last), scoring and embeddings give the CPU
// backend's results, within the two backends' rounding (the reference accumulates in double).
TEST_F(Policy, ReferenceDeviceGivesTheCpusCandidatesScoresAndEmbeddings) {
  auto cpu = generator(g_tiny_stories);
  auto ref = generator(g_tiny_stories, {.device = "reference"});
  EXPECT_EQ(ref->engine().backend_name(), "reference x1");
  auto a = cpu->generate_candidates("Once upon a time", 8, sampled(7, 12));
  auto b = ref->generate_candidates("Once upon a time", 8, sampled(7, 12));
  ASSERT_TRUE(a && b) << (a ? b.error().what() : a.error().what());
  ASSERT_EQ(a->candidates.size(), b->candidates.size());
  for (size_t i = 0; i < a->candidates.size(); ++i) {
    EXPECT_EQ(a->candidates[i].tokens, b->candidates[i].tokens) << "candidate " << i;
    EXPECT_NEAR(a->candidates[i].logprob, b->candidates[i].logprob, 1e-4) << "candidate " << i;
  }
  EXPECT_EQ(ref->engine().kv_stats().used_blocks, 0) << "every block is free after the call";
  auto sa = cpu->score("Once upon a time", " there was a little girl.");
  auto sb = ref->score("Once upon a time", " there was a little girl.");
  ASSERT_TRUE(sa && sb);
  EXPECT_NEAR(sa->logprob, sb->logprob, 1e-4);
  auto ea = Embedder::create(g_tiny_stories, {.n_threads = 2, .max_batch_tokens = 16});
  auto eb = Embedder::create(g_tiny_stories, {.device = "reference", .max_batch_tokens = 16});
  ASSERT_TRUE(ea && eb);
  const std::vector<std::string> texts = {"Once upon a time", "The little dog ran to the park and played with a ball all day."};
  auto va = ea.value()->encode(texts), vb = eb.value()->encode(texts);
  ASSERT_TRUE(va && vb);
  for (size_t i = 0; i < texts.size(); ++i)
    for (size_t j = 0; j < va->vectors[i].size(); ++j)
      ASSERT_NEAR(va->vectors[i][j], vb->vectors[i][j], 1e-4 * std::max(1.0f, std::fabs(va->vectors[i][j])))
          << "text " << i << " value " << j;
}

TEST_F(Policy, SameSeedSameCandidatesDifferentSeedDifferent) {
  auto gen = generator(g_tiny_stories);
  auto a = gen->generate_candidates("Once upon a time", 8, sampled(11, 16));
  auto b = gen->generate_candidates("Once upon a time", 8, sampled(11, 16));
  auto c = gen->generate_candidates("Once upon a time", 8, sampled(12, 16));
  ASSERT_TRUE(a && b && c);
  ASSERT_EQ(a->candidates.size(), b->candidates.size());
  for (size_t i = 0; i < a->candidates.size(); ++i) EXPECT_EQ(a->candidates[i].tokens, b->candidates[i].tokens);
  EXPECT_NE(a->candidates[0].tokens, c->candidates[0].tokens);
}

// 32 candidates of a 512-token prompt hold the prompt's KV once: the peak block count is the
// prompt's blocks plus each sequence's own new block, never 32 copies of the prompt.
TEST_F(Policy, CandidatesShareThePromptKvBlocks) {
  EngineOptions o;
  o.kv_block_size = 16;
  o.kv_cache_tokens = 2048;  // 128 blocks: 32 copies of the prompt (1024+ blocks) could not fit
  o.context_length = 1024;
  auto gen = generator(g_random, o);
  Engine& e = gen->engine();
  int peak = 0;
  e.set_activation_hook([&](const char* name, const float*, int, int) {
    if (std::string(name) == "embd") peak = std::max(peak, e.kv_stats().used_blocks);
  });
  GenerateParams p = sampled(1, 8);
  p.ignore_eos = true;
  for (int prompt_len : {512, 500}) {
    std::vector<int> prompt(static_cast<size_t>(prompt_len));
    for (int i = 0; i < prompt_len; ++i) prompt[static_cast<size_t>(i)] = 3 + (i * 7919) % 2000;
    peak = 0;
    auto r = gen->generate_candidates_from_tokens(prompt, 32, p);
    ASSERT_TRUE(r) << r.error().what();
    EXPECT_EQ(r->generated_tokens, 32 * 8);
    // 512 = 32 full blocks; each sequence writes positions 512..519 into one new block.
    // 500 = 31 full blocks + a partial one; 31 sequences copy it on write, the last writes in place.
    const int expected = prompt_len == 512 ? 32 + 32 : 32 + 31;
    EXPECT_EQ(peak, expected) << "prompt of " << prompt_len << " tokens";
    EXPECT_EQ(e.kv_stats().used_blocks, 0) << "every block is free after the call";
  }
}

TEST_F(Policy, EngineContinuousBatchingMatchesSequencesAlone) {
  EngineOptions o;
  o.n_threads = 2;
  o.kv_block_size = 4;  // many blocks per sequence
  auto engine = Engine::create(g_tiny_stories, o);
  ASSERT_TRUE(engine);
  Engine& e = *engine.value();
  const int V = g_tiny_stories->config().vocab_size;
  // Reference: each sequence alone in a session.
  auto alone = [&](const std::vector<int>& toks) {
    SessionOptions so;
    so.n_threads = 2;
    auto s = Session::create(g_tiny_stories, so).value();
    const float* l = s->append(toks).value();
    return std::vector<float>(l, l + V);
  };
  const std::vector<int> pa = {1, 80, 147, 201, 282, 57, 215}, pb = {1, 450, 11, 9};
  SequenceId a = e.add_sequence().value();
  StepInput in_a{a, pa.data(), 7, StepOutput::kLastLogits};
  ASSERT_TRUE(e.step(std::span<const StepInput>(&in_a, 1)));
  // Step 2: a decodes one token while b (added between steps) prefills; c forks a.
  SequenceId b = e.add_sequence().value();
  SequenceId c = e.fork_sequence(a).value();
  const int ta = 300, tc = 301;
  StepInput two[] = {
      {a, &ta, 1, StepOutput::kLastLogits}, {b, pb.data(), 4, StepOutput::kLastLogits}, {c, &tc, 1, StepOutput::kLastLogits}};
  ASSERT_TRUE(e.step(two));
  std::vector<int> sa = pa, sc = pa;
  sa.push_back(ta);
  sc.push_back(tc);
  EXPECT_EQ(std::vector<float>(e.output(0), e.output(0) + V), alone(sa));
  EXPECT_EQ(std::vector<float>(e.output(1), e.output(1) + V), alone(pb));
  EXPECT_EQ(std::vector<float>(e.output(2), e.output(2) + V), alone(sc));
  // A failed step (a bad token id) changes nothing.
  const int bad = V + 5;
  StepInput fail_in[] = {{a, &ta, 1, StepOutput::kLastLogits}, {b, &bad, 1, StepOutput::kLastLogits}};
  auto f = e.step(fail_in);
  ASSERT_FALSE(f);
  EXPECT_NE(std::string(f.error().what()).find("outside the vocabulary"), std::string::npos);
  EXPECT_EQ(e.sequence_length(a), 8);
  EXPECT_EQ(e.sequence_length(b), 4);
  StepInput twice[] = {{a, &ta, 1, StepOutput::kLastLogits}, {a, &ta, 1, StepOutput::kLastLogits}};
  EXPECT_FALSE(e.step(twice));
  e.remove_sequence(a);
  e.remove_sequence(b);
  e.remove_sequence(c);
  EXPECT_EQ(e.kv_stats().used_blocks, 0);
  EXPECT_FALSE(e.fork_sequence(a)) << "a removed sequence cannot be forked";
}

TEST_F(Policy, GenerateBatchEqualsEachPromptAlone) {
  auto gen = generator(g_tiny_stories);
  const std::vector<std::string> prompts = {"Once upon a time", "The dog", "Lily and Ben went to the park. They saw"};
  GenerateParams p = sampled(21, 24);
  p.sampling.top_k = 40;
  auto batch = gen->generate_batch(prompts, p);
  ASSERT_TRUE(batch) << batch.error().what();
  ASSERT_EQ(batch->size(), 3u);
  for (size_t i = 0; i < prompts.size(); ++i) {
    GenerateParams one = p;
    one.sampling.seed = sequence_seed(p.sampling.seed, static_cast<int>(i));
    auto a = gen->generate(prompts[i], one);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->tokens, (*batch)[i].tokens) << prompts[i];
    EXPECT_EQ(a->text, (*batch)[i].text);
  }
  EXPECT_EQ(gen->engine().kv_stats().used_blocks, 0);
}

TEST_F(Policy, StopStringSpanningTokensCutsTheText) {
  auto gen = generator(g_tiny_stories);
  GenerateParams greedy;
  greedy.sampling.temperature = 0;
  greedy.max_new_tokens = 30;
  greedy.ignore_eos = true;
  auto full = gen->generate("Once upon a time", greedy);
  ASSERT_TRUE(full);
  // Per-token pieces of the greedy text; a stop string made of the end of one piece and the
  // start of the next spans two tokens and ends inside the second.
  StreamDecoder sd(g_tiny_stories->tokenizer());
  sd.prime(full->prompt_tokens);
  std::vector<std::string> pieces;
  for (int t : full->tokens) pieces.push_back(sd.push(t));
  size_t k = 3;
  while (k + 1 < pieces.size() && (pieces[k].size() < 2 || pieces[k + 1].size() < 3)) ++k;
  ASSERT_LT(k + 1, pieces.size());
  const std::string stop = pieces[k].substr(pieces[k].size() - 2) + pieces[k + 1].substr(0, 2);
  const size_t at = full->text.find(stop);
  ASSERT_NE(at, std::string::npos);
  size_t end_tokens = 0, len = 0;  // tokens until the text holds the whole stop string
  while (len < at + stop.size()) len += pieces[end_tokens++].size();
  GenerateParams p = greedy;
  p.stop = {"never appears", stop};
  std::string streamed;
  p.on_text = [&](const std::string& s) { streamed += s; };
  auto r = gen->generate("Once upon a time", p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->text, full->text.substr(0, at));
  EXPECT_EQ(r->finish_reason, "stop");
  EXPECT_EQ(r->stop_reason, stop);
  EXPECT_EQ(r->tokens.size(), end_tokens) << "tokens through the one that completed the stop string";
  EXPECT_EQ(streamed, r->text) << "the stop string is never streamed";
}

TEST_F(Policy, LogprobsTopAlternativesAndPromptLogprobs) {
  auto gen = generator(g_tiny_stories);
  GenerateParams p;
  p.sampling.temperature = 0;
  p.max_new_tokens = 12;
  p.top_logprobs = 5;
  p.processed_logprobs = true;
  p.prompt_logprobs = true;
  auto r = gen->generate("Once upon a time there was", p);
  ASSERT_TRUE(r) << r.error().what();
  ASSERT_EQ(r->top_logprobs.size(), r->tokens.size());
  for (size_t i = 0; i < r->tokens.size(); ++i) {
    ASSERT_EQ(r->top_logprobs[i].size(), 5u);
    EXPECT_EQ(r->top_logprobs[i][0].token, r->tokens[i]) << "greedy picks the best";
    EXPECT_FLOAT_EQ(r->top_logprobs[i][0].logprob, r->logprobs[i]);
    for (size_t j = 1; j < 5; ++j) EXPECT_LE(r->top_logprobs[i][j].logprob, r->top_logprobs[i][j - 1].logprob);
    EXPECT_EQ(r->processed_logprobs[i], 0.0f);
  }
  const auto& pt = r->prompt_tokens;
  ASSERT_EQ(r->prompt_logprobs.size(), pt.size() - 1);
  auto s = gen->score_tokens({pt[0]}, std::vector<int>(pt.begin() + 1, pt.end()));
  ASSERT_TRUE(s);
  for (size_t i = 0; i + 1 < pt.size(); ++i) EXPECT_NEAR(r->prompt_logprobs[i], s->logprobs[i], 1e-5);
}

// Embeddings: mean of the final-norm hidden states, as the PyTorch reference computes them.
TEST_F(Policy, EmbeddingsBatchEqualsAloneAndMatchPyTorch) {
  auto emb = Embedder::create(g_tiny_stories, {.n_threads = 2, .max_batch_tokens = 16});
  ASSERT_TRUE(emb);
  const std::vector<std::string> texts = {"Once upon a time", "The little dog ran to the park and played with a ball all day.",
                                          "Once upon a time", "Lily"};
  auto batch = emb.value()->encode(texts);
  ASSERT_TRUE(batch) << batch.error().what();
  EXPECT_EQ(batch->dim, g_tiny_stories->config().hidden_size);
  for (size_t i = 0; i < texts.size(); ++i) {
    auto one = emb.value()->encode({texts[i]});
    ASSERT_TRUE(one);
    EXPECT_EQ(one->vectors[0], batch->vectors[i]) << "text " << i << ": a batch gives the vector it gives alone";
  }
  EXPECT_EQ(batch->vectors[0], batch->vectors[2]) << "same text, same vector";
  EXPECT_NE(batch->vectors[0], batch->vectors[1]);
  auto normed = emb.value()->encode(texts, {Pooling::kMean, true});
  ASSERT_TRUE(normed);
  for (const auto& v : normed->vectors) {
    double n2 = 0;
    for (float x : v) n2 += static_cast<double>(x) * x;
    EXPECT_NEAR(n2, 1.0, 1e-5);
  }
  EXPECT_EQ(emb.value()->engine().kv_stats().used_blocks, 0);
}

void expect_embeddings_match_reference(const std::shared_ptr<Model>& model, const std::string& dir,
                                       const std::vector<std::vector<int>>& prompts, double tol) {
  TempDir tmp;
  nlohmann::json jobs = nlohmann::json::array();
  for (size_t i = 0; i < prompts.size(); ++i)
    jobs.push_back({{"dir", dir}, {"prompt", prompts[i]}, {"steps", 1}, {"out", tmp.file("ref" + std::to_string(i) + ".safetensors")}});
  write_file(tmp.file("jobs.json"), jobs.dump());
  std::string out;
  ASSERT_EQ(
      run_command(torch_python() + " " + WICK_SOURCE_DIR + "/tests/reference/hf_reference.py " + tmp.file("jobs.json") + " 2>&1", &out), 0)
      << out;
  auto emb = Embedder::create(model, {.n_threads = 2});
  ASSERT_TRUE(emb);
  auto mean = emb.value()->encode_tokens(prompts, {Pooling::kMean});
  auto last = emb.value()->encode_tokens(prompts, {Pooling::kLast});
  ASSERT_TRUE(mean && last) << (mean ? last.error().what() : mean.error().what());
  for (size_t i = 0; i < prompts.size(); ++i) {
    SafetensorsFile ref(tmp.file("ref" + std::to_string(i) + ".safetensors"));
    const Tensor* h = ref.find("prefill/out_norm");
    ASSERT_NE(h, nullptr);
    const int H = model->config().hidden_size, n = static_cast<int>(prompts[i].size());
    ASSERT_EQ(h->numel(), static_cast<int64_t>(n) * H);
    const float* rows = static_cast<const float*>(h->data);
    double err_mean = 0, err_last = 0, scale = 0;
    for (int c = 0; c < H; ++c) {
      double m = 0;
      for (int t = 0; t < n; ++t) m += rows[static_cast<size_t>(t) * H + c];
      m /= n;
      const double l = rows[static_cast<size_t>(n - 1) * H + c];
      scale = std::max({scale, std::fabs(m), std::fabs(l)});
      err_mean = std::max(err_mean, std::fabs(mean->vectors[i][static_cast<size_t>(c)] - m));
      err_last = std::max(err_last, std::fabs(last->vectors[i][static_cast<size_t>(c)] - l));
    }
    std::printf("[embed-reference] %s text %zu (%d tokens): mean pooling max abs err %.2e, last %.2e (max |ref| %.2f)\n",
                dir.substr(dir.rfind('/') + 1).c_str(), i, n, err_mean, err_last, scale);
    EXPECT_LT(err_mean, tol * std::max(1.0, scale));
    EXPECT_LT(err_last, tol * std::max(1.0, scale));
  }
}

TEST_F(Policy, MeanPoolingMatchesPyTorchReference) {
  if (torch_python().empty()) {
    if (std::getenv("CI")) FAIL() << "/usr/bin/python3 cannot import torch (install python3-torch)";
    WICK_MISSING("python3-torch missing: embedding reference comparison did not run");
  }
  const std::vector<std::vector<int>> prompts = {{1, 80, 147, 201, 282, 57}, {1, 450, 11, 9, 1500, 33, 402, 91, 1024, 7, 8, 9, 10}};
  expect_embeddings_match_reference(g_tiny_stories, testdata_dir() + "/models/tinystories-656k", prompts, 2e-5);
  expect_embeddings_match_reference(g_random, g_tmp->file("llama"), prompts, 2e-5);
  TempDir q;
  std::string out;
  ASSERT_EQ(run_command(bin("wick-make-model") + " --preset tiny --arch qwen2 --dtype bf16 --seed 4 --testdata '" + testdata_dir() +
                            "' -o " + q.file("qwen2") + " 2>&1",
                        &out),
            0)
      << out;
  auto qwen = Model::load(q.file("qwen2"));
  ASSERT_TRUE(qwen);
  expect_embeddings_match_reference(qwen.value(), q.file("qwen2"), prompts, 2e-5);
}

TEST_F(Policy, BadInputGivesClearErrors) {
  auto gen = generator(g_tiny_stories);
  auto expect_error = [](const auto& r, const std::string& needle) {
    ASSERT_FALSE(r) << "expected an error mentioning '" << needle << "'";
    EXPECT_NE(std::string(r.error().what()).find(needle), std::string::npos) << r.error().what();
    EXPECT_EQ(r.error().code(), ErrorCode::kInvalidArgument);
  };
  GenerateParams p = sampled(1, 8);
  expect_error(gen->generate_candidates("Once", 0, p), "number of candidates must be in 1..");
  expect_error(gen->generate_candidates("Once", gen->max_candidates() + 1, p), "number of candidates must be in 1..");
  expect_error(gen->generate_candidates_from_tokens({}, 4, p), "prompt is empty");
  expect_error(gen->generate_from_tokens(std::vector<int>(600, 5), p), "exceeds the context length of 512");
  GenerateParams bad = p;
  bad.sampling.temperature = -1;
  expect_error(gen->generate_candidates("Once", 4, bad), "temperature must be >= 0");
  bad = p;
  bad.sampling.top_p = 0;
  expect_error(gen->generate("Once", bad), "top_p must be in (0, 1]");
  bad.sampling.top_p = 1.5f;
  expect_error(gen->generate("Once", bad), "top_p must be in (0, 1]");
  bad = p;
  bad.sampling.min_p = 2;
  expect_error(gen->generate("Once", bad), "min_p");
  bad = p;
  bad.stop = {""};
  expect_error(gen->generate("Once", bad), "stop strings must not be empty");
  expect_error(gen->score("Once", ""), "continuation is empty");
  expect_error(PromptTemplate::preset("lean5"), "unknown prompt template 'lean5' (known: plain, deepseek-prover-v2)");
  expect_error(PromptTemplate::from_string("no placeholder"), "exactly once");
  expect_error(PromptTemplate::from_string("{state} {oops}"), "unexpected '{'");
  auto emb = Embedder::create(g_tiny_stories, {.n_threads = 2});
  ASSERT_TRUE(emb);
  expect_error(emb.value()->encode({}), "no texts");
  expect_error(emb.value()->encode_tokens({{1, 2}, {}}), "text 1 has no tokens");
  expect_error(emb.value()->encode_tokens({std::vector<int>(513, 5)}, {}), "text 0 (513 tokens) exceeds the context length of 512");
  expect_error(parse_pooling("max"), "unknown pooling 'max'");
  EXPECT_EQ(gen->engine().kv_stats().used_blocks, 0) << "failed requests leak no blocks";
}

TEST(PromptTemplates, PresetsAndCustomTemplates) {
  auto t = PromptTemplate::preset("deepseek-prover-v2");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->apply("theorem foo : 1 + 1 = 2 := by\n"),
            "Complete the following Lean 4 code:\n\n```lean4\ntheorem foo : 1 + 1 = 2 := by\n");
  EXPECT_EQ(t->stop, std::vector<std::string>{"```"});
  EXPECT_EQ(PromptTemplate::preset("plain")->apply("x {y}"), "x {y}");
  auto c = PromptTemplate::from_string("[[{{state}}]] {state} done");
  ASSERT_TRUE(c) << c.error().what();
  EXPECT_EQ(c->apply("S"), "[[{state}]] S done");
}

// The CLI prints what the library computes for the same request and seed, field by field.
TEST_F(Policy, CliCandidatesScoreAndEmbedPrintTheLibrarysResults) {
  const std::string m = testdata_dir() + "/models/tinystories-656k";
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " candidates -m " + m + " -p 'Once upon a time' -k 6 -n 10 --seed 2 --json", &out), 0) << out;
  auto j = nlohmann::json::parse(out);
  auto gen = generator(g_tiny_stories);
  GenerateParams p;
  p.sampling.temperature = 1.0f;
  p.sampling.seed = 2;
  p.max_new_tokens = 10;
  auto lib = gen->generate_candidates("Once upon a time", 6, p);
  ASSERT_TRUE(lib) << lib.error().what();
  ASSERT_FALSE(lib->candidates.empty());
  ASSERT_EQ(j["candidates"].size(), lib->candidates.size()) << "no candidates came back, or a different number";
  EXPECT_EQ(j["duplicates_removed"].get<int>(), lib->duplicates_removed);
  for (size_t i = 0; i < lib->candidates.size(); ++i) {
    const auto& c = j["candidates"][i];
    const GenerateResult& g = lib->candidates[i];
    EXPECT_EQ(c["text"].get<std::string>(), g.text) << i;
    EXPECT_EQ(c["tokens"].get<std::vector<int>>(), g.tokens) << i;
    EXPECT_NEAR(c["logprob"].get<double>(), g.logprob, 1e-9) << i;
    EXPECT_EQ(c["finish_reason"].get<std::string>(), g.finish_reason) << i;
    EXPECT_EQ(c["index"].get<int>(), lib->indices[i]) << i;
    if (i > 0) {
      EXPECT_LE(c["logprob"].get<double>(), j["candidates"][i - 1]["logprob"].get<double>()) << "best first";
    }
  }
  ASSERT_EQ(run_command(bin("wick") + " score -m " + m + " -p 'Once upon a time' -c ', there was a girl' --json", &out), 0) << out;
  j = nlohmann::json::parse(out);
  auto score = gen->score("Once upon a time", ", there was a girl");
  ASSERT_TRUE(score) << score.error().what();
  EXPECT_LT(score->logprob, 0);
  EXPECT_NEAR(j["logprob"].get<double>(), score->logprob, 1e-9);
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), score->tokens);
  ASSERT_EQ(j["logprobs"].size(), score->logprobs.size());
  for (size_t i = 0; i < score->logprobs.size(); ++i) EXPECT_FLOAT_EQ(j["logprobs"][i].get<float>(), score->logprobs[i]);
  ASSERT_EQ(run_command(bin("wick") + " embed -m " + m + " --normalize --json 'a cat' 'a dog'", &out), 0) << out;
  j = nlohmann::json::parse(out);
  auto emb = Embedder::create(g_tiny_stories, EngineOptions{});
  ASSERT_TRUE(emb) << emb.error().what();
  EncodeParams ep;
  ep.normalize = true;
  auto e = emb.value()->encode({"a cat", "a dog"}, ep);
  ASSERT_TRUE(e) << e.error().what();
  EXPECT_EQ(j["dim"].get<int>(), 64 * 2);
  ASSERT_EQ(j["embeddings"].size(), 2u);
  for (size_t t = 0; t < 2; ++t) {
    const auto v = j["embeddings"][t].get<std::vector<float>>();
    ASSERT_EQ(v.size(), e->vectors[t].size());
    for (size_t k = 0; k < v.size(); ++k) EXPECT_FLOAT_EQ(v[k], e->vectors[t][k]) << "text " << t << " dim " << k;
  }
  EXPECT_NE(j["embeddings"][0], j["embeddings"][1]);
  EXPECT_EQ(run_command(bin("wick") + " candidates -m " + m + " -p x -k 2 --template nope 2>&1", &out), 2) << out;
  EXPECT_NE(out.find("unknown prompt template 'nope'"), std::string::npos) << out;
  EXPECT_EQ(run_command(bin("wick") + " candidates -m " + m + " -p x -k 0 2>&1", &out), 2) << out;
}

}  // namespace
}  // namespace wick::test
