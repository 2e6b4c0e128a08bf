// Tokenizer: the TinyStories (SentencePiece-style BPE) tokenizer end to end, streaming
// detokenization, bad input, and the Hugging Face fixtures of the byte-level families.
#include <fstream>

#include "test_util.h"
#include "tokenizer/pipeline.h"
#include "wick/tokenizer.h"

namespace wick::test {
namespace {

std::shared_ptr<Tokenizer> load(const std::string& rel) {
  auto t = Tokenizer::from_file(testdata_dir() + "/" + rel);
  if (!t) ADD_FAILURE() << t.error().what();
  return t ? t.value() : nullptr;
}

TEST(Tokenizer, TinyStoriesEncodeDecode) {
  WICK_REQUIRE_TESTDATA();
  auto t = load("models/tinystories-656k/tokenizer.json");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->bos_id(), 1);
  EXPECT_EQ(t->eos_id(), 2);
  auto ids = t->encode("Once upon a time, there was a little girl.");
  ASSERT_TRUE(ids);
  EXPECT_EQ(ids->front(), 1);  // add_bos_token
  EXPECT_EQ(t->decode(ids.value()), "Once upon a time, there was a little girl.");
  auto plain = t->encode("Once upon", {false, true});
  ASSERT_TRUE(plain);
  EXPECT_NE(plain->front(), 1);
  EXPECT_EQ(t->token_text(plain->front()).rfind("\xE2\x96\x81", 0), 0u) << "SentencePiece-style ▁ prefix";
}

TEST(Tokenizer, SpecialTokensSplitOrPlain) {
  WICK_REQUIRE_TESTDATA();
  auto t = load("models/tinystories-656k/tokenizer.json");
  ASSERT_TRUE(t);
  // TinyStories' special tokens are "normalized": tokenizers looks for their normalized form
  // ("▁<|end_story|>", after the Prepend/Replace normalizer) in the normalized text, so they
  // are found after a space (which they absorb) but not glued to a word.
  auto with = t->encode("Hi <|end_story|>", {false, true});
  ASSERT_TRUE(with);
  EXPECT_EQ(with->back(), 2);
  auto glued = t->encode("Hi<|end_story|>", {false, true});
  ASSERT_TRUE(glued);
  EXPECT_EQ(std::count(glued->begin(), glued->end(), 2), 0);
  auto plain = t->encode("Hi <|end_story|>", {false, false});
  ASSERT_TRUE(plain);
  EXPECT_EQ(std::count(plain->begin(), plain->end(), 2), 0) << "parse_special=false keeps special-token text as text";
  EXPECT_EQ(t->decode(with.value(), false), "Hi<|end_story|>");
  EXPECT_EQ(t->decode(with.value(), true), "Hi");
  EXPECT_EQ(t->decode(plain.value(), true), "Hi <|end_story|>");
}

TEST(Tokenizer, RawSpecialTokensLlama3) {
  WICK_REQUIRE_TESTDATA();
  auto t = load("tokenizers/llama3/tokenizer.json");
  ASSERT_TRUE(t);
  const int bot = t->token_id("<|begin_of_text|>").value(), eot = t->token_id("<|eot_id|>").value();
  auto ids = t->encode("<|begin_of_text|>Hello<|eot_id|><|eot_id|>", {false, true});
  ASSERT_TRUE(ids);
  ASSERT_EQ(ids->size(), 4u);
  EXPECT_EQ((*ids)[0], bot);
  EXPECT_EQ((*ids)[2], eot);
  EXPECT_EQ((*ids)[3], eot);
  // This tokenizer.json has only a ByteLevel post-processor (no BOS template), and its
  // tokenizer_config.json has no add_bos_token: no BOS, as in transformers.
  auto only = t->encode("<|eot_id|>", {true, true});
  ASSERT_TRUE(only);
  EXPECT_EQ(only.value(), (std::vector<int>{eot}));
  EXPECT_FALSE(t->adds_bos());
  // DeepSeek-V3's config says add_bos_token (LlamaTokenizerFast): BOS is added.
  auto ds = load("tokenizers/deepseek-v3/tokenizer.json");
  ASSERT_TRUE(ds);
  EXPECT_TRUE(ds->adds_bos());
  EXPECT_EQ(ds->encode("x").value().front(), ds->bos_id());
  EXPECT_FALSE(ds->chat_template().empty());
  auto plain = t->encode("<|eot_id|>", {false, false});
  ASSERT_TRUE(plain);
  EXPECT_GT(plain->size(), 1u);
  EXPECT_EQ(t->decode(plain.value()), "<|eot_id|>");
  EXPECT_TRUE(t->is_special(eot));
}

TEST(Tokenizer, ByteFallbackAndStreamingNeverSplitsUtf8) {
  WICK_REQUIRE_TESTDATA();
  auto t = load("tokenizers/mistral-v0.1/tokenizer.json");
  ASSERT_TRUE(t);
  const std::string text = "naïve café 日本語 🦙 done";
  auto ids = t->encode(text, {false, true});
  ASSERT_TRUE(ids);
  EXPECT_EQ(t->decode(ids.value()), text);
  StreamDecoder s(*t);
  std::string streamed;
  for (int id : ids.value()) {
    const std::string piece = s.push(id);
    // every piece is whole UTF-8
    for (size_t i = 0; i < piece.size();) {
      const unsigned char c = static_cast<unsigned char>(piece[i]);
      const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
      ASSERT_LE(i + n, piece.size()) << "half a character streamed";
      i += n;
    }
    streamed += piece;
  }
  streamed += s.flush();
  EXPECT_EQ(streamed, text);
}

// PCRE2 10.42 knows Unicode 14.0; tokenizers' Oniguruma 16.0. Found by the differential fuzz:
// Llama 3 split "\U0002ecc8_u" (CJK Extension I, Unicode 15.1) differently from tokenizers.
TEST(Regex, PropertiesWidenedToUnicode16) {
  const std::string cjk_ext_h = "\xF0\xB1\x8D\x90";   // U+31350, Lo since 15.0
  const std::string kawi_digit = "\xF0\x91\xBD\x90";  // U+11F50, Nd since 15.0
  Regex letters(R"(\p{L}+)");
  EXPECT_EQ(letters.find_all("a" + cjk_ext_h + "b").size(), 1u) << "one letter run";
  Regex numbers(R"([^\p{N}]+)");  // inside a class; a negated class keeps working
  EXPECT_EQ(numbers.find_all("x" + kawi_digit + "y").size(), 2u);
  Regex not_letter(R"(\P{L}+)");
  EXPECT_TRUE(not_letter.find_all(cjk_ext_h).empty());
  // Literals, escapes and POSIX classes pass through; other properties are untouched.
  EXPECT_EQ(widen_unicode_properties(R"(\Q\p{L}\E[[:alpha:]\]]\\p)"), R"(\Q\p{L}\E[[:alpha:]\]]\\p)");
  EXPECT_EQ(widen_unicode_properties(R"(\p{Zs})"), R"(\p{Zs})");
  EXPECT_NE(widen_unicode_properties(R"(\p{L})").find("\\x{31350}-\\x{323AF}"), std::string::npos);
}

TEST(Tokenizer, BadInput) {
  WICK_REQUIRE_TESTDATA();
  auto t = load("models/tinystories-656k/tokenizer.json");
  ASSERT_TRUE(t);
  EXPECT_FALSE(t->encode("abc\xff\xfe"));
  EXPECT_FALSE(t->encode("\xe6\x97"));  // truncated character
  auto empty = t->encode("", {false, true});
  ASSERT_TRUE(empty);
  EXPECT_TRUE(empty->empty());
  auto ws = t->encode("   \n  ", {false, true});
  ASSERT_TRUE(ws);
  EXPECT_EQ(t->decode(ws.value()), "   \n  ") << "whitespace survives a round trip";
  EXPECT_EQ(t->decode({-5, 999999}), "");
  TempDir d;
  write_file(d.file("tokenizer.json"), "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}}");
  auto bad = Tokenizer::from_file(d.file("tokenizer.json"));
  ASSERT_FALSE(bad);
  EXPECT_NE(std::string(bad.error().what()).find("merge 'a b'"), std::string::npos);
  write_file(d.file("tokenizer.json"), "{\"model\": {\"type\": \"Unigram\", \"vocab\": []}}");
  EXPECT_FALSE(Tokenizer::from_file(d.file("tokenizer.json")));
  write_file(d.file("tokenizer.json"),
             "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}, \"pre_tokenizer\": {\"type\": \"Bogus\"}}");
  auto unsup = Tokenizer::from_file(d.file("tokenizer.json"));
  ASSERT_FALSE(unsup);
  EXPECT_NE(std::string(unsup.error().what()).find("Bogus"), std::string::npos);
  write_file(d.file("tokenizer.json"), "{\"model\": ");
  EXPECT_FALSE(Tokenizer::from_file(d.file("tokenizer.json")));
}

TEST(Tokenizer, LongInputIsLinear) {
  WICK_REQUIRE_TESTDATA();
  auto t = load("tokenizers/mistral-v0.1/tokenizer.json");
  ASSERT_TRUE(t);
  std::string text;
  while (text.size() < 200000) text += "The quick brown fox jumps over the lazy dog. ";
  auto ids = t->encode(text, {false, true});
  ASSERT_TRUE(ids);
  EXPECT_EQ(t->decode(ids.value()), text);
}

// Hugging Face fixtures for the tokenizer.json families (the GGUF ones belong to the GGUF
// tokenizer work). Reports the pass rate and requires every string to match.
void check_fixture(const std::string& tokenizer, const std::string& fixture) {
  WICK_REQUIRE_TESTDATA();
  auto t = load(tokenizer);
  ASSERT_TRUE(t);
  const std::string inp = read_file(testdata_dir() + "/tokenizer-fixtures/" + fixture + ".gguf.inp");
  std::ifstream out(testdata_dir() + "/tokenizer-fixtures/" + fixture + ".gguf.out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) texts.push_back(inp.substr(pos, hit - pos));
  int ok = 0, total = 0;
  std::string line;
  for (const auto& text : texts) {
    if (!std::getline(out, line)) break;
    std::vector<int> expected;
    std::istringstream ss(line);
    for (int id; ss >> id;) expected.push_back(id);
    auto ids = t->encode(text, {false, true});
    ++total;
    if (ids && ids.value() == expected)
      ++ok;
    else
      ADD_FAILURE() << fixture << ": mismatch for \"" << text << "\"";
  }
  std::printf("[fixtures] %s: %d / %d strings match\n", fixture.c_str(), ok, total);
  EXPECT_GT(total, 10);
}

TEST(TokenizerFixtures, Llama3) { check_fixture("tokenizers/llama3/tokenizer.json", "ggml-vocab-llama-bpe"); }
TEST(TokenizerFixtures, Qwen2) { check_fixture("tokenizers/qwen2/tokenizer.json", "ggml-vocab-qwen2"); }
TEST(TokenizerFixtures, DeepSeekR1Qwen) { check_fixture("tokenizers/qwen2/tokenizer.json", "ggml-vocab-deepseek-r1-qwen"); }

}  // namespace
}  // namespace wick::test
namespace wick::test {
namespace {
TEST(TokenizerFixtures, LlamaSpmGguf) { check_fixture("vocab-gguf/ggml-vocab-llama-spm.gguf", "ggml-vocab-llama-spm"); }
TEST(TokenizerFixtures, Phi3Gguf) { check_fixture("vocab-gguf/ggml-vocab-phi-3.gguf", "ggml-vocab-phi-3"); }
TEST(TokenizerFixtures, DeepSeekLlmGguf) { check_fixture("vocab-gguf/ggml-vocab-deepseek-llm.gguf", "ggml-vocab-deepseek-llm"); }
TEST(TokenizerFixtures, DeepSeekCoderGguf) { check_fixture("vocab-gguf/ggml-vocab-deepseek-coder.gguf", "ggml-vocab-deepseek-coder"); }
TEST(TokenizerFixtures, Gpt2Gguf) { check_fixture("vocab-gguf/ggml-vocab-gpt-2.gguf", "ggml-vocab-gpt-2"); }
}  // namespace
}  // namespace wick::test
