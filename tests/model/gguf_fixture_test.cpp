// GGUF files written by llama.cpp itself, not by wick: tests/data/gguf/llama-tiny-q4_k_m.gguf
// came from llama.cpp's convert_hf_to_gguf.py and llama-quantize (tools/make_gguf_fixture.sh).
// wick's export and load share the q/k row reorder and the quantizer, so a consistently wrong
// permutation or block layout passes every round trip; here llama.cpp's converter permuted the
// rows, llama-quantize packed Q4_K / Q6_K blocks and wrote the rope-scaling keys. gguf-py
// (llama.cpp's Python decoder) turns the file back into a transformers directory
// (tests/reference/gguf_dequantize.py), the float64 PyTorch reference runs on it with the
// original config.json, and wick, loading the GGUF alone, must give the same logits.
#include <cmath>
#include <nlohmann/json.hpp>

#include "formats/safetensors.h"
#include "test_util.h"
#include "wick/model.h"

namespace wick::test {
namespace {

const std::vector<int> kPrompt = {1, 80, 147, 201, 189, 111, 7, 1500, 33, 402, 91, 1024, 5, 17, 300, 12, 9, 44, 2000};
const int kSteps = 6;

std::string fixture(const std::string& name) { return std::string(WICK_SOURCE_DIR) + "/tests/data/gguf/" + name; }

double rel_error(const float* a, const float* ref, size_t n) {
  double err = 0, scale = 1;
  for (size_t i = 0; i < n; ++i) {
    err = std::max(err, std::fabs(static_cast<double>(a[i]) - ref[i]));
    scale = std::max(scale, std::fabs(static_cast<double>(ref[i])));
  }
  return err / scale;
}

int argmax(const float* x, int n) { return static_cast<int>(std::max_element(x, x + n) - x); }

TEST(GgufFixture, LlamaCppQ4KMMatchesPyTorchOnGgufPyDecodedWeights) {
  WICK_REQUIRE_TESTDATA();
  const std::string venv_py = std::string(WICK_SOURCE_DIR) + "/.venv/bin/python3";
  if (run_command(venv_py + " -c 'import gguf' 2>/dev/null") != 0)
    WICK_MISSING(".venv with gguf (llama.cpp's gguf-py) is missing: run scripts/setup.sh");
  if (torch_python().empty()) WICK_MISSING("/usr/bin/python3 with torch (Debian python3-torch) is missing");
  TempDir tmp;
  const std::string d = tmp.file("decoded");
  std::string out;
  ASSERT_EQ(run_command(venv_py + " " + WICK_SOURCE_DIR + "/tests/reference/gguf_dequantize.py " + fixture("llama-tiny-q4_k_m.gguf") + " " +
                            fixture("llama-tiny.config.json") + " " + d + " 2>&1",
                        &out),
            0)
      << out;
  nlohmann::json jobs = {{{"dir", d}, {"prompt", kPrompt}, {"steps", kSteps}, {"out", d + "/reference.safetensors"}}};
  write_file(d + "/jobs.json", jobs.dump());
  ASSERT_EQ(run_command(torch_python() + " " + WICK_SOURCE_DIR + "/tests/reference/hf_reference.py " + d + "/jobs.json 2>&1", &out), 0)
      << out;
  SafetensorsFile ref(d + "/reference.safetensors");

  auto model = Model::load(fixture("llama-tiny-q4_k_m.gguf"));
  ASSERT_TRUE(model) << model.error().what();
  const ModelConfig& c = model.value()->config();
  EXPECT_EQ(c.rope.type, RopeType::kLinear) << "llama.rope.scaling.type from llama.cpp's converter";
  EXPECT_EQ(c.rope.factor, 2.0);
  const auto info = model.value()->info();
  auto params_of = [&](const std::string& dtype) {
    for (const auto& [name, n] : info.params_by_dtype)
      if (name == dtype) return n;
    return uint64_t{0};
  };
  EXPECT_GT(params_of("Q4_K"), 0u) << "the fixture holds Q4_K blocks";
  EXPECT_GT(params_of("Q6_K"), 0u) << "and Q6_K blocks";

  // The reference backend computes with the decoded weights in float, so only summation
  // order separates it from PyTorch; the CPU's integer kernels quantize the activations to 8
  // bits per block of 32, within about 1% of the logits, and must pick the same greedy tokens.
  for (const auto& [device, bound] : {std::pair{"reference", 2e-5}, std::pair{"cpu", 3e-2}}) {
    SCOPED_TRACE(device);
    SessionOptions so;
    so.all_logits = true;
    so.n_threads = 2;
    so.device = device;
    auto session = Session::create(model.value(), so);
    ASSERT_TRUE(session) << session.error().what();
    auto logits = session.value()->append(kPrompt);
    ASSERT_TRUE(logits) << logits.error().what();
    const int V = c.vocab_size;
    const Tensor* ref_logits = ref.find("prefill/logits");
    ASSERT_NE(ref_logits, nullptr);
    ASSERT_EQ(static_cast<size_t>(ref_logits->numel()), kPrompt.size() * V);
    const double prefill = rel_error(logits.value(), static_cast<const float*>(ref_logits->data), kPrompt.size() * V);
    EXPECT_LT(prefill, bound) << "prefill logits, every prompt token";
    const auto* tokens = static_cast<const float*>(ref.find("tokens")->data);
    EXPECT_EQ(argmax(logits.value() + (kPrompt.size() - 1) * V, V), static_cast<int>(tokens[0]));
    double decode = 0;
    for (int i = 0; i < kSteps; ++i) {
      const int tok = static_cast<int>(tokens[i]);
      auto step = session.value()->append(&tok, 1);
      ASSERT_TRUE(step) << step.error().what();
      const Tensor* r = ref.find("decode." + std::to_string(i) + "/logits");
      ASSERT_NE(r, nullptr);
      decode = std::max(decode, rel_error(step.value(), static_cast<const float*>(r->data), V));
      if (i + 1 < kSteps) {
        EXPECT_EQ(argmax(step.value(), V), static_cast<int>(tokens[i + 1])) << "greedy token " << i + 1;
      }
    }
    EXPECT_LT(decode, bound) << "decode logits";
    std::printf("[gguf-fixture] llama.cpp Q4_K_M on %s: max rel err prefill %.2e, decode %.2e\n", device, prefill, decode);
  }
}

// The vocabulary llama.cpp's converter wrote. Without a tokenizer.model it falls back to its
// LlamaHfVocab, which writes every score as -1000 (no merge ranks), so this file does NOT
// tokenize like the tokenizer.json it came from; the oracle is llama.cpp on the same file. The
// ids below are what llama.cpp's llama-tokenize printed for this fixture (it crashed on inputs
// with tabs, newlines or bytes outside the vocabulary, which are left out).
TEST(GgufFixture, VocabularyEncodesAsLlamaCppDoes) {
  auto tok = Tokenizer::from_file(fixture("llama-tiny-q4_k_m.gguf"));
  ASSERT_TRUE(tok) << tok.error().what();
  const std::vector<std::pair<std::string, std::vector<int>>> cases = {
      {"Once upon a time, there was a little girl named Lily.", {1, 80, 147, 201, 282, 215, 286, 158, 420, 177, 1168, 629, 10}},
      {"numbers 12345 and 3.14", {1, 80, 66, 359, 934, 89, 12, 13, 14, 15, 16, 100, 14, 10, 12, 15}},
  };
  for (const auto& [text, want] : cases) {
    auto ids = tok.value()->encode(text, {true, true});
    ASSERT_TRUE(ids) << ids.error().what();
    EXPECT_EQ(ids.value(), want) << text;
  }
}

}  // namespace
}  // namespace wick::test
