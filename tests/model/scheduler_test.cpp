// The serving scheduler on the real TinyStories model: results equal the library's (generate,
// candidates, score, embeddings) bit for bit; requests are admitted between steps; a long
// prompt is prefilled in chunks while another request keeps decoding; a shared prefix is
// prefilled once; preemption and recompute give the tokens an unpreempted run gives;
// cancellation frees blocks; bad requests and a full queue are refused.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include "runtime/row_sinks.h"
#include "test_util.h"
#include "wick/embedder.h"
#include "wick/generator.h"
#include "wick/scheduler.h"

namespace wick::test {
namespace {

std::shared_ptr<Model> g_model;

// Everything a request produced, collected from its callbacks.
struct Outcome {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  std::optional<Error> error;
  std::vector<GenerateResult> results;   // by choice
  std::vector<std::string> streamed;     // concatenated token texts, by choice
  std::vector<std::vector<int>> tokens;  // token events, by choice
  std::vector<std::string> order;        // the choice of each token event, in order
  std::atomic<int> n_tokens{0};

  explicit Outcome(int n) : results(static_cast<size_t>(n)), streamed(static_cast<size_t>(n)), tokens(static_cast<size_t>(n)) {}
  RequestCallbacks callbacks() {
    RequestCallbacks cb;
    cb.on_token = [this](const TokenEvent& e) {
      std::lock_guard<std::mutex> l(mu);
      streamed[static_cast<size_t>(e.choice)] += e.text;
      tokens[static_cast<size_t>(e.choice)].push_back(e.token);
      order.push_back(std::to_string(e.choice));
      ++n_tokens;
    };
    cb.on_choice_done = [this](int choice, GenerateResult&& r) {
      std::lock_guard<std::mutex> l(mu);
      results[static_cast<size_t>(choice)] = std::move(r);
    };
    cb.on_done = [this](const Error* e) {
      std::lock_guard<std::mutex> l(mu);
      if (e) error = *e;
      done = true;
      cv.notify_all();
    };
    return cb;
  }
  bool wait(double seconds = 120) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, std::chrono::duration<double>(seconds), [&] { return done; });
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testdata_dir().empty()) return;
    g_model = Model::load(testdata_dir() + "/models/tinystories-656k").value();
  }
  static void TearDownTestSuite() { g_model.reset(); }
  void SetUp() override { WICK_REQUIRE_TESTDATA(); }

  static std::unique_ptr<Scheduler> scheduler(SchedulerOptions o = {}) {
    o.engine.n_threads = 2;
    auto s = Scheduler::create(g_model, o);
    EXPECT_TRUE(s) << s.error().what();
    return std::move(s.value());
  }
  static std::vector<int> encode(const std::string& text) { return g_model->tokenizer().encode(text).value(); }
  static GenerateParams sampled(uint64_t seed, int max_new) {
    GenerateParams p;
    p.sampling.temperature = 1.0f;
    p.sampling.seed = seed;
    p.max_new_tokens = max_new;
    return p;
  }
  static GenerateResult alone(const std::vector<int>& prompt, const GenerateParams& p) {
    EngineOptions o;
    o.n_threads = 2;
    auto g = Generator::create(g_model, o).value();
    return g->generate_from_tokens(prompt, p).value();
  }
  static void expect_same(const GenerateResult& got, const GenerateResult& want, const std::string& what) {
    EXPECT_EQ(got.tokens, want.tokens) << what;
    EXPECT_EQ(got.logprobs, want.logprobs) << what << ": bit-identical log-probs";
    EXPECT_EQ(got.text, want.text) << what;
    EXPECT_EQ(got.finish_reason, want.finish_reason) << what;
  }
  static std::unique_ptr<Outcome> submit(Scheduler& s, SchedulerRequest r) {
    auto out = std::make_unique<Outcome>(r.n);
    r.callbacks = out->callbacks();
    auto id = s.submit(std::move(r));
    EXPECT_TRUE(id) << id.error().what();
    return out;
  }
};

TEST_F(SchedulerTest, OneRequestEqualsGenerateAndStreamsItsText) {
  auto s = scheduler();
  SchedulerRequest r;
  r.prompt = encode("Once upon a time");
  r.params = sampled(7, 40);
  r.params.top_logprobs = 3;
  auto out = submit(*s, r);
  ASSERT_TRUE(out->wait());
  ASSERT_FALSE(out->error) << out->error->what();
  expect_same(out->results[0], alone(r.prompt, r.params), "n = 1");
  EXPECT_EQ(out->streamed[0], out->results[0].text) << "token texts concatenate to the text";
  EXPECT_EQ(out->tokens[0], out->results[0].tokens) << "one event per token";
  EXPECT_EQ(out->results[0].top_logprobs.size(), out->results[0].tokens.size());
  const SchedulerStats st = s->stats();
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.kv.used_blocks, 0) << "a finished request frees its blocks";
  EXPECT_EQ(st.generation_tokens, out->results[0].tokens.size());
  EXPECT_EQ(st.finished, 1u);
}

TEST_F(SchedulerTest, ChoicesEqualCandidatesGeneratedAlone) {
  auto s = scheduler();
  SchedulerRequest r;
  r.prompt = encode("Lily and Ben");
  r.n = 6;
  r.params = sampled(5, 24);
  auto out = submit(*s, r);
  ASSERT_TRUE(out->wait());
  ASSERT_FALSE(out->error);
  for (int i = 0; i < r.n; ++i) {
    GenerateParams p = r.params;
    p.sampling.seed = sequence_seed(5, i);
    expect_same(out->results[static_cast<size_t>(i)], alone(r.prompt, p), "choice " + std::to_string(i));
    EXPECT_EQ(out->streamed[static_cast<size_t>(i)], out->results[static_cast<size_t>(i)].text);
  }
  // The choices decode together: their token events interleave.
  std::set<std::string> first_ones(out->order.begin(), out->order.begin() + r.n);
  EXPECT_EQ(first_ones.size(), static_cast<size_t>(r.n)) << "every choice samples its first token in the same step";
}

// A long prompt arriving while another request decodes is admitted at the next step and
// prefilled in chunks; the running request produces a token in every one of those steps.
TEST_F(SchedulerTest, LongPromptPrefillsInChunksWhileAnotherRequestDecodes) {
  SchedulerOptions o;
  o.engine.max_batch_tokens = 8;
  auto s = scheduler(o);
  SchedulerRequest a;
  a.prompt = encode("Once upon a time");
  a.params = sampled(3, 120);
  a.params.ignore_eos = true;
  auto out_a = submit(*s, a);
  while (out_a->n_tokens < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  SchedulerRequest b;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "Tom had a big red ball. ";
  b.prompt = encode(text);
  ASSERT_GT(b.prompt.size(), 90u);
  b.params = sampled(4, 4);
  b.callbacks = {};
  auto out_b = std::make_unique<Outcome>(1);
  std::atomic<int> a_tokens_at_submit{0}, a_tokens_at_b_first{-1};
  b.callbacks = out_b->callbacks();
  auto on_token = b.callbacks.on_token;
  b.callbacks.on_token = [&, on_token](const TokenEvent& e) {
    if (a_tokens_at_b_first < 0) a_tokens_at_b_first = out_a->n_tokens.load();
    on_token(e);
  };
  a_tokens_at_submit = out_a->n_tokens.load();
  ASSERT_TRUE(s->submit(b));
  ASSERT_TRUE(out_b->wait());
  ASSERT_TRUE(out_a->wait());
  ASSERT_FALSE(out_a->error);
  ASSERT_FALSE(out_b->error);
  // b needs ceil(size / 7) steps (7 prompt tokens beside a's decode token each step).
  const int chunks = static_cast<int>((b.prompt.size() + 6) / 7);
  EXPECT_GE(a_tokens_at_b_first - a_tokens_at_submit, chunks - 1)
      << "a kept decoding while b's " << b.prompt.size() << "-token prompt was prefilled";
  expect_same(out_a->results[0], alone(a.prompt, a.params), "the running request");
  expect_same(out_b->results[0], alone(b.prompt, b.params), "the request admitted mid-stream");
}

TEST_F(SchedulerTest, SharedPrefixIsPrefilledOnce) {
  auto s = scheduler();  // blocks of 16 tokens
  std::string header;
  for (int i = 0; i < 12; ++i) {
    header += "The cat number ";
    header += std::to_string(i);
    header += " sat on the mat. ";
  }
  std::vector<int> first = encode(header + "Then it slept.");
  SchedulerRequest r1;
  r1.prompt = first;
  r1.params = sampled(1, 4);
  auto o1 = submit(*s, r1);
  ASSERT_TRUE(o1->wait());
  const SchedulerStats before = s->stats();
  EXPECT_GT(before.kv.cached_blocks, 0) << "the finished request's full blocks stay cached";

  std::vector<int> second = encode(header + "Then a dog came and barked at it.");
  size_t common = 0;
  while (common < first.size() && first[common] == second[common]) ++common;
  SchedulerRequest r2;
  r2.prompt = second;
  r2.params = sampled(2, 8);
  auto o2 = submit(*s, r2);
  ASSERT_TRUE(o2->wait());
  ASSERT_FALSE(o2->error);
  const SchedulerStats after = s->stats();
  const uint64_t hits = after.prefix_cache_hits - before.prefix_cache_hits;
  EXPECT_EQ(hits, common / 16 * 16) << "every full block of the shared prefix is reused (" << common << " tokens in common)";
  EXPECT_GE(hits, 64u);
  EXPECT_EQ(after.prefix_cache_queries - before.prefix_cache_queries, second.size());
  expect_same(o2->results[0], alone(r2.prompt, r2.params), "a request on a cached prefix");
}

// A pool too small for three requests at once: the youngest is preempted and recomputed, and
// every request still gets exactly the tokens it gets alone.
TEST_F(SchedulerTest, PreemptionAndRecomputeGiveTheSameTokens) {
  SchedulerOptions o;
  o.engine.kv_block_size = 16;
  o.engine.kv_cache_tokens = 12 * 16;  // 12 blocks; the requests need 4, 4 and 8 at their end
  o.engine.max_batch_tokens = 32;
  auto s = scheduler(o);
  std::vector<SchedulerRequest> reqs(3);
  std::vector<std::unique_ptr<Outcome>> outs;
  const char* prompts[] = {"Once upon a time there was a girl", "The big dog ran to the park and", "Tom and Sue liked to play"};
  for (int i = 0; i < 3; ++i) {
    reqs[static_cast<size_t>(i)].prompt = encode(prompts[i]);
    reqs[static_cast<size_t>(i)].params = sampled(static_cast<uint64_t>(10 + i), 50);
    reqs[static_cast<size_t>(i)].params.ignore_eos = true;
    if (i == 2) reqs[2].n = 2;  // a request with forked choices is preempted too
  }
  // The first request's first token waits until all three are submitted: on a busy machine the
  // scheduler could otherwise finish it before the others arrive, and nobody would be preempted.
  std::promise<void> all_submitted;
  std::shared_future<void> gate = all_submitted.get_future().share();
  for (size_t i = 0; i < reqs.size(); ++i) {
    auto out = std::make_unique<Outcome>(reqs[i].n);
    SchedulerRequest r = reqs[i];
    r.callbacks = out->callbacks();
    if (i == 0)
      r.callbacks.on_token = [gate, record = r.callbacks.on_token](const TokenEvent& e) {
        gate.wait();
        record(e);
      };
    auto id = s->submit(std::move(r));
    ASSERT_TRUE(id) << id.error().what();
    outs.push_back(std::move(out));
  }
  all_submitted.set_value();
  for (auto& out : outs) {
    ASSERT_TRUE(out->wait());
    ASSERT_FALSE(out->error) << out->error->what();
  }
  EXPECT_GT(s->stats().preemptions, 0u) << "the pool cannot hold all three: someone was preempted";
  for (int i = 0; i < 3; ++i) {
    const SchedulerRequest& r = reqs[static_cast<size_t>(i)];
    for (int c = 0; c < r.n; ++c) {
      GenerateParams p = r.params;
      if (r.n > 1) p.sampling.seed = sequence_seed(p.sampling.seed, c);
      const auto& got = outs[static_cast<size_t>(i)]->results[static_cast<size_t>(c)];
      expect_same(got, alone(r.prompt, p), "request " + std::to_string(i) + " choice " + std::to_string(c));
      EXPECT_EQ(outs[static_cast<size_t>(i)]->tokens[static_cast<size_t>(c)], got.tokens) << "no token streamed twice";
    }
  }
  EXPECT_EQ(s->stats().kv.used_blocks, 0);
}

TEST_F(SchedulerTest, CancellationFreesBlocksAtOnce) {
  auto s = scheduler();
  SchedulerRequest r;
  r.prompt = encode("Once upon a time");
  r.params = sampled(1, 400);
  r.params.ignore_eos = true;
  auto out = std::make_unique<Outcome>(1);
  r.callbacks = out->callbacks();
  const RequestId id = s->submit(std::move(r)).value();
  while (out->n_tokens < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  EXPECT_GT(s->stats().kv.used_blocks, 0);
  s->cancel(id);
  ASSERT_TRUE(out->wait());
  ASSERT_TRUE(out->error);
  EXPECT_EQ(out->error->code(), ErrorCode::kCancelled);
  EXPECT_LT(out->n_tokens.load(), 400);
  const SchedulerStats st = s->stats();
  EXPECT_EQ(st.kv.used_blocks, 0);
  EXPECT_EQ(st.live_sequences, 0);
  EXPECT_EQ(st.running, 0);
  EXPECT_EQ(st.cancelled, 1u);
}

TEST_F(SchedulerTest, ScoreAndEmbeddingRequestsEqualTheLibrary) {
  auto s = scheduler();
  const std::vector<int> prompt = encode("Once upon a time"), cont = g_model->tokenizer().encode(" there was a cat", {false, true}).value();
  // Score: prompt + continuation, logits rows from the last prompt position.
  ScoreResult got;
  got.prompt_tokens = prompt;
  got.tokens = cont;
  ScoreSink sink(got, g_model->config().vocab_size);
  SchedulerRequest r;
  r.prompt = prompt;
  r.prompt.insert(r.prompt.end(), cont.begin(), cont.end());
  r.params.max_new_tokens = 0;
  r.rows_from = sink.first_position();
  auto out = std::make_unique<Outcome>(1);
  r.callbacks = out->callbacks();
  r.callbacks.on_prompt_rows = [&sink](int pos, const float* rows, int n) { sink(pos, rows, n); };
  ASSERT_TRUE(s->submit(std::move(r)));
  ASSERT_TRUE(out->wait());
  sink.finish();
  EngineOptions eo;
  eo.n_threads = 2;
  auto want = Generator::create(g_model, eo).value()->score_tokens(prompt, cont).value();
  EXPECT_EQ(got.logprobs, want.logprobs);
  EXPECT_EQ(got.greedy, want.greedy);

  // Embeddings: hidden rows of every position, mean-pooled.
  const std::vector<std::string> texts = {"Once upon a time", "The dog was happy.", "Lily saw a bird"};
  auto lib = Embedder::create(g_model, eo).value()->encode(texts).value();
  const int H = g_model->config().hidden_size;
  std::vector<std::unique_ptr<PoolingSink>> sinks;
  std::vector<std::unique_ptr<Outcome>> outs;
  for (const auto& t : texts) {
    SchedulerRequest e;
    e.prompt = encode(t);
    e.params.max_new_tokens = 0;
    e.rows_from = 0;
    e.hidden = true;
    sinks.push_back(std::make_unique<PoolingSink>(H, static_cast<int>(e.prompt.size()), Pooling::kMean));
    PoolingSink* ps = sinks.back().get();
    outs.push_back(std::make_unique<Outcome>(1));
    e.callbacks = outs.back()->callbacks();
    e.callbacks.on_prompt_rows = [ps](int pos, const float* rows, int n) { (*ps)(pos, rows, n); };
    ASSERT_TRUE(s->submit(std::move(e)));
  }
  for (size_t i = 0; i < texts.size(); ++i) {
    ASSERT_TRUE(outs[i]->wait());
    EXPECT_EQ(sinks[i]->finish(false, "text"), lib.vectors[i]) << "embedding " << i << " bit for bit";
  }
}

TEST_F(SchedulerTest, BadRequestsAndAFullQueueAreRefused) {
  SchedulerOptions o;
  o.engine.max_sequences = 1;
  o.max_waiting = 2;
  auto s = scheduler(o);
  SchedulerRequest bad;
  bad.prompt = {};
  EXPECT_EQ(s->submit(bad).error().code(), ErrorCode::kInvalidArgument);
  bad.prompt = {1, 2, 3};
  bad.n = 0;
  EXPECT_NE(std::string(s->submit(bad).error().what()).find("n must be in 1..1"), std::string::npos);
  bad.n = 1;
  bad.params.max_new_tokens = 600;
  EXPECT_NE(std::string(s->submit(bad).error().what()).find("(3 tokens) + max_tokens (600) = 603 tokens exceeds the context length of 512"),
            std::string::npos);
  bad.params.max_new_tokens = 4;
  bad.params.sampling.top_p = 0;
  EXPECT_FALSE(s->submit(bad));
  bad.params.sampling.top_p = 1;
  bad.prompt = {1, 99999};
  EXPECT_NE(std::string(s->submit(bad).error().what()).find("outside the vocabulary"), std::string::npos);

  // One sequence slot: the first request runs, two wait, the fourth is refused.
  SchedulerRequest r;
  r.prompt = encode("Once upon a time");
  r.params = sampled(1, 200);
  r.params.ignore_eos = true;
  auto first = submit(*s, r);
  while (first->n_tokens < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto w1 = submit(*s, r), w2 = submit(*s, r);
  auto refused = s->submit(r);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code(), ErrorCode::kResourceExhausted);
  EXPECT_EQ(s->stats().waiting, 2);
  ASSERT_TRUE(first->wait() && w1->wait() && w2->wait());
  EXPECT_TRUE(s->idle());
}

TEST_F(SchedulerTest, DestroyingTheSchedulerCancelsWhatIsLeft) {
  auto s = scheduler();
  SchedulerRequest r;
  r.prompt = encode("Once upon a time");
  r.params = sampled(1, 400);
  r.params.ignore_eos = true;
  auto a = submit(*s, r);
  while (a->n_tokens < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  s.reset();
  ASSERT_TRUE(a->done);
  ASSERT_TRUE(a->error);
  EXPECT_EQ(a->error->code(), ErrorCode::kCancelled);
}

}  // namespace
}  // namespace wick::test
