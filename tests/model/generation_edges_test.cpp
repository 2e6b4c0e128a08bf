// Generation's edges on a byte-fallback vocabulary (a random model on Mistral's SentencePiece
// tokenizer, where ⊢, ∀, ℕ, CJK and emoji come out as <0xNN> byte tokens): the decode state is
// driven token by token (one-hot logits), so every case is exact. EOS ids from a
// generation_config list, stop token ids, stop strings split across tokens and across a
// held-back partial match, streamed pieces that never split a UTF-8 character, finish()
// flushing an incomplete tail.
#include "runtime/decode_state.h"
#include "test_util.h"
#include "tokenizer/unicode.h"

namespace wick::test {
namespace {

std::shared_ptr<Model> g_model;
std::unique_ptr<TempDir> g_tmp;
const int kEos2 = 1000;  // a second EOS id from generation_config's list

class GenerationEdges : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (testdata_dir().empty()) return;
    g_tmp = std::make_unique<TempDir>();
    std::string out;
    ASSERT_EQ(run_command(bin("wick-make-model") + " --preset tiny --seed 1 --testdata '" + testdata_dir() +
                              "' --tokenizer tokenizers/mistral-v0.1 --set vocab_size=32000 --set 'eos_token_id=[2," +
                              std::to_string(kEos2) + "]' -o " + g_tmp->file("m") + " 2>&1",
                          &out),
              0)
        << out;
    g_model = Model::load(g_tmp->file("m")).value();
  }
  static void TearDownTestSuite() {
    g_model.reset();
    g_tmp.reset();
  }
  void SetUp() override { WICK_REQUIRE_TESTDATA(); }

  // Drives a decode state through `tokens` (greedy on one-hot logits); returns the streamed pieces.
  static std::vector<std::string> drive(DecodeState& s, const std::vector<int>& tokens) {
    std::vector<float> logits(32000, 0.0f);
    for (int t : tokens) {
      if (s.finished()) break;
      logits[static_cast<size_t>(t)] = 100.0f;
      EXPECT_EQ(s.step(logits.data()), t);
      logits[static_cast<size_t>(t)] = 0.0f;
    }
    s.finish();
    return {};
  }
  static GenerateParams params(std::vector<std::string>* pieces, int max_new = 64) {
    GenerateParams p;
    p.sampling.temperature = 0;
    p.max_new_tokens = max_new;
    p.on_text = [pieces](const std::string& piece) { pieces->push_back(piece); };
    return p;
  }
  static std::vector<int> ids(const std::string& text) { return g_model->tokenizer().encode(text, {false, true}).value(); }
};

TEST_F(GenerationEdges, MultiByteTextStreamsWithoutSplittingCharacters) {
  const std::string text = "Lean: ⊢ ∀ n : ℕ, n + 0 = n 中文 😀 done";
  const std::vector<int> toks = ids(text);
  int byte_tokens = 0;
  for (int t : toks) byte_tokens += g_model->tokenizer().is_byte_token(t) ? 1 : 0;
  ASSERT_GE(byte_tokens, 6) << "the test needs characters spelled in byte tokens";
  std::vector<std::string> pieces;
  GenerateParams p = params(&pieces);
  DecodeState s(*g_model, p, 0, {1});
  drive(s, toks);
  std::string joined;
  for (const auto& piece : pieces) {
    EXPECT_TRUE(is_valid_utf8(piece)) << "a streamed piece splits a character";
    joined += piece;
  }
  EXPECT_EQ(s.result().text, text);
  EXPECT_EQ(joined, s.result().text);
  EXPECT_EQ(s.result().finish_reason, "length");
}

TEST_F(GenerationEdges, StopStringsAcrossTokensAndHeldBackPrefixes) {
  // "∀ n" spans several byte tokens: the text is cut before it and it is never streamed.
  std::vector<std::string> pieces;
  GenerateParams p = params(&pieces);
  p.stop = {"∀ n"};
  DecodeState s(*g_model, p, 0, {1});
  drive(s, ids("Lean: ⊢ ∀ n : ℕ"));
  EXPECT_EQ(s.result().text, "Lean: ⊢ ");
  EXPECT_EQ(s.result().finish_reason, "stop");
  EXPECT_EQ(s.result().stop_reason, "∀ n");
  std::string joined;
  for (const auto& piece : pieces) joined += piece;
  EXPECT_EQ(joined, "Lean: ⊢ ");
  // The text "n" could start "n dx": it is held back, then released when " done" does not complete it.
  std::vector<std::string> pieces2;
  GenerateParams q = params(&pieces2);
  q.stop = {"n dx", "🙂"};
  DecodeState t(*g_model, q, 0, {1});
  std::vector<float> logits(32000, 0.0f);
  std::string streamed;
  size_t held_seen = 0;
  for (int tok : ids("⊢ ∀ n done")) {
    logits[static_cast<size_t>(tok)] = 100.0f;
    t.step(logits.data());
    logits[static_cast<size_t>(tok)] = 0.0f;
    streamed.clear();
    for (const auto& piece : pieces2) streamed += piece;
    if (t.result().text.size() > streamed.size()) held_seen = std::max(held_seen, t.result().text.size() - streamed.size());
  }
  t.finish();
  EXPECT_GT(held_seen, 0u) << "a possible stop prefix was held back while it could still match";
  EXPECT_EQ(t.result().text, "⊢ ∀ n done");
  EXPECT_EQ(t.result().finish_reason, "length");
  streamed.clear();
  for (const auto& piece : pieces2) streamed += piece;
  EXPECT_EQ(streamed, "⊢ ∀ n done");
}

TEST_F(GenerationEdges, FinishFlushesAnIncompleteTail) {
  std::vector<int> toks = ids("ok 🦜");  // 🦜 is four byte tokens in this vocabulary
  ASSERT_GE(toks.size(), 4u);
  toks.resize(toks.size() - 2);  // the emoji's last two bytes never come
  std::vector<std::string> pieces;
  GenerateParams p = params(&pieces, static_cast<int>(toks.size()));
  DecodeState s(*g_model, p, 0, {1});
  drive(s, toks);
  std::string joined;
  for (const auto& piece : pieces) joined += piece;
  EXPECT_EQ(joined, s.result().text) << "the held-back bytes come out at finish()";
  EXPECT_GT(s.result().text.size(), std::string("ok ").size()) << "the incomplete tail is part of the text";
  EXPECT_EQ(s.result().text.rfind("ok ", 0), 0u);
}

TEST_F(GenerationEdges, EosListsStopTokenIdsAndIgnoreEos) {
  ASSERT_EQ(g_model->config().eos_token_ids, (std::vector<int>{2, kEos2})) << "generation_config's list";
  const std::vector<int> before = ids("Once upon");
  std::vector<int> toks = before;
  toks.push_back(kEos2);
  toks.push_back(ids(" a")[0]);
  std::vector<std::string> pieces;
  GenerateParams p = params(&pieces);
  DecodeState a(*g_model, p, 0, {1});
  drive(a, toks);
  EXPECT_EQ(a.result().finish_reason, "stop");
  EXPECT_EQ(a.result().stop_reason, "token:" + std::to_string(kEos2)) << "the second EOS of the list stops too";
  EXPECT_EQ(a.result().tokens.size(), before.size() + 1);
  p.ignore_eos = true;
  DecodeState b(*g_model, p, 0, {1});
  drive(b, toks);
  EXPECT_EQ(b.result().finish_reason, "length");
  EXPECT_EQ(b.result().tokens.size(), toks.size()) << "ignore_eos: past both EOS ids";
  p.stop_token_ids = {before[1]};
  DecodeState c(*g_model, p, 0, {1});
  drive(c, toks);
  EXPECT_EQ(c.result().stop_reason, "token:" + std::to_string(before[1]));
  EXPECT_EQ(c.result().tokens.size(), 2u);
}

}  // namespace
}  // namespace wick::test
