// The wick CLI: generate --json, inspect --json, errors on stderr with a non-zero status.
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace wick::test {
namespace {

std::string tinystories() { return testdata_dir() + "/models/tinystories-656k"; }

TEST(Cli, GenerateJson) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " generate -m " + tinystories() + " -p 'Once upon a time' -n 12 --temperature 0 --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["prompt_tokens"][0], 1);
  EXPECT_EQ(j["tokens"].size(), 12u);
  EXPECT_EQ(j["logprobs"].size(), 12u);
  EXPECT_EQ(j["finish_reason"], "length");
  EXPECT_FALSE(j["text"].get<std::string>().empty());
}

TEST(Cli, GenerateStreamsText) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " generate -m " + tinystories() + " -p '' -n 30 --temperature 0 2>/dev/null", &out), 0);
  EXPECT_EQ(out.rfind("Once upon a time", 0), 0u) << out;
  ASSERT_EQ(run_command(bin("wick") + " generate -m " + tinystories() + " -p 'Once upon a time' -n 8 --temperature 0 2>/dev/null", &out), 0);
  EXPECT_EQ(out.rfind("Once upon a time, a little girl", 0), 0u) << "prompt echoed, continuation streamed: " << out;
}

TEST(Cli, InspectJson) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " inspect -m " + tinystories() + " --json", &out), 0);
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["num_kv_heads"], 4);
  EXPECT_EQ(j["parameters"], 656000);  // tied: the 2048x128 matrix counted once
}

TEST(Cli, ErrorsGoToStderrWithNonZeroStatus) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  EXPECT_NE(run_command(bin("wick") + " generate -m /nonexistent -p hi 2>&1", &out), 0);
  EXPECT_NE(out.find("wick: error:"), std::string::npos) << out;
  EXPECT_NE(run_command(bin("wick") + " generate -m " + tinystories() + " -p hi -n 600 2>&1", &out), 0);
  EXPECT_NE(out.find("exceeds the context length of 512"), std::string::npos) << out;
  EXPECT_NE(run_command(bin("wick") + " generate -m " + tinystories() + " -p hi --top-p 1.5 2>&1", &out), 0);
  EXPECT_NE(out.find("top_p"), std::string::npos) << out;
  std::string stdout_only;
  run_command(bin("wick") + " generate -m /nonexistent -p hi 2>/dev/null", &stdout_only);
  EXPECT_TRUE(stdout_only.empty());
}

TEST(Cli, TokenizeDetokenize) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " tokenize -m " + tinystories() + " --json 'Once upon a time'", &out), 0);
  const auto j = nlohmann::json::parse(out);
  std::string ids;
  for (const auto& id : j["ids"]) ids.append(" ").append(std::to_string(id.get<int>()));
  ASSERT_EQ(run_command(bin("wick") + " detokenize -m " + tinystories() + ids, &out), 0);
  EXPECT_EQ(out, "Once upon a time\n");
  ASSERT_EQ(run_command(bin("wick") + " detokenize --json -m " + tinystories() + ids, &out), 0);
  EXPECT_EQ(nlohmann::json::parse(out)["text"], "Once upon a time");
}

TEST(Cli, TokenizeWithAGgufVocab) {
  WICK_REQUIRE_TESTDATA();
  const std::string gguf = testdata_dir() + "/vocab-gguf/ggml-vocab-llama-spm.gguf";
  std::string out;
  // "ied 4 ½ months" is the first Hugging Face fixture string of this vocab.
  ASSERT_EQ(run_command(bin("wick") + " tokenize --tokenizer " + gguf + " --json 'ied 4 ½ months'", &out), 0);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["ids"], nlohmann::json::parse("[474, 287, 29871, 29946, 29871, 30226, 7378]"));
  EXPECT_EQ(j["tokens"][0], "\xE2\x96\x81i");
  ASSERT_EQ(run_command(bin("wick") + " tokenize --tokenizer " + gguf + " --add-special --json 'Hi</s>'", &out), 0);
  j = nlohmann::json::parse(out);
  EXPECT_EQ(j["ids"].front(), 1) << "BOS";
  EXPECT_EQ(j["ids"].back(), 2) << "</s> split out";
  ASSERT_EQ(run_command(bin("wick") + " tokenize --tokenizer " + gguf + " --plain-special --json 'Hi</s>'", &out), 0);
  EXPECT_NE(nlohmann::json::parse(out)["ids"].back(), 2) << "special-token text kept as text";
  ASSERT_EQ(run_command(bin("wick") + " detokenize --tokenizer " + gguf + " 1 15043 2", &out), 0);
  EXPECT_EQ(out, "<s> Hello</s>\n");
  ASSERT_EQ(run_command(bin("wick") + " detokenize --skip-special --tokenizer " + gguf + " 1 15043 2", &out), 0);
  EXPECT_EQ(out, "Hello\n");
  EXPECT_NE(run_command(bin("wick") + " tokenize --tokenizer /nonexistent.gguf x", &out), 0);
}

}  // namespace
}  // namespace wick::test
