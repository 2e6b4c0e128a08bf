// GGUF: writer -> reader round trip, every kind of malformed file (clear errors, never a
// crash or an out-of-bounds read: this suite also runs under ASan), 2000 random corruptions,
// and tokenizers built from malformed tokenizer.ggml.* metadata.
#include <cstring>
#include <random>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "models/model.h"
#include "test_util.h"
#include "wick/model.h"
#include "wick/tokenizer.h"

namespace wick::test {
namespace {

std::vector<uint8_t> bytes_of(const std::string& path) {
  const std::string s = read_file(path);
  return {s.begin(), s.end()};
}

// A small valid file: every scalar type, arrays, and two tensors.
std::vector<uint8_t> sample_file(const TempDir& d) {
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_u32("llama.block_count", 2);
  w.set_i32("answer", -42);
  w.set_u64("big", 1ull << 40);
  w.set_f32("llama.rope.freq_base", 10000.0f);
  w.set_bool("flag", true);
  w.set_strings("names", {"a", "bc", ""});
  w.set_f32s("scores", {0.5f, -1.0f});
  w.set_i32s("types", {1, 2, 3});
  w.add_tensor("w", {32, 2}, 0);  // F32 32x2
  w.add_tensor("q", {64, 1}, 8);  // Q8_0: 2 blocks of 34 bytes
  w.begin(d.file("sample.gguf"));
  std::vector<float> f(64);
  for (int i = 0; i < 64; ++i) f[static_cast<size_t>(i)] = static_cast<float>(i);
  w.write_tensor(f.data(), 64 * 4);
  std::vector<uint8_t> q(68, 7);
  w.write_tensor(q.data(), q.size());
  w.finish();
  return bytes_of(d.file("sample.gguf"));
}

std::string parse_error(std::vector<uint8_t> bytes) {
  try {
    GgufFile::from_bytes(std::move(bytes), "bad.gguf");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, RoundTrip) {
  TempDir d;
  auto f = GgufFile::from_bytes(sample_file(d));
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->get_string("general.architecture"), "llama");
  EXPECT_EQ(f->get_int("llama.block_count"), 2);
  EXPECT_EQ(f->get_int("answer"), -42);
  EXPECT_EQ(f->get_int("big"), int64_t{1} << 40);
  EXPECT_EQ(f->get_float("llama.rope.freq_base"), 10000.0);
  EXPECT_EQ(f->get_bool("flag"), true);
  ASSERT_TRUE(f->get_string_array("names"));
  EXPECT_EQ(f->get_string_array("names")->size(), 3u);
  EXPECT_EQ((*f->get_string_array("names"))[1], "bc");
  EXPECT_EQ(*f->get_number_array("scores"), (std::vector<double>{0.5, -1.0}));
  EXPECT_EQ(*f->get_number_array("types"), (std::vector<double>{1, 2, 3}));
  EXPECT_FALSE(f->get_string("missing"));
  // Wrong type is an error naming the key.
  try {
    f->get_string("answer");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'answer' is i32, expected string"), std::string::npos) << e.what();
  }
  ASSERT_EQ(f->tensors().size(), 2u);
  const auto* w = f->find_tensor("w");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->dims, (std::vector<uint64_t>{32, 2}));
  EXPECT_EQ(w->nbytes, 256u);
  const float* data = reinterpret_cast<const float*>(f->tensor_data(*w));
  EXPECT_EQ(data[63], 63.0f);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f->tensor_data(*w)) % 32, reinterpret_cast<uintptr_t>(f->tensor_data(*f->find_tensor("q"))) % 32);
  EXPECT_EQ(f->find_tensor("q")->nbytes, 68u);
  EXPECT_EQ(f->tensor_data(*f->find_tensor("q"))[67], 7);
}

TEST(Gguf, EveryTruncationIsAnError) {
  TempDir d;
  const auto good = sample_file(d);
  for (size_t n = 0; n < good.size(); ++n) {
    // The last tensor's padding is not data: cutting only padding still leaves a whole file.
    std::vector<uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
    const std::string err = parse_error(cut);
    if (n < good.size() - 28) {
      EXPECT_FALSE(err.empty()) << "truncated to " << n << " bytes was accepted";
    }
  }
}

// Builds a file from raw pieces, for layouts the writer would never produce.
struct Raw {
  std::vector<uint8_t> b;
  template <typename T>
  Raw& put(T v) {
    const size_t at = b.size();
    b.resize(at + sizeof(T));
    std::memcpy(b.data() + at, &v, sizeof(T));
    return *this;
  }
  Raw& str(const std::string& s) {
    put<uint64_t>(s.size());
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Raw& header(uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    b = {'G', 'G', 'U', 'F'};
    return put(version).put(n_tensors).put(n_kv);
  }
  Raw& tensor(const std::string& name, std::vector<uint64_t> dims, uint32_t type, uint64_t offset) {
    str(name).put<uint32_t>(static_cast<uint32_t>(dims.size()));
    for (auto x : dims) put(x);
    return put(type).put(offset);
  }
  Raw& pad_data(size_t bytes) {
    b.resize((b.size() + 31) / 32 * 32 + bytes, 0);
    return *this;
  }
};

void expect_error(const std::vector<uint8_t>& bytes, const std::string& needle) {
  const std::string err = parse_error(bytes);
  EXPECT_NE(err.find(needle), std::string::npos) << "expected an error containing '" << needle << "', got '" << err << "'";
  EXPECT_NE(err.find("bad.gguf"), std::string::npos) << "the error names the file: " << err;
}

TEST(Gguf, MalformedFiles) {
  expect_error({'G', 'G', 'U'}, "bad magic");
  expect_error({'G', 'G', 'M', 'L', 3, 0, 0, 0}, "bad magic");
  expect_error(Raw().header(1, 0, 0).b, "version 1 is not supported");
  expect_error(Raw().header(7, 0, 0).b, "unknown GGUF version 7");
  expect_error(Raw().header(3, 0, 1ull << 60).b, "metadata count");
  expect_error(Raw().header(3, 1ull << 40, 0).pad_data(64).b, "tensor count");
  expect_error(Raw().header(3, 0, 1).str("k").put<uint32_t>(99).put<uint32_t>(0).b, "unknown value type 99");
  expect_error(Raw().header(3, 0, 1).str("k").put<uint32_t>(8).put<uint64_t>(1ull << 62).b, "truncated");
  expect_error(Raw().header(3, 0, 1).put<uint64_t>(1ull << 62).pad_data(64).b, "too long");
  expect_error(Raw().header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(4).put<uint64_t>(1ull << 61).b, "does not fit");
  expect_error(Raw().header(3, 0, 1).str("k").put<uint32_t>(9).put<uint32_t>(77).put<uint64_t>(1).b, "unknown array element type");
  expect_error(Raw().header(3, 0, 1).str("k").put<uint32_t>(7).put<uint8_t>(2).b, "not 0 or 1");
  expect_error(Raw().header(3, 0, 2).str("k").put<uint32_t>(4).put<uint32_t>(1).str("k").put<uint32_t>(4).put<uint32_t>(1).b,
               "duplicate metadata key 'k'");
  expect_error(Raw().header(3, 0, 1).str("general.alignment").put<uint32_t>(4).put<uint32_t>(3).b, "power of two");
  expect_error(Raw().header(3, 1, 0).tensor("t", {}, 0, 0).pad_data(64).b, "0 dimensions");
  expect_error(Raw().header(3, 1, 0).tensor("t", {1, 1, 1, 1, 1}, 0, 0).pad_data(64).b, "5 dimensions");
  expect_error(Raw().header(3, 1, 0).tensor("t", {4, 0}, 0, 0).pad_data(64).b, "absurd dimension 0");
  expect_error(Raw().header(3, 1, 0).tensor("t", {1ull << 30, 1ull << 30}, 0, 0).pad_data(64).b, "absurd dimension");
  expect_error(Raw().header(3, 1, 0).tensor("t", {4}, 1234, 0).pad_data(64).b, "unknown ggml type 1234");
  expect_error(Raw().header(3, 1, 0).tensor("t", {33}, 8, 0).pad_data(64).b, "not a whole number of Q8_0 blocks");
  expect_error(Raw().header(3, 1, 0).tensor("t", {4}, 0, 3).pad_data(64).b, "not aligned");
  expect_error(Raw().header(3, 1, 0).tensor("t", {64}, 0, 0).pad_data(64).b, "beyond the end of the file");
  expect_error(Raw().header(3, 1, 0).tensor("t", {4}, 0, 1ull << 62).pad_data(64).b, "beyond the end");
  expect_error(Raw().header(3, 2, 0).tensor("a", {16}, 0, 0).tensor("b", {16}, 0, 32).pad_data(128).b, "overlap");
  expect_error(Raw().header(3, 2, 0).tensor("a", {4}, 0, 0).tensor("a", {4}, 0, 32).pad_data(128).b, "duplicate tensor 'a'");
  // A tensor-free file (vocab only) needs no data section.
  EXPECT_EQ(parse_error(Raw().header(3, 0, 1).str("k").put<uint32_t>(4).put<uint32_t>(5).b), "");
}

TEST(Gguf, RandomCorruptionsNeverCrash) {
  // Edits and truncations of a valid file, parsed from memory: each is an Error or a file read
  // in full. Edits of tensor bytes alone must be accepted, a cut into the tensor data must be
  // refused, and the seeded totals are pinned: a change means the validation changed.
  TempDir d;
  const auto good = sample_file(d);
  // The data section ends the file, padded to the 32-byte alignment after the last tensor.
  const auto parsed = GgufFile::from_bytes(good);
  uint64_t data_len = 0;
  for (const auto& t : parsed->tensors()) data_len = std::max<uint64_t>(data_len, t.offset + t.nbytes);
  ASSERT_EQ(data_len, 64u * 4 + 68) << "the sample's layout";
  const uint64_t data_start = good.size() - (data_len + 31) / 32 * 32, data_end = data_start + data_len;
  std::mt19937 rng(1234);
  int rejected = 0, accepted = 0, data_only = 0, cut_into_data = 0;
  for (int trial = 0; trial < 2000; ++trial) {
    auto b = good;
    bool header_touched = false, cut = false;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const size_t at = rng() % b.size();
      switch (rng() % 3) {
        case 0: {
          const auto v = static_cast<uint8_t>(rng());
          header_touched |= at < data_start && b[at] != v;
          b[at] = v;
          break;
        }
        case 1:
          b[at] ^= static_cast<uint8_t>(1u << (rng() % 8));
          header_touched |= at < data_start;
          break;
        default:
          b.resize(at);
          cut = true;
          break;
      }
      if (b.empty()) break;
    }
    bool ok = false;
    try {
      auto f = GgufFile::from_bytes(b);
      // Whatever is accepted must be readable in full.
      uint64_t sum = 0;
      for (const auto& t : f->tensors())
        for (uint64_t k = 0; k < t.nbytes; ++k) sum += f->tensor_data(t)[k];
      for (const auto& [k, v] : f->metadata())
        for (auto s : v.strings) sum += s.size();
      (void)sum;
      ok = true;
    } catch (const Error&) {}
    (ok ? accepted : rejected) += 1;
    if (cut && b.size() < data_end) {
      ++cut_into_data;
      EXPECT_FALSE(ok) << "trial " << trial << ": cut to " << b.size() << " of " << good.size() << " bytes, accepted";
    } else if (!cut && !header_touched) {
      ++data_only;
      EXPECT_TRUE(ok) << "trial " << trial << ": edits of tensor bytes only were rejected";
    }
  }
  std::printf("[gguf] 2000 corrupted files: %d rejected, %d read in full (%d cut short: all rejected; %d data-only: all accepted)\n",
              rejected, accepted, cut_into_data, data_only);
  EXPECT_EQ(cut_into_data, 1161);
  EXPECT_EQ(data_only, 198);
  // Measured totals of the seeded run; a change means the validation changed (look at which).
  EXPECT_EQ(rejected, 1626);
  EXPECT_EQ(accepted, 374);
}

// ---- tokenizer.ggml.* metadata ----

// A small SentencePiece-style vocab: specials, 256 byte tokens, and a few merged pieces.
void write_spm_vocab(const std::string& path, const std::function<void(GgufWriter&)>& tweak = {}) {
  std::vector<std::string> tokens = {"<unk>", "<s>", "</s>"};
  std::vector<int32_t> types = {2, 3, 3};
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    tokens.push_back(name);
    types.push_back(6);
  }
  for (const char* p : {"\xE2\x96\x81", "a", "b", "c",
                        "\xE2\x96\x81"
                        "a",
                        "ab",
                        "\xE2\x96\x81"
                        "ab",
                        "abc"}) {
    tokens.push_back(p);
    types.push_back(1);
  }
  std::vector<float> scores(tokens.size());
  for (size_t i = 0; i < scores.size(); ++i) scores[i] = -static_cast<float>(i);
  GgufWriter w;
  w.set_string("general.architecture", "llama");
  w.set_string("tokenizer.ggml.model", "llama");
  w.set_strings("tokenizer.ggml.tokens", tokens);
  w.set_f32s("tokenizer.ggml.scores", scores);
  w.set_i32s("tokenizer.ggml.token_type", types);
  w.set_u32("tokenizer.ggml.bos_token_id", 1);
  w.set_u32("tokenizer.ggml.eos_token_id", 2);
  w.set_u32("tokenizer.ggml.unknown_token_id", 0);
  if (tweak) tweak(w);
  w.begin(path);
  w.finish();
}

std::string load_error(const std::string& path) {
  auto t = Tokenizer::from_file(path);
  return t ? "" : t.error().what();
}

TEST(GgufTokenizer, SmallSentencePieceVocab) {
  TempDir d;
  write_spm_vocab(d.file("v.gguf"));
  auto t = Tokenizer::from_file(d.file("v.gguf"));
  ASSERT_TRUE(t) << t.error().what();
  auto ids = t.value()->encode("ab abc ca\xC3\xA9");
  ASSERT_TRUE(ids);
  // BOS, "▁ab", then "▁abc" merges by score: "▁a" (-263) first, then "▁ab" (-265), leaving
  // "c" ("abc" is never formed); "▁" "c" "a"; é is not a piece: bytes C3 A9.
  EXPECT_EQ(ids.value(), (std::vector<int>{1, 265, 265, 262, 259, 262, 260, 3 + 0xC3, 3 + 0xA9}));
  EXPECT_EQ(t.value()->decode(ids.value()), "ab abc ca\xC3\xA9");
}

// SmolLM's pre-tokenizer ("smollm") splits every digit off before GPT-2's byte-level regex, so
// a digit merge never applies; under "gpt-2" the same vocabulary merges "12".
TEST(GgufTokenizer, SmolLmSplitsDigitsOneByOne) {
  TempDir d;
  for (const auto& [pre, want] : {std::pair{"smollm", std::vector<int>{0, 1, 2}}, std::pair{"gpt-2", std::vector<int>{0, 3}}}) {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", pre);
    w.set_strings("tokenizer.ggml.tokens", {"a", "1", "2", "12"});
    w.set_i32s("tokenizer.ggml.token_type", {1, 1, 1, 1});
    w.set_strings("tokenizer.ggml.merges", {"1 2"});
    w.begin(d.file("v.gguf"));
    w.finish();
    auto f = GgufFile::open(d.file("v.gguf"));
    auto t = Tokenizer::from_gguf(*f);
    ASSERT_TRUE(t) << t.error().what();
    auto ids = t.value()->encode("a12", {false, true});
    ASSERT_TRUE(ids) << ids.error().what();
    EXPECT_EQ(ids.value(), want) << pre;
  }
}

TEST(GgufTokenizer, MalformedMetadataIsAClearError) {
  TempDir d;
  // Each case writes a fresh file with a wrong or missing key.
  {
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.begin(d.file("a.gguf"));
    w.finish();
    EXPECT_NE(load_error(d.file("a.gguf")).find("no tokenizer.ggml.model"), std::string::npos);
  }
  auto vocab_with = [&](const std::string& model, const std::function<void(GgufWriter&)>& more) {
    GgufWriter w;
    w.set_string("tokenizer.ggml.model", model);
    more(w);
    w.begin(d.file("b.gguf"));
    w.finish();
    return load_error(d.file("b.gguf"));
  };
  EXPECT_NE(vocab_with("bert", [](GgufWriter& w) { w.set_strings("tokenizer.ggml.tokens", {"a"}); }).find("'bert' is not supported"),
            std::string::npos);
  EXPECT_NE(vocab_with("llama", [](GgufWriter&) {}).find("no tokenizer.ggml.tokens"), std::string::npos);
  EXPECT_NE(vocab_with("llama",
                       [](GgufWriter& w) {
                         w.set_i32s("tokenizer.ggml.tokens", {1, 2});
                       })
                .find("expected an array of strings"),
            std::string::npos);
  EXPECT_NE(vocab_with("llama",
                       [](GgufWriter& w) {
                         w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
                         w.set_i32s("tokenizer.ggml.token_type", {1});
                       })
                .find("token_type has 1 entries, expected 2"),
            std::string::npos);
  EXPECT_NE(vocab_with("llama",
                       [](GgufWriter& w) {
                         w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
                         w.set_u32("tokenizer.ggml.bos_token_id", 7);
                       })
                .find("bos_token_id = 7 is not a token id"),
            std::string::npos);
  EXPECT_NE(vocab_with("gpt2",
                       [](GgufWriter& w) {
                         w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
                         w.set_string("tokenizer.ggml.pre", "my-new-model");
                         w.set_strings("tokenizer.ggml.merges", {});
                       })
                .find("pre-tokenizer 'my-new-model' is not supported (supported: "),
            std::string::npos);
  EXPECT_NE(vocab_with("gpt2",
                       [](GgufWriter& w) {
                         w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
                         w.set_string("tokenizer.ggml.pre", "gpt-2");
                         w.set_strings("tokenizer.ggml.merges", {"a z"});
                       })
                .find("merge 'a z' uses a token that is not in the vocab"),
            std::string::npos);
  EXPECT_NE(vocab_with("gpt2",
                       [](GgufWriter& w) {
                         w.set_strings("tokenizer.ggml.tokens", {"a", "b"});
                         w.set_strings("tokenizer.ggml.merges", {});
                       })
                .find("without tokenizer.ggml.pre"),
            std::string::npos);
}

TEST(GgufTokenizer, RandomCorruptionsNeverCrash) {
  TempDir d;
  write_spm_vocab(d.file("v.gguf"));
  const auto good = bytes_of(d.file("v.gguf"));
  std::mt19937 rng(99);
  int loaded = 0;
  for (int trial = 0; trial < 500; ++trial) {
    auto b = good;
    for (int e = 0; e < 3; ++e) b[rng() % b.size()] = static_cast<uint8_t>(rng());
    try {
      auto f = GgufFile::from_bytes(b);
      auto t = Tokenizer::from_gguf(*f);
      if (!t) continue;
      ++loaded;
      auto ids = t.value()->encode("abc ab a\xC3\xA9 <s>");
      if (ids) t.value()->decode(ids.value());
    } catch (const Error&) {}
  }
  std::printf("[gguf] %d of 500 corrupted vocab files still loaded and encoded\n", loaded);
  // Measured with the seed above: most byte edits break a length, a count or a type and are
  // refused; those in token text or scores leave a loadable vocabulary. A change means the
  // validation changed.
  EXPECT_EQ(loaded, 121);
}

}  // namespace
}  // namespace wick::test

// GGUF model files: metadata -> config, tensors by llama.cpp's names, and clear errors for
// what wick cannot run. The files are written here with GgufWriter, tensors of random bytes.
namespace wick::test {
namespace {

struct TinyGguf {
  std::string arch = "llama";
  uint32_t hidden = 64, heads = 2, kv_heads = 1, ffn = 128, layers = 1, vocab = 32;
  uint32_t matrix_type = 8;  // Q8_0
  std::string skip_tensor, skip_key;
  uint64_t wrong_rows = 0;      // attn_q rows, when nonzero
  uint32_t claimed_layers = 0;  // block_count in the metadata, when nonzero

  void write(const std::string& path) const {
    GgufWriter w;
    auto u32 = [&](const std::string& k, uint32_t v) {
      if (k != skip_key) w.set_u32(k, v);
    };
    w.set_string("general.architecture", arch);
    u32(arch + ".context_length", 128);
    u32(arch + ".embedding_length", hidden);
    u32(arch + ".block_count", claimed_layers ? claimed_layers : layers);
    u32(arch + ".feed_forward_length", ffn);
    u32(arch + ".attention.head_count", heads);
    u32(arch + ".attention.head_count_kv", kv_heads);
    w.set_f32(arch + ".attention.layer_norm_rms_epsilon", 1e-5f);
    const uint32_t hd = hidden / heads;
    std::vector<std::pair<std::string, std::vector<uint64_t>>> tensors = {
        {"token_embd.weight", {hidden, vocab}}, {"output_norm.weight", {hidden}}, {"output.weight", {hidden, vocab}}};
    for (uint32_t l = 0; l < layers; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      tensors.push_back({p + "attn_norm.weight", {hidden}});
      tensors.push_back({p + "attn_q.weight", {hidden, wrong_rows ? wrong_rows : heads * hd}});
      tensors.push_back({p + "attn_k.weight", {hidden, kv_heads * hd}});
      tensors.push_back({p + "attn_v.weight", {hidden, kv_heads * hd}});
      tensors.push_back({p + "attn_output.weight", {heads * hd, hidden}});
      tensors.push_back({p + "ffn_norm.weight", {hidden}});
      tensors.push_back({p + "ffn_gate.weight", {hidden, ffn}});
      tensors.push_back({p + "ffn_up.weight", {hidden, ffn}});
      tensors.push_back({p + "ffn_down.weight", {ffn, hidden}});
    }
    std::vector<std::vector<uint8_t>> data;
    std::mt19937 rng(1);
    for (const auto& [name, dims] : tensors) {
      if (name == skip_tensor) continue;
      const uint32_t type = dims.size() == 1 ? 0 : matrix_type;
      w.add_tensor(name, dims, type);
      const GgmlTypeInfo* info = ggml_type_info(type);
      uint64_t n = 1;
      for (uint64_t d : dims) n *= d;
      std::vector<uint8_t> bytes(n / static_cast<uint64_t>(info->block_size) * static_cast<uint64_t>(info->type_size));
      // Small finite values whatever the type: F32 ones, block scales 2^-10 (F16 0x1400).
      for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<uint8_t>(rng());
      if (type == 0)
        for (size_t i = 0; i + 4 <= bytes.size(); i += 4) {
          const float one = 1.0f;
          std::memcpy(&bytes[i], &one, 4);
        }
      if (type == 8 || type == 2 || type == 6)
        for (size_t i = 0; i < bytes.size(); i += static_cast<size_t>(info->type_size)) bytes[i] = 0x00, bytes[i + 1] = 0x14;
      data.push_back(std::move(bytes));
    }
    w.begin(path);
    for (const auto& d : data) w.write_tensor(d.data(), d.size());
    w.finish();
  }
};

std::string load_error(const TinyGguf& g) {
  TempDir tmp;
  g.write(tmp.file("m.gguf"));
  try {
    load_gguf_model(tmp.file("m.gguf"));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(GgufModel, ReadsConfigAndTensors) {
  TempDir tmp;
  TinyGguf g;
  g.write(tmp.file("m.gguf"));
  auto m = load_gguf_model(tmp.file("m.gguf"));
  const ModelConfig& c = m->config;
  EXPECT_EQ(c.model_type, "llama");
  EXPECT_EQ(c.hidden_size, 64);
  EXPECT_EQ(c.num_heads, 2);
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.intermediate_size, 128);
  EXPECT_EQ(c.vocab_size, 32);
  EXPECT_EQ(c.max_position_embeddings, 128);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_NEAR(c.rms_norm_eps, 1e-5, 1e-12);
  EXPECT_EQ(m->weights.layers[0].wq.dtype, DType::Q8_0);
  EXPECT_EQ(m->weights.layers[0].wq.shape[0], 64);
  EXPECT_EQ(m->weights.layers[0].wq.shape[1], 64);
  EXPECT_EQ(m->params_by_dtype["Q8_0"], 2u * 64 * 32 + 64 * 64 + 2u * 32 * 64 + 64 * 64 + 3u * 64 * 128);
  // No output.weight: the LM head is the embedding matrix.
  TinyGguf tied;
  tied.skip_tensor = "output.weight";
  tied.write(tmp.file("tied.gguf"));
  auto t = load_gguf_model(tmp.file("tied.gguf"));
  EXPECT_TRUE(t->config.tie_word_embeddings);
  EXPECT_EQ(t->weights.output.data, t->weights.token_embd.data);
}

TEST(GgufModel, ClearErrors) {
  TinyGguf q8_1;
  q8_1.matrix_type = 9;  // Q8_1: ggml's activation type, never a weight
  EXPECT_NE(load_error(q8_1).find("has type Q8_1, which wick does not compute with"), std::string::npos) << load_error(q8_1);
  TinyGguf fp4;
  fp4.matrix_type = 39;  // MXFP4: named, not "unknown ggml type 39"
  EXPECT_NE(load_error(fp4).find("has type MXFP4, which wick does not compute with"), std::string::npos) << load_error(fp4);
  TinyGguf missing;
  missing.skip_tensor = "blk.0.ffn_up.weight";
  EXPECT_NE(load_error(missing).find("tensor 'blk.0.ffn_up.weight' (blk.0.ffn_up) is missing"), std::string::npos) << load_error(missing);
  TinyGguf shape;
  shape.wrong_rows = 32;
  EXPECT_NE(load_error(shape).find("expected [64, 64] from GGUF metadata"), std::string::npos) << load_error(shape);
  TinyGguf no_key;
  no_key.skip_key = "llama.block_count";
  EXPECT_NE(load_error(no_key).find("llama.block_count is missing"), std::string::npos) << load_error(no_key);
  TinyGguf gqa;
  gqa.kv_heads = 3;
  EXPECT_NE(load_error(gqa).find("not a multiple of head_count_kv"), std::string::npos) << load_error(gqa);
  // A huge layer count fails at once, before anything is expanded for it (found by fuzzing).
  TinyGguf deep;
  deep.claimed_layers = 1u << 30;
  EXPECT_NE(load_error(deep).find("block_count = 1073741824 asks for more layers than the 12 tensors the file holds"), std::string::npos)
      << load_error(deep);
  // A file that is not GGUF says so (not "model directory not found").
  TempDir tmp;
  write_file(tmp.file("x.gguf"), std::string(64, '\x5a'));
  auto random = Model::load(tmp.file("x.gguf"));
  ASSERT_FALSE(random);
  EXPECT_NE(std::string(random.error().what()).find("x.gguf is not a GGUF file"), std::string::npos) << random.error().what();
  TinyGguf arch;
  arch.arch = "gemma";
  EXPECT_NE(load_error(arch).find("general.architecture \"gemma\" is not supported"), std::string::npos) << load_error(arch);
}

}  // namespace
}  // namespace wick::test
