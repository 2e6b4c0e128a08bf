// Tokenizer benchmark: load time and single-thread encoding throughput (MB/s, tokens/s) of
// every tokenizer in the test data on a mixed English / code / Lean corpus, against a naive
// baseline (the same pipeline with the textbook O(n^2)-per-word BPE; on a 32 KB sample since
// SentencePiece-style tokenizers see a whole text as one word).
// Usage: wick_tokenizer_bench [--testdata DIR] [--json]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "formats/gguf.h"
#include "tokenizer/tokenizer_impl.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Corpus {
  std::string text;
  size_t english = 0, code = 0, lean = 0;
};

// English: the license texts every Debian system has; code: this repository's sources;
// Lean: bench/data/lean_sample.lean and the tokenizer test strings, repeated to ~20%.
Corpus build_corpus(const fs::path& repo) {
  Corpus c;
  std::set<fs::path> seen;
  for (const auto& e : fs::directory_iterator("/usr/share/common-licenses")) {
    const fs::path real = fs::canonical(e.path());
    if (!seen.insert(real).second) continue;
    c.text += slurp(real) + "\n";
  }
  c.english = c.text.size();
  std::vector<fs::path> sources;
  for (const char* dir : {"src", "tests", "apps", "tools"})
    for (const auto& e : fs::recursive_directory_iterator(repo / dir))
      if (e.path().extension() == ".cpp" || e.path().extension() == ".h" || e.path().extension() == ".py") sources.push_back(e.path());
  std::sort(sources.begin(), sources.end());
  for (const auto& p : sources) c.text += slurp(p);
  c.code = c.text.size() - c.english;
  const std::string lean = slurp(repo / "bench/data/lean_sample.lean") + slurp(repo / "tests/data/tokenizer_strings.txt");
  while (c.lean < (c.english + c.code) / 4) {
    c.text += lean;
    c.lean += lean.size();
  }
  return c;
}

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Encodes `text` repeatedly for at least `min_s` seconds; returns seconds per encode.
double time_encode(const wick::Tokenizer::Impl& t, const std::string& text, size_t* n_tokens, double min_s = 1.0) {
  std::vector<int> ids;
  int runs = 0;
  const auto t0 = Clock::now();
  do {
    ids.clear();
    t.encode(text, {false, true}, ids);
    ++runs;
  } while (seconds_since(t0) < min_s);
  *n_tokens = ids.size();
  return seconds_since(t0) / runs;
}

}  // namespace

int main(int argc, char** argv) {
  bool as_json = false;
  std::string testdata;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json")
      as_json = true;
    else if (a == "--testdata" && i + 1 < argc)
      testdata = argv[++i];
    else {
      std::fprintf(stderr, "usage: wick_tokenizer_bench [--testdata DIR] [--json]\n");
      return 2;
    }
  }
  const fs::path repo = WICK_SOURCE_DIR;
  if (testdata.empty()) testdata = std::getenv("WICK_TESTDATA") ? std::getenv("WICK_TESTDATA") : (repo / "../shared/testdata").string();
  if (!fs::exists(testdata)) {
    std::fprintf(stderr, "wick_tokenizer_bench: no test data at %s (set WICK_TESTDATA)\n", testdata.c_str());
    return 1;
  }
  const Corpus corpus = build_corpus(repo);
  const std::string sample = corpus.text.substr(0, 32 * 1024);
  if (!as_json)
    std::printf("corpus: %.2f MB (English %.0f KB, code %.0f KB, Lean %.0f KB); 1 thread\n\n", corpus.text.size() / 1e6,
                corpus.english / 1e3, corpus.code / 1e3, corpus.lean / 1e3);

  const std::vector<std::pair<std::string, std::string>> tokenizers = {
      {"llama3", "tokenizers/llama3/tokenizer.json"},
      {"qwen2", "tokenizers/qwen2/tokenizer.json"},
      {"mistral", "tokenizers/mistral-v0.1/tokenizer.json"},
      {"deepseek-v3", "tokenizers/deepseek-v3/tokenizer.json"},
      {"tinystories", "models/tinystories-656k/tokenizer.json"},
      {"llama-spm.gguf", "vocab-gguf/ggml-vocab-llama-spm.gguf"},
      {"phi-3.gguf", "vocab-gguf/ggml-vocab-phi-3.gguf"},
      {"deepseek-llm.gguf", "vocab-gguf/ggml-vocab-deepseek-llm.gguf"},
      {"deepseek-coder.gguf", "vocab-gguf/ggml-vocab-deepseek-coder.gguf"},
      {"gpt-2.gguf", "vocab-gguf/ggml-vocab-gpt-2.gguf"},
  };
  nlohmann::json results = nlohmann::json::array();
  if (!as_json)
    std::printf("%-20s %9s %9s %11s %12s %9s %8s\n", "tokenizer", "load ms", "MB/s", "tokens/s", "naive MB/s", "speed-up", "bytes/tok");
  for (const auto& [name, rel] : tokenizers) {
    const std::string path = testdata + "/" + rel;
    const auto t0 = Clock::now();
    std::unique_ptr<wick::Tokenizer::Impl> t;
    try {
      t = wick::GgufFile::has_magic(path) ? wick::load_gguf_tokenizer(*wick::GgufFile::open(path)) : wick::load_tokenizer_json(path);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "%s: %s\n", name.c_str(), e.what());
      return 1;
    }
    const double load_ms = seconds_since(t0) * 1e3;
    size_t n_tokens = 0, n_sample = 0, n_naive = 0;
    const double s_full = time_encode(*t, corpus.text, &n_tokens);
    const double s_fast_sample = time_encode(*t, sample, &n_sample, 0.5);
    t->reference_bpe = true;
    const double s_naive = time_encode(*t, sample, &n_naive, 0.5);
    t->reference_bpe = false;
    if (n_naive != n_sample) std::fprintf(stderr, "%s: naive and fast token counts differ (%zu vs %zu)\n", name.c_str(), n_naive, n_sample);
    const double mbs = corpus.text.size() / s_full / 1e6;
    const double naive_mbs = sample.size() / s_naive / 1e6;
    const double speedup = s_naive / s_fast_sample;
    results.push_back({{"tokenizer", name},
                       {"load_ms", load_ms},
                       {"mb_per_s", mbs},
                       {"tokens_per_s", n_tokens / s_full},
                       {"naive_mb_per_s", naive_mbs},
                       {"speedup_vs_naive_on_sample", speedup},
                       {"tokens", n_tokens},
                       {"bytes_per_token", static_cast<double>(corpus.text.size()) / n_tokens}});
    if (!as_json)
      std::printf("%-20s %9.1f %9.2f %11.0f %12.3f %8.1fx %8.2f\n", name.c_str(), load_ms, mbs, n_tokens / s_full, naive_mbs, speedup,
                  static_cast<double>(corpus.text.size()) / n_tokens);
  }
  if (as_json)
    std::printf("%s\n", nlohmann::json{{"corpus_bytes", corpus.text.size()},
                                       {"english_bytes", corpus.english},
                                       {"code_bytes", corpus.code},
                                       {"lean_bytes", corpus.lean},
                                       {"results", results}}
                            .dump(2)
                            .c_str());
  return 0;
}
