// Llama 2 tokenization checked against the SentencePiece library itself (Debian's
// libsentencepiece), on the fixture strings and on tests/data/tokenizer_strings.txt (Lean,
// code, whitespace runs, scripts, emoji, special-token text): wick's GGUF "llama" vocab
// must give the ids sentencepiece gives for the original tokenizer.model, and decode them to
// the same text.
#include <sentencepiece_processor.h>

#include "test_util.h"
#include "wick/tokenizer.h"

namespace wick::test {
namespace {

std::vector<std::string> split_on(const std::string& all, const std::string& sep) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (size_t hit; (hit = all.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) out.push_back(all.substr(pos, hit - pos));
  out.push_back(all.substr(pos));
  return out;
}

TEST(SentencePieceOracle, Llama2GgufAgreesWithSentencePiece) {
  WICK_REQUIRE_TESTDATA();
  sentencepiece::SentencePieceProcessor sp;
  const auto status = sp.Load(testdata_dir() + "/tokenizers/llama2-spm/tokenizer.model");
  ASSERT_TRUE(status.ok()) << status.ToString();
  auto tok = Tokenizer::from_file(testdata_dir() + "/vocab-gguf/ggml-vocab-llama-spm.gguf");
  ASSERT_TRUE(tok) << tok.error().what();
  const Tokenizer& t = *tok.value();
  ASSERT_EQ(t.vocab_size(), sp.GetPieceSize());

  std::vector<std::string> texts =
      split_on(read_file(testdata_dir() + "/tokenizer-fixtures/ggml-vocab-llama-spm.gguf.inp"), "\n__ggml_vocab_test__\n");
  for (auto& s : split_on(read_file(std::string(WICK_SOURCE_DIR) + "/tests/data/tokenizer_strings.txt"), "\n__wick_string__\n"))
    texts.push_back(s);
  int ok = 0;
  for (const auto& text : texts) {
    std::vector<int> expected;
    ASSERT_TRUE(sp.Encode(text, &expected).ok());
    // sentencepiece does not split special-token text, so neither may wick here.
    auto ids = t.encode(text, {false, false});
    ASSERT_TRUE(ids) << ids.error().what();
    if (ids.value() == expected)
      ++ok;
    else
      ADD_FAILURE() << "ids differ from sentencepiece for \"" << text << "\"";
    std::string sp_text;
    ASSERT_TRUE(sp.Decode(expected, &sp_text).ok());
    EXPECT_EQ(t.decode(expected), sp_text) << "decode differs for \"" << text << "\"";
  }
  std::printf("[oracle] sentencepiece vs wick (llama-spm GGUF): %d / %zu strings agree\n", ok, texts.size());
}

}  // namespace
}  // namespace wick::test
