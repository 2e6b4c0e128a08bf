// The batched runtime at its limits: the KV pool too small for a batch ("raise
// kv_cache_tokens"), a prompt over the context inside a batch, a step over max_batch_tokens or
// max_logits_rows — each a clear error that leaks no block and changes nothing, and the other
// sequences' results are the same as before. In the scheduler, a request refused at its limits
// does not disturb the requests running beside it.
#include <condition_variable>
#include <mutex>

#include "test_util.h"
#include "wick/generator.h"
#include "wick/scheduler.h"

namespace wick::test {
namespace {

std::shared_ptr<Model> g_model;

class BatchedLimits : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testdata_dir().empty()) g_model = Model::load(testdata_dir() + "/models/tinystories-656k").value();
  }
  static void TearDownTestSuite() { g_model.reset(); }
  void SetUp() override { WICK_REQUIRE_TESTDATA(); }
  static GenerateParams sampled(int max_new) {
    GenerateParams p;
    p.sampling.seed = 4;
    p.max_new_tokens = max_new;
    p.ignore_eos = true;
    return p;
  }
  static void expect_clean(Engine& e) {
    EXPECT_EQ(e.kv_stats().used_blocks, 0) << "no block leaked";
    EXPECT_EQ(e.live_sequences(), 0) << "no sequence leaked";
  }
};

TEST_F(BatchedLimits, KvPoolTooSmallForTheBatch) {
  EngineOptions o;
  o.n_threads = 2;
  o.kv_cache_tokens = 64;  // 4 blocks of 16
  auto gen = Generator::create(g_model, o).value();
  const std::vector<std::string> prompts = {"Once upon a time", "The dog ran", "Lily had a ball"};
  auto r = gen->generate_batch(prompts, sampled(30));
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.error().what()).find("raise kv_cache_tokens"), std::string::npos) << r.error().what();
  expect_clean(gen->engine());
  auto c = gen->generate_candidates("Once upon a time", 8, sampled(30));
  ASSERT_FALSE(c);
  EXPECT_NE(std::string(c.error().what()).find("KV blocks"), std::string::npos);
  expect_clean(gen->engine());
  auto one = gen->generate("Once upon a time", sampled(30));
  ASSERT_TRUE(one) << "what fits still runs";
  expect_clean(gen->engine());
}

TEST_F(BatchedLimits, OneOverLongPromptInABatch) {
  EngineOptions o;
  o.n_threads = 2;
  auto gen = Generator::create(g_model, o).value();
  std::string long_prompt;
  for (int i = 0; i < 200; ++i) long_prompt += "the little cat ";
  const GenerateParams p = sampled(40);
  auto before = gen->generate_batch({"Once upon a time", "The dog ran"}, p).value();
  auto r = gen->generate_batch({"Once upon a time", long_prompt, "The dog ran"}, p);
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.error().what()).find("exceeds the context length of 512"), std::string::npos) << r.error().what();
  expect_clean(gen->engine());
  auto after = gen->generate_batch({"Once upon a time", "The dog ran"}, p).value();
  for (size_t i = 0; i < before.size(); ++i) {
    EXPECT_EQ(after[i].tokens, before[i].tokens) << "the others' results are unchanged";
    EXPECT_EQ(after[i].logprobs, before[i].logprobs);
  }
}

TEST_F(BatchedLimits, StepsOverTheTokenOrRowBudgetChangeNothing) {
  EngineOptions o;
  o.n_threads = 2;
  o.max_batch_tokens = 8;
  o.max_logits_rows = 2;
  auto e = Engine::create(g_model, o).value();
  const SequenceId a = e->add_sequence().value(), b = e->add_sequence().value(), c = e->add_sequence().value();
  const std::vector<int> nine = {1, 80, 147, 201, 189, 111, 7, 1500, 33};
  StepInput too_many{a, nine.data(), 9, StepOutput::kLastLogits};
  auto r = e->step(std::span<const StepInput>(&too_many, 1));
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.error().what()).find("max_batch_tokens (8)"), std::string::npos);
  EXPECT_EQ(e->sequence_length(a), 0);
  const int t = 5;
  StepInput rows[] = {{a, &t, 1, StepOutput::kLastLogits}, {b, &t, 1, StepOutput::kLastLogits}, {c, &t, 1, StepOutput::kLastLogits}};
  r = e->step(rows);
  ASSERT_FALSE(r);
  EXPECT_NE(std::string(r.error().what()).find("max_logits_rows (2)"), std::string::npos);
  EXPECT_EQ(e->sequence_length(b), 0);
  EXPECT_EQ(e->kv_stats().used_blocks, 0);
  EXPECT_TRUE(e->step(std::span<const StepInput>(rows, 2))) << "within the budgets";
}

TEST_F(BatchedLimits, TheSchedulerRefusesARequestWithoutDisturbingTheOthers) {
  SchedulerOptions so;
  so.engine.n_threads = 2;
  auto s = Scheduler::create(g_model, so).value();
  struct Done {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
    GenerateResult r;
  } d;
  SchedulerRequest run;
  run.prompt = g_model->tokenizer().encode("Once upon a time").value();
  run.params = sampled(60);
  run.callbacks.on_choice_done = [&](int, GenerateResult&& r) { d.r = std::move(r); };
  run.callbacks.on_done = [&](const Error*) {
    std::lock_guard<std::mutex> l(d.mu);
    d.done = true;
    d.cv.notify_all();
  };
  ASSERT_TRUE(s->submit(run));
  SchedulerRequest too_long = run;
  too_long.callbacks = {};
  too_long.params.max_new_tokens = 600;
  auto refused = s->submit(too_long);
  ASSERT_FALSE(refused);
  EXPECT_NE(std::string(refused.error().what()).find("exceeds the context length of 512"), std::string::npos);
  std::unique_lock<std::mutex> l(d.mu);
  ASSERT_TRUE(d.cv.wait_for(l, std::chrono::seconds(60), [&] { return d.done; }));
  EngineOptions eo;
  eo.n_threads = 2;
  auto alone = Generator::create(g_model, eo).value()->generate_from_tokens(run.prompt, run.params).value();
  EXPECT_EQ(d.r.tokens, alone.tokens);
  EXPECT_EQ(s->stats().kv.used_blocks, 0);
}

}  // namespace
}  // namespace wick::test
