// The real pretrained TinyStories-656K model: greedy generation from BOS tells its story and
// produces the same token ids as the PyTorch reference.
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "test_util.h"
#include "wick/generate.h"

namespace wick::test {
namespace {

std::string model_dir() { return testdata_dir() + "/models/tinystories-656k"; }

// The model and one session, loaded once per test.
class TinyStoriesSession : public ::testing::Test {
 protected:
  void SetUp() override {
    WICK_REQUIRE_TESTDATA();
    auto m = Model::load(model_dir());
    ASSERT_TRUE(m) << m.error().what();
    model_ = m.value();
    auto s = Session::create(model_);
    ASSERT_TRUE(s) << s.error().what();
    session_ = std::move(s.value());
  }
  std::shared_ptr<Model> model_;
  std::unique_ptr<Session> session_;
};

TEST_F(TinyStoriesSession, GreedyStoryFromBos) {
  GenerateParams p;
  p.sampling.temperature = 0;
  p.max_new_tokens = 60;
  auto r = generate(*session_, "", p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->prompt_tokens, std::vector<int>{1});  // add_bos_token: <|start_story|>
  EXPECT_EQ(r->text.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << r->text;
  EXPECT_EQ(r->tokens.size(), 60u);
  EXPECT_EQ(r->logprobs.size(), r->tokens.size());
  for (float lp : r->logprobs) EXPECT_LE(lp, 0.0f);
}

TEST_F(TinyStoriesSession, SameTokensAsPyTorchReference) {
  if (torch_python().empty()) {
    if (std::getenv("CI")) FAIL() << "/usr/bin/python3 cannot import torch";
    WICK_MISSING("python3-torch missing: reference comparison did not run");
  }
  TempDir tmp;
  const int steps = 48;
  nlohmann::json jobs = {{{"dir", model_dir()}, {"prompt", {1}}, {"steps", steps}, {"out", tmp.file("ref.safetensors")}}};
  write_file(tmp.file("jobs.json"), jobs.dump());
  std::string out;
  ASSERT_EQ(
      run_command(torch_python() + " " + WICK_SOURCE_DIR + "/tests/reference/hf_reference.py " + tmp.file("jobs.json") + " 2>&1", &out), 0)
      << out;
  SafetensorsFile ref(tmp.file("ref.safetensors"));
  const Tensor* t = ref.find("tokens");
  ASSERT_NE(t, nullptr);
  std::vector<int> expected;
  for (int64_t i = 0; i < t->numel(); ++i) expected.push_back(static_cast<int>(static_cast<const float*>(t->data)[i]));

  GenerateParams p;
  p.sampling.temperature = 0;
  p.max_new_tokens = steps;
  p.ignore_eos = true;
  auto r = generate_from_tokens(*session_, {1}, p);
  ASSERT_TRUE(r) << r.error().what();
  EXPECT_EQ(r->tokens, expected);
}

TEST_F(TinyStoriesSession, SeededSamplingIsReproducibleAndSeedsDiffer) {
  GenerateParams p;
  p.sampling = {0.9f, 40, 0.95f, 1234};
  p.max_new_tokens = 40;
  p.ignore_eos = true;
  auto a = generate(*session_, "Once upon a time", p);
  auto b = generate(*session_, "Once upon a time", p);
  p.sampling.seed = 99;
  auto c = generate(*session_, "Once upon a time", p);
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->tokens, b->tokens);
  EXPECT_NE(a->tokens, c->tokens);
}

TEST_F(TinyStoriesSession, PromptTooLongIsAClearError) {
  GenerateParams p;
  p.max_new_tokens = 505;
  auto r = generate(*session_, "Once upon a time there was a dog.", p);
  ASSERT_FALSE(r);
  const std::string msg = r.error().what();
  EXPECT_NE(msg.find("exceeds the context length of 512"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_new_tokens (505)"), std::string::npos) << msg;
}

TEST_F(TinyStoriesSession, StreamedTextEqualsFinalText) {
  GenerateParams p;
  p.sampling = {1.0f, 0, 1.0f, 5};
  p.max_new_tokens = 80;
  std::string streamed;
  p.on_text = [&](const std::string& s) { streamed += s; };
  auto r = generate(*session_, "Tom had a", p);
  ASSERT_TRUE(r);
  std::vector<int> all = r->prompt_tokens;
  all.insert(all.end(), r->tokens.begin(), r->tokens.end());
  const std::string whole = model_->tokenizer().decode(all), prompt = model_->tokenizer().decode(r->prompt_tokens);
  ASSERT_EQ(whole.rfind(prompt, 0), 0u);
  EXPECT_EQ(streamed, whole.substr(prompt.size())) << "streamed text continues the prompt";
  EXPECT_EQ(streamed.substr(streamed.size() - r->text.size()), r->text);
}

}  // namespace
}  // namespace wick::test
