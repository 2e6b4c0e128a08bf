// The wick CLI: generate --json, inspect --json, errors on stderr with a non-zero status.
#include <nlohmann/json.hpp>
#include <sstream>

#include "formats/safetensors.h"
#include "test_util.h"
#include "wick/generate.h"
#include "wick/model.h"

namespace wick::test {
namespace {

std::string tinystories() { return testdata_dir() + "/models/tinystories-656k"; }

// Greedy continuation of `prompt` by the PyTorch reference (hf_reference.py) on TinyStories:
// the CLI's expected tokens and texts come from it, not from wick's own output.
std::vector<int> reference_greedy(const std::vector<int>& prompt, int steps) {
  TempDir tmp;
  nlohmann::json jobs = {{{"dir", tinystories()}, {"prompt", prompt}, {"steps", steps}, {"out", tmp.file("ref.safetensors")}}};
  write_file(tmp.file("jobs.json"), jobs.dump());
  std::string out;
  EXPECT_EQ(
      run_command(torch_python() + " " + WICK_SOURCE_DIR + "/tests/reference/hf_reference.py " + tmp.file("jobs.json") + " 2>&1", &out), 0)
      << out;
  SafetensorsFile ref(tmp.file("ref.safetensors"));
  const Tensor* t = ref.find("tokens");
  std::vector<int> tokens;
  for (int64_t i = 0; t && i < t->numel(); ++i) tokens.push_back(static_cast<int>(static_cast<const float*>(t->data)[i]));
  return tokens;
}

#define WICK_REQUIRE_TORCH() \
  if (torch_python().empty()) WICK_MISSING("python3-torch is missing: the CLI's expected texts come from the PyTorch reference")

class Cli : public ::testing::Test {
 protected:
  void SetUp() override { WICK_REQUIRE_TESTDATA(); }
  static std::shared_ptr<Model> model() {
    static std::shared_ptr<Model> m = Model::load(tinystories()).value();
    return m;
  }
  static std::vector<int> encode(const std::string& text) { return model()->tokenizer().encode(text, {true, true}).value(); }
  // The text `generated` adds after `prompt` (decoded together: a leading "▁" is a space there).
  static std::string continuation(const std::vector<int>& prompt, const std::vector<int>& generated) {
    std::vector<int> all = prompt;
    all.insert(all.end(), generated.begin(), generated.end());
    return model()->tokenizer().decode(all, true).substr(model()->tokenizer().decode(prompt, true).size());
  }
  // The library's result for the same request, to compare the CLI's --json with.
  static GenerateResult library_generate(const std::string& prompt, const GenerateParams& p) {
    SessionOptions so;
    so.n_threads = 2;
    auto session = Session::create(model(), so);
    EXPECT_TRUE(session);
    auto r = generate(*session.value(), prompt, p);
    EXPECT_TRUE(r) << r.error().what();
    return r.value();
  }
};

TEST_F(Cli, GenerateJsonIsTheReferencesGreedyContinuation) {
  WICK_REQUIRE_TORCH();
  std::string out;
  ASSERT_EQ(
      run_command(bin("wick") + " generate -m " + tinystories() + " -p 'Once upon a time' -n 12 --temperature 0 --ignore-eos --json", &out),
      0)
      << out;
  const auto j = nlohmann::json::parse(out);
  const std::vector<int> prompt = encode("Once upon a time");
  const std::vector<int> expected = reference_greedy(prompt, 12);
  ASSERT_EQ(expected.size(), 12u);
  EXPECT_EQ(j["prompt_tokens"].get<std::vector<int>>(), prompt);
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), expected) << "PyTorch's greedy tokens";
  EXPECT_EQ(j["text"].get<std::string>(), continuation(prompt, expected));
  EXPECT_EQ(j["finish_reason"], "length");
  // The library, same request: the same result field by field.
  GenerateParams p;
  p.sampling.temperature = 0;
  p.max_new_tokens = 12;
  p.ignore_eos = true;
  const GenerateResult lib = library_generate("Once upon a time", p);
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), lib.tokens);
  EXPECT_EQ(j["text"].get<std::string>(), lib.text);
  ASSERT_EQ(j["logprobs"].size(), lib.logprobs.size());
  for (size_t i = 0; i < lib.logprobs.size(); ++i) EXPECT_FLOAT_EQ(j["logprobs"][i].get<float>(), lib.logprobs[i]) << i;
}

TEST_F(Cli, SampledGenerateJsonEqualsTheLibraryWithTheSameSeed) {
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " generate -m " + tinystories() +
                            " -p 'The dog' -n 24 --temperature 0.8 --top-k 40 --top-p 0.95 --seed 7 --ignore-eos --json",
                        &out),
            0)
      << out;
  const auto j = nlohmann::json::parse(out);
  GenerateParams p;
  p.sampling.temperature = 0.8f;
  p.sampling.top_k = 40;
  p.sampling.top_p = 0.95f;
  p.sampling.seed = 7;
  p.max_new_tokens = 24;
  p.ignore_eos = true;
  const GenerateResult lib = library_generate("The dog", p);
  EXPECT_EQ(j["tokens"].get<std::vector<int>>(), lib.tokens);
  EXPECT_EQ(j["text"].get<std::string>(), lib.text);
  EXPECT_NEAR(j["logprob"].get<double>(), lib.logprob, 1e-9);
  p.sampling.seed = 8;
  EXPECT_NE(library_generate("The dog", p).tokens, lib.tokens) << "another seed draws another sample";
}

TEST_F(Cli, GenerateStreamsTheReferenceText) {
  WICK_REQUIRE_TORCH();
  std::string out;
  // An empty prompt is BOS alone; the streamed text is the reference's continuation.
  ASSERT_EQ(run_command(bin("wick") + " generate -m " + tinystories() + " -p '' -n 30 --temperature 0 --ignore-eos 2>/dev/null", &out), 0);
  std::string want = continuation({1}, reference_greedy({1}, 30));
  EXPECT_EQ(out.substr(0, want.size()), want) << out;
  // The prompt is echoed, then the continuation streams.
  ASSERT_EQ(
      run_command(bin("wick") + " generate -m " + tinystories() + " -p 'Once upon a time' -n 8 --temperature 0 --ignore-eos 2>/dev/null",
                  &out),
      0);
  want = "Once upon a time" + continuation(encode("Once upon a time"), reference_greedy(encode("Once upon a time"), 8));
  EXPECT_EQ(out.substr(0, want.size()), want) << out;
}

TEST_F(Cli, InspectJson) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " inspect -m " + tinystories() + " --json", &out), 0);
  const auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["num_kv_heads"], 4);
  EXPECT_EQ(j["parameters"], 656000);  // tied: the 2048x128 matrix counted once
}

// `wick devices` lists what --device takes; a device this build or machine lacks is a clear
// error, and --device cpu / auto run.
TEST_F(Cli, DevicesAndDeviceFlag) {
  WICK_REQUIRE_TESTDATA();
  std::string out;
  ASSERT_EQ(run_command(bin("wick") + " devices --json", &out), 0) << out;
  const auto j = nlohmann::json::parse(out);
  ASSERT_FALSE(j["devices"].empty());
  EXPECT_EQ(j["devices"][0]["name"], "cpu");
  EXPECT_GT(j["devices"][0]["cores"].get<int>(), 0);
  EXPECT_GT(j["devices"][0]["memory_bytes"].get<uint64_t>(), 0u);
  EXPECT_FALSE(j["devices"][0]["isa"].get<std::string>().empty());
  EXPECT_EQ(j["auto"], "cpu");
  for (const char* d : {"cpu", "auto"}) {
    ASSERT_EQ(run_command(bin("wick") + " generate -m " + tinystories() + " -p Once -n 3 --json --device " + d, &out), 0) << out;
    EXPECT_EQ(nlohmann::json::parse(out)["tokens"].size(), 3u) << d;
  }
  EXPECT_NE(run_command(bin("wick") + " generate -m " + tinystories() + " -p Once -n 3 --device cuda:0 2>&1", &out), 0);
  EXPECT_NE(out.find("device \"cuda:0\": this build of wick has no CUDA backend (devices: cpu)"), std::string::npos) << out;
  EXPECT_NE(run_command(bin("wick") + " generate -m " + tinystories() + " -p Once -n 3 --device tpu 2>&1", &out), 0);
  EXPECT_NE(out.find("unknown device \"tpu\""), std::string::npos) << out;
}

// The CPU kernels of one instruction set: --isa, --device cpu:ISA and WICK_ISA (the baseline is
// on every machine); an unknown one is an error naming what the processor has. --threads above
// the machine's cores is capped with a warning.
TEST_F(Cli, ForcedInstructionSetAndThreadCap) {
  WICK_REQUIRE_TESTDATA();
  const std::string gen = bin("wick") + " generate -m " + tinystories() + " -p Once -n 4 --temperature 0 --json";
  std::string best, out;
  ASSERT_EQ(run_command(gen, &best), 0) << best;
  for (const std::string flags : {" --isa baseline", " --device cpu:baseline"}) {
    ASSERT_EQ(run_command(gen + flags, &out), 0) << flags << out;
    EXPECT_EQ(nlohmann::json::parse(out)["tokens"], nlohmann::json::parse(best)["tokens"]) << flags;
  }
  ASSERT_EQ(run_command("WICK_ISA=baseline " + bin("wick") + " devices --json", &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["devices"][0]["isa"], "baseline");
  EXPECT_NE(run_command(gen + " --isa avx9 2>&1", &out), 0);
  EXPECT_NE(out.find("unknown instruction set \"avx9\""), std::string::npos) << out;
  EXPECT_NE(out.find("this processor has baseline"), std::string::npos) << out;
  EXPECT_NE(run_command("WICK_ISA=avx9 " + gen + " 2>&1", &out), 0);
  EXPECT_NE(out.find("WICK_ISA: unknown instruction set"), std::string::npos) << out;
  EXPECT_NE(run_command(gen + " --isa baseline --device cpu 2>&1", &out), 0) << "--isa and --device exclude each other";
  ASSERT_EQ(run_command(gen + " --threads 100000 2>&1", &out), 0) << out;
  EXPECT_NE(out.find("--threads 100000 is more than this machine's"), std::string::npos) << out;
}

TEST_F(Cli, ErrorsGoToStderrWithNonZeroStatus) {
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

TEST_F(Cli, TokenizeDetokenize) {
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
  EXPECT_EQ(j["ids"].get<std::vector<int>>(), model()->tokenizer().encode("Once upon a time", {false, true}).value());
  // --jsonl: one id list per input line, as the library encodes each; a bad line is an error
  // line (and a failing exit status) without stopping the rest.
  ASSERT_EQ(run_command("printf '%s\\n' '\"Once upon a time\"' '{\"text\": \"a dog\\n\"}' 'oops' '\"end\"' | " + bin("wick") +
                            " tokenize --jsonl --add-special -m " + tinystories(),
                        &out),
            1)
      << out;
  std::istringstream lines(out);
  std::string line;
  std::vector<nlohmann::json> rows;
  while (std::getline(lines, line)) rows.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(rows.size(), 4u) << out;
  EXPECT_EQ(rows[0]["ids"].get<std::vector<int>>(), encode("Once upon a time"));
  EXPECT_EQ(rows[1]["ids"].get<std::vector<int>>(), encode("a dog\n"));
  EXPECT_TRUE(rows[2].contains("error"));
  EXPECT_EQ(rows[3]["ids"].get<std::vector<int>>(), encode("end"));
}

TEST_F(Cli, TokenizeWithAGgufVocab) {
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
