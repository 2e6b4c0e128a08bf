// Not a speed target: a complexity check. Encoding 4x the input must cost well under 16x
// (quadratic), for every tokenizer, on text of many words and on one 1 MB word. The bound is
// 10x: one 1 MB word is merged through a heap (n log n) over a working set that leaves L2 and
// most of L3, measured at 5.7-9.0x for Mistral's tokenizer on the 2-core VMs (9.0x in a CI run
// that failed a bound of 8x); linear-time text of many words takes ~4x. Timed in the
// calling thread's CPU time, in its own test binary that ctest runs serially (RUN_SERIAL), so
// neither parallel tests nor other processes on the machine can make a linear tokenizer look
// quadratic.
#include <time.h>

#include "test_util.h"
#include "wick/tokenizer.h"

namespace wick::test {
namespace {

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + 1e-9 * static_cast<double>(ts.tv_nsec);
}

double encode_seconds(const Tokenizer& t, const std::string& text) {
  double best = 1e9;
  for (int r = 0; r < 5; ++r) {
    const double t0 = thread_cpu_seconds();
    auto ids = t.encode(text, {false, true});
    EXPECT_TRUE(ids);
    best = std::min(best, thread_cpu_seconds() - t0);
  }
  return best;
}

class Linearity : public ::testing::TestWithParam<std::string> {};

TEST_P(Linearity, MegabyteInputsTakeLinearTime) {
  WICK_REQUIRE_TESTDATA();
  auto tok = Tokenizer::from_file(testdata_dir() + "/" + GetParam());
  ASSERT_TRUE(tok) << tok.error().what();
  std::string base;
  for (const auto& s : tokenizer_test_strings()) base += s + "\n";
  std::string one_word;  // no spaces at all: one pre-token of 256 KB / 1 MB
  while (one_word.size() < 256 * 1024) one_word += "abcdefghijklmnopqrstuvwxyz0123456789";
  for (const auto& [label, unit] : {std::pair<const char*, std::string>{"words", base}, {"one word", one_word}}) {
    std::string small, large;
    while (small.size() < 256 * 1024) small += unit;
    for (int k = 0; k < 4; ++k) large += small;
    const double ts = encode_seconds(*tok.value(), small), tl = encode_seconds(*tok.value(), large);
    std::printf("[linearity] %-42s %s: 256 KB %.3f s, 1 MB %.3f s (x%.2f)\n", GetParam().c_str(), label, ts, tl, tl / ts);
    EXPECT_LT(tl, 10 * ts + 0.02) << GetParam() << ": 1 MB took " << tl << " s, 256 KB " << ts << " s";
  }
}

INSTANTIATE_TEST_SUITE_P(All, Linearity,
                         ::testing::Values("tokenizers/llama3/tokenizer.json", "tokenizers/qwen2/tokenizer.json",
                                           "tokenizers/mistral-v0.1/tokenizer.json", "tokenizers/deepseek-v3/tokenizer.json",
                                           "models/tinystories-656k/tokenizer.json", "vocab-gguf/ggml-vocab-llama-spm.gguf",
                                           "vocab-gguf/ggml-vocab-phi-3.gguf", "vocab-gguf/ggml-vocab-gpt-2.gguf"),
                         [](const auto& info) { return test_name_of_path(info.param); });

}  // namespace
}  // namespace wick::test
