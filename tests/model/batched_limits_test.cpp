// The batched runtime at its limits: the KV pool too small for a batch ("raise
// kv_cache_tokens"), a prompt over the context inside a batch, a step over max_batch_tokens or
// max_logits_rows — each a clear error that leaks no block and changes nothing, and the other
// sequences' results are the same as before. In the scheduler, a request refused at its limits
// does not disturb the requests running beside it.
#include <condition_variable>
#include <mutex>

#include "test_util.h"
#include "wick/engine.h"
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

// Runs `steps` decode steps (token 5 + step) for the given sequences together; their last logits.
std::vector<std::vector<float>> decode_together(Engine& e, const std::vector<SequenceId>& seqs, int steps, std::string* error = nullptr) {
  std::vector<std::vector<float>> last(seqs.size());
  std::vector<int> toks(seqs.size());
  for (int step = 0; step < steps; ++step) {
    std::vector<StepInput> in;
    for (size_t i = 0; i < seqs.size(); ++i) {
      toks[i] = 5 + step;
      in.push_back({seqs[i], &toks[i], 1, StepOutput::kLastLogits});
    }
    auto r = e.step(in);
    if (!r) {
      if (error) *error = r.error().what();
      return last;
    }
    const int vocab = e.model().config().vocab_size;
    for (size_t i = 0; i < seqs.size(); ++i) last[i].assign(e.output(static_cast<int>(i)), e.output(static_cast<int>(i)) + vocab);
  }
  return last;
}

// Mid-run, inside a multi-sequence decode: one sequence reaches the context limit, then the KV
// pool runs out. Each time the step fails as a whole with an error naming the limit, nothing
// changes, and once the caller ends the offending sequence the others go on to exactly the
// logits they get in an engine that never saw it.
TEST_F(BatchedLimits, MidRunContextAndKvLimitsInsideABatchedStep) {
  EngineOptions o;
  o.n_threads = 2;
  o.context_length = 24;
  o.kv_block_size = 4;
  o.kv_cache_tokens = 48;  // 12 blocks
  auto e = Engine::create(g_model, o).value();
  const std::vector<int> long_prompt = {1, 80, 147, 201, 189, 111, 7, 1500, 33, 402, 91, 1024, 5, 17, 300, 12, 9, 44, 2000, 60, 70};
  const std::vector<int> short_prompt = {1, 80, 147, 201};
  const SequenceId a = e->add_sequence().value(), b = e->add_sequence().value(), c = e->add_sequence().value();
  StepInput prefill[] = {{a, long_prompt.data(), 21, StepOutput::kNone},
                         {b, short_prompt.data(), 4, StepOutput::kNone},
                         {c, short_prompt.data(), 4, StepOutput::kNone}};
  ASSERT_TRUE(e->step(prefill));
  std::string err;
  decode_together(*e, {a, b, c}, 3, &err);  // a reaches 24
  ASSERT_TRUE(err.empty()) << err;
  auto failed = decode_together(*e, {a, b, c}, 1, &err);
  ASSERT_FALSE(err.empty()) << "a would hold 25 tokens";
  EXPECT_NE(err.find("sequence " + std::to_string(a) + " (25 tokens) exceeds the context length of 24"), std::string::npos) << err;
  EXPECT_EQ(e->sequence_length(a), 24);
  EXPECT_EQ(e->sequence_length(b), 7) << "the failed step changed nothing";
  e->remove_sequence(a);  // the caller ends the sequence at its limit
  // b and c go on: 9 more tokens each. With a's 6 blocks freed, the 12-block pool holds them.
  err.clear();
  const auto go_on = decode_together(*e, {b, c}, 9, &err);
  ASSERT_TRUE(err.empty()) << err;
  // The same two sequences in an engine that never held `a`.
  auto fresh = Engine::create(g_model, o).value();
  const SequenceId b2 = fresh->add_sequence().value(), c2 = fresh->add_sequence().value();
  StepInput p2[] = {{b2, short_prompt.data(), 4, StepOutput::kNone}, {c2, short_prompt.data(), 4, StepOutput::kNone}};
  ASSERT_TRUE(fresh->step(p2));
  decode_together(*fresh, {b2, c2}, 3, &err);
  const auto alone = decode_together(*fresh, {b2, c2}, 9, &err);
  EXPECT_EQ(go_on, alone) << "the others' logits are unchanged by the sequence that hit its limit";

  // KV exhaustion mid-run: 5 sequences of 4 + 3 tokens = 10 blocks of 12; the next tokens need
  // 5 fresh blocks.
  auto k = Engine::create(g_model, o).value();
  std::vector<SequenceId> five;
  for (int i = 0; i < 5; ++i) {
    five.push_back(k->add_sequence().value());
    StepInput p{five.back(), short_prompt.data(), 4, StepOutput::kNone};
    ASSERT_TRUE(k->step(std::span<const StepInput>(&p, 1)));
  }
  err.clear();
  decode_together(*k, five, 4, &err);  // 8 tokens each: 10 blocks in use
  ASSERT_TRUE(err.empty()) << err;
  const int used = k->kv_stats().used_blocks;
  decode_together(*k, five, 1, &err);
  ASSERT_FALSE(err.empty()) << "5 new blocks with 2 free";
  EXPECT_NE(err.find("raise kv_cache_tokens"), std::string::npos) << err;
  EXPECT_EQ(k->kv_stats().used_blocks, used) << "nothing taken by the failed step";
  EXPECT_EQ(k->sequence_length(five[0]), 8);
  k->remove_sequence(five[3]);
  k->remove_sequence(five[4]);
  err.clear();
  const std::vector<SequenceId> three = {five[0], five[1], five[2]};
  const auto k_on = decode_together(*k, three, 2, &err);
  ASSERT_TRUE(err.empty()) << err;
  auto k2 = Engine::create(g_model, o).value();
  std::vector<SequenceId> three2;
  for (int i = 0; i < 3; ++i) {
    three2.push_back(k2->add_sequence().value());
    StepInput p{three2.back(), short_prompt.data(), 4, StepOutput::kNone};
    ASSERT_TRUE(k2->step(std::span<const StepInput>(&p, 1)));
  }
  decode_together(*k2, three2, 4, &err);
  EXPECT_EQ(k_on, decode_together(*k2, three2, 2, &err)) << "the survivors' logits are unchanged";
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
