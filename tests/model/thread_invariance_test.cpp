// Thread-count invariance: the same logits, bit for bit, with 1, 2 and 3 threads — for every
// weight type the kernels handle (F32 as stored, F16, BF16, Q8_0, Q4_0 converted at load), F32
// and F16 KV caches, over a chunked prefill and decode steps. Seeded results must not depend on
// the machine's core count.
#include <cstring>

#include "test_util.h"
#include "wick/model.h"

namespace wick::test {
namespace {

// The logits of a prompt (prefilled in chunks) and of decode steps after it.
std::vector<float> logits_of(std::shared_ptr<Model> m, const SessionOptions& o, const std::vector<int>& prompt) {
  auto s = Session::create(m, o).value();
  const int V = m->config().vocab_size;
  std::vector<float> out;
  const float* l = s->append(prompt).value();
  out.insert(out.end(), l, l + V);
  for (int tok : {5, 900, 1201, 64}) {
    l = s->append(&tok, 1).value();
    out.insert(out.end(), l, l + V);
  }
  return out;
}

std::vector<float> run(std::shared_ptr<Model> m, int threads, const std::string& kv) {
  SessionOptions o;
  o.n_threads = threads;
  o.batch_tokens = 5;  // the 13-token prompt in three chunks
  o.kv_dtype = kv;
  return logits_of(m, o, {1, 80, 147, 201, 189, 111, 7, 1500, 33, 402, 91, 1024, 77});
}

TEST(ThreadInvariance, LogitsAreBitIdenticalWith1_2And3Threads) {
  WICK_REQUIRE_TESTDATA();
  for (const char* dtype : {"", "f16", "bf16", "q8_0", "q4_0"}) {
    LoadOptions lo;
    lo.dtype = dtype;
    auto m = Model::load(testdata_dir() + "/models/tinystories-656k", lo).value();
    for (const char* kv : {"f32", "f16"}) {
      SCOPED_TRACE(std::string("weights ") + (*dtype ? dtype : "f32") + ", kv " + kv);
      const std::vector<float> one = run(m, 1, kv);
      for (int t : {2, 3}) {
        const std::vector<float> other = run(m, t, kv);
        ASSERT_EQ(one.size(), other.size());
        EXPECT_EQ(0, std::memcmp(one.data(), other.data(), one.size() * sizeof(float))) << t << " threads differ from 1";
      }
    }
  }
}

// The KV cache's block size (SessionOptions::kv_block_size, `--kv-block-size`) moves where keys
// lie, never what a query computes: the same logits, bit for bit, for blocks of 1, 5 (not a power
// of two), 16 and 64 tokens, F32 and F16 caches, over a 70-token prompt (several of the
// attention kernel's 32-key groups, each across blocks) and decode steps. A block size of 0 is
// an error.
TEST(KvBlockSize, LogitsAreBitIdenticalForEveryBlockSize) {
  WICK_REQUIRE_TESTDATA();
  auto m = Model::load(testdata_dir() + "/models/tinystories-656k").value();
  std::vector<int> prompt(70);
  for (int i = 0; i < 70; ++i) prompt[static_cast<size_t>(i)] = 3 + (i * 131) % 1900;
  const auto run_blocks = [&](int block, const std::string& kv) {
    SessionOptions o;
    o.kv_block_size = block;
    o.kv_dtype = kv;
    o.batch_tokens = 32;  // the prompt in three chunks
    return logits_of(m, o, prompt);
  };
  for (const char* kv : {"f32", "f16"}) {
    SCOPED_TRACE(std::string("kv ") + kv);
    const std::vector<float> want = run_blocks(16, kv);
    for (int block : {1, 5, 64}) {
      const std::vector<float> got = run_blocks(block, kv);
      ASSERT_EQ(want.size(), got.size());
      EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float))) << "blocks of " << block;
    }
  }
  SessionOptions zero;
  zero.kv_block_size = 0;
  auto bad = Session::create(m, zero);
  ASSERT_FALSE(bad);
  EXPECT_NE(std::string(bad.error().what()).find("kv_block_size"), std::string::npos) << bad.error().what();
}

// Session::truncate: appending after a cut gives the logits of a session that never saw the
// dropped tokens, bit for bit (the kept keys were computed in a longer batch, which batch
// invariance makes the same bits), cutting inside a KV block, at a block's start, at 0 and at
// the end; and a cut past the end is an error that changes nothing.
TEST(SessionTruncate, ContinuesAsIfTheDroppedTokensWereNeverAppended) {
  WICK_REQUIRE_TESTDATA();
  auto m = Model::load(testdata_dir() + "/models/tinystories-656k").value();
  const int V = m->config().vocab_size;
  std::vector<int> prompt(40);
  for (int i = 0; i < 40; ++i) prompt[static_cast<size_t>(i)] = 3 + (i * 97) % 1900;
  const std::vector<int> next = {5, 900, 1201};
  auto logits = [&](const float* l) { return std::vector<float>(l, l + V); };
  for (const int keep : {0, 6, 16, 32, 40}) {
    SCOPED_TRACE("keep " + std::to_string(keep));
    auto fresh = Session::create(m).value();
    if (keep > 0) {
      ASSERT_TRUE(fresh->append(prompt.data(), keep).ok());
    }
    const std::vector<float> want = logits(fresh->append(next).value());
    auto cut = Session::create(m).value();
    ASSERT_TRUE(cut->append(prompt).ok());
    ASSERT_EQ(cut->truncate(keep).value(), keep);
    EXPECT_EQ(cut->position(), keep);
    const std::vector<float> got = logits(cut->append(next).value());
    EXPECT_EQ(0, std::memcmp(want.data(), got.data(), want.size() * sizeof(float)));
    auto past = cut->truncate(cut->position() + 1);
    ASSERT_FALSE(past.ok());
    EXPECT_EQ(past.error().code(), ErrorCode::kInvalidArgument);
    EXPECT_EQ(cut->position(), keep + 3);
  }
}

}  // namespace
}  // namespace wick::test
