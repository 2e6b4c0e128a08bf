// The tokenizer.ggml.* metadata of a GGUF file -> Tokenizer::Impl, reproducing the Hugging
// Face tokenizer the file was converted from:
//   model "llama": SentencePiece BPE (scores, <0xXX> byte fallback, "▁" for spaces), the
//                  pipeline of transformers' LlamaTokenizerFast (legacy): Prepend("▁") +
//                  Replace(" ", "▁") normalizer, no pre-tokenizer, Replace/ByteFallback/Fuse/
//                  Strip decoder.
//   model "gpt2":  byte-level BPE with merges; GGUF stores only the *name* of the
//                  pre-tokenizer (tokenizer.ggml.pre), so the Split regexes of each named
//                  tokenizer.json are tabled below.
// Token types (llama.cpp's llama_token_type): 1 normal, 2 unknown, 3 control, 4 user defined,
// 5 unused, 6 byte.
#include <map>

#include "formats/gguf.h"
#include "tokenizer/gguf_vocab_writer.h"
#include "tokenizer/tokenizer_impl.h"
#include "wick/error.h"

namespace wick {
namespace {

using json = nlohmann::json;

enum TokenType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

json split(const std::string& regex) {
  return {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}};
}
json sequence_then_bytes(std::vector<json> splits) {
  splits.push_back({{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}});
  return {{"type", "Sequence"}, {"pretokenizers", splits}};
}

// The regexes below are those of the models' tokenizer.json files (written with \x{...}
// escapes where the originals hold literal characters).
const char* kLlama3 =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
const char* kQwen2 = R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// deepseek-ai/deepseek-llm-7b-base: cased letters of many scripts, ASCII/full-width
// punctuation, trailing whitespace, CJK + Hangul runs, digit runs.
const char* kDeepseekLetters =
    R"(\s?[A-Za-z\x{B5}\x{C0}-\x{D6}\x{D8}-\x{F6}\x{F8}-\x{1BA}\x{1BC}-\x{1BF}\x{1C4}-\x{293}\x{295}-\x{2AF})"
    R"(\x{370}-\x{373}\x{376}\x{377}\x{37B}-\x{37D}\x{37F}\x{386}\x{388}-\x{38A}\x{38C}\x{38E}-\x{3A1}\x{3A3}-\x{3F5})"
    R"(\x{3F7}-\x{481}\x{48A}-\x{52F}\x{531}-\x{556}\x{10A0}-\x{10C5}\x{13A0}-\x{13F5}\x{13F8}-\x{13FD}\x{1C90}-\x{1CBA})"
    R"(\x{1CBD}-\x{1CBF}\x{1D00}-\x{1D2B}\x{1D6B}-\x{1D77}\x{1D79}-\x{1D9A}\x{1E00}-\x{1F15}\x{1F18}-\x{1F1D})"
    R"(\x{1F20}-\x{1F45}\x{1F48}-\x{1F4D}\x{1F50}-\x{1F57}\x{1F59}\x{1F5B}\x{1F5D}\x{1F5F}-\x{1F7D}\x{1F80}-\x{1FB4})"
    R"(\x{1FB6}-\x{1FBC}\x{1FBE}\x{1FC2}-\x{1FC4}\x{1FC6}-\x{1FCC}\x{1FD0}-\x{1FD3}\x{1FD6}-\x{1FDB}\x{1FE0}-\x{1FEC})"
    R"(\x{1FF2}-\x{1FF4}\x{1FF6}-\x{1FFC}\x{2102}\x{2107}\x{210A}-\x{2113}\x{2115}\x{2119}-\x{211D}\x{2124}\x{2126})"
    R"(\x{2128}\x{212A}-\x{212D}\x{212F}-\x{2134}\x{2139}\x{213C}-\x{213F}\x{2145}-\x{2149}\x{214E}\x{2183}\x{2184})"
    R"(\x{2C00}-\x{2C7B}\x{2C7E}-\x{2CE4}\x{2CEB}-\x{2CEE}\x{2CF2}\x{2CF3}\x{A640}-\x{A66D}\x{A680}-\x{A69B})"
    R"(\x{A722}-\x{A76F}\x{A771}-\x{A787}\x{A78B}-\x{A78E}\x{AB70}-\x{ABBF}\x{FB00}-\x{FB06}\x{FB13}-\x{FB17})"
    R"(\x{FF21}-\x{FF3A}\x{FF41}-\x{FF5A}\x{10400}-\x{1044F}\x{104B0}-\x{104D3}\x{104D8}-\x{104FB}\x{10C80}-\x{10CB2})"
    R"(\x{10CC0}-\x{10CF2}\x{118A0}-\x{118DF}\x{1E900}-\x{1E943}]+)";
const char* kDeepseekPunct = R"(\s?[!-/:-~\x{FF01}-\x{FF0F}\x{FF1A}-\x{FF5E}\x{2018}-\x{201F}\x{3000}-\x{3002}]+)";
const char* kDeepseekCjk = R"([\x{4E00}-\x{9FA5}\x{800}-\x{4E00}\x{AC00}-\x{D7FF}]+)";
const char* kDeepseekV3Punct =
    R"([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

struct PreTokenizerSpec {
  json normalizer;
  json pre_tokenizer;
};

const std::map<std::string, PreTokenizerSpec>& byte_level_pre_tokenizers() {
  static const std::map<std::string, PreTokenizerSpec> table = [] {
    std::map<std::string, PreTokenizerSpec> t;
    const json gpt2 = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}};
    t["gpt-2"] = {nullptr, gpt2};
    t["llama-bpe"] = {nullptr, sequence_then_bytes({split(kLlama3)})};
    t["smaug-bpe"] = t["llama-bpe"];
    // SmolLM / SmolLM2: every digit on its own, then GPT-2's byte-level regex.
    t["smollm"] = {nullptr, {{"type", "Sequence"}, {"pretokenizers", {{{"type", "Digits"}, {"individual_digits", true}}, gpt2}}}};
    t["qwen2"] = {{{"type", "NFC"}}, sequence_then_bytes({split(kQwen2)})};
    t["deepseek-r1-qwen"] = t["qwen2"];
    t["deepseek-llm"] = {nullptr, sequence_then_bytes({split(R"([\r\n])"), split(kDeepseekLetters), split(kDeepseekPunct), split(R"(\s+$)"),
                                                       split(kDeepseekCjk), split(R"(\p{N}+)")})};
    t["deepseek-coder"] = {nullptr, sequence_then_bytes({split(R"([\r\n])"), split(R"(\s?\p{L}+)"), split(R"(\s?\p{P}+)"),
                                                         split(kDeepseekCjk), split(R"(\p{N})")})};
    t["deepseek-v3"] = {nullptr,
                        sequence_then_bytes({split(R"(\p{N}{1,3})"), split(R"([\x{4E00}-\x{9FA5}\x{3040}-\x{309F}\x{30A0}-\x{30FF}]+)"),
                                             split(kDeepseekV3Punct)})};
    return t;
  }();
  return table;
}

// What identifies a byte-level pre-tokenizer: the normalizer type, the Split regexes in order
// and whether ByteLevel applies its own regex.
std::string signature(const json& normalizer, const json& pre) {
  std::string sig = normalizer.is_object() ? normalizer.value("type", "") : "";
  if (sig == "Sequence" && normalizer.contains("normalizers") && normalizer["normalizers"].empty()) sig.clear();
  std::vector<json> parts;
  if (pre.is_object() && pre.value("type", "") == "Sequence" && pre.contains("pretokenizers"))
    parts = pre["pretokenizers"].get<std::vector<json>>();
  else if (pre.is_object())
    parts = {pre};
  for (const json& p : parts) {
    const std::string type = p.value("type", "");
    sig += "|" + type;
    if (type == "Split" && p.contains("pattern") && p["pattern"].contains("Regex")) {
      sig += ":";
      sig += p["pattern"]["Regex"].get<std::string>();
    }
    if (type == "ByteLevel") sig += p.value("use_regex", true) ? ":regex" : ":noregex";
  }
  return sig;
}

std::string known_names() {
  std::string s;
  for (const auto& [name, spec] : byte_level_pre_tokenizers()) s += (s.empty() ? "" : ", ") + name;
  return s;
}

}  // namespace

std::optional<std::string> gguf_pre_tokenizer_name(const nlohmann::json& normalizer, const nlohmann::json& pre_tokenizer) {
  const std::string sig = signature(normalizer, pre_tokenizer);
  // Several names share one pre-tokenizer (smaug-bpe = llama-bpe); the table is ordered, so
  // the first is the usual one, but prefer the names llama.cpp's converter writes.
  for (const char* preferred : {"llama-bpe", "qwen2", "gpt-2"}) {
    const auto& spec = byte_level_pre_tokenizers().at(preferred);
    if (signature(spec.normalizer, spec.pre_tokenizer) == sig) return std::string(preferred);
  }
  for (const auto& [name, spec] : byte_level_pre_tokenizers())
    if (signature(spec.normalizer, spec.pre_tokenizer) == sig) return name;
  return std::nullopt;
}

std::unique_ptr<Tokenizer::Impl> load_gguf_tokenizer(const GgufFile& g) {
  auto t = std::make_unique<Tokenizer::Impl>();
  t->source = g.name();
  try {
    const auto model_type = g.get_string("tokenizer.ggml.model");
    if (!model_type) throw Error(ErrorCode::kCorruptFile, "no tokenizer.ggml.model: the file carries no tokenizer");
    const auto* tokens = g.get_string_array("tokenizer.ggml.tokens");
    if (!tokens || tokens->empty()) throw Error(ErrorCode::kCorruptFile, "no tokenizer.ggml.tokens");
    const size_t n = tokens->size();
    if (n > (1u << 24)) throw Error(ErrorCode::kCorruptFile, "tokenizer.ggml.tokens has " + std::to_string(n) + " entries");
    std::vector<int> types(n, kNormal);
    if (const auto* tt = g.get_number_array("tokenizer.ggml.token_type")) {
      if (tt->size() != n)
        throw Error(ErrorCode::kCorruptFile,
                    "tokenizer.ggml.token_type has " + std::to_string(tt->size()) + " entries, expected " + std::to_string(n));
      for (size_t i = 0; i < n; ++i) types[i] = static_cast<int>((*tt)[i]);
    }
    std::vector<std::string> id_to_token(tokens->begin(), tokens->end());
    auto id_key = [&](const char* key) -> int {
      const auto v = g.get_int(key);
      if (!v) return -1;
      if (*v < 0 || static_cast<size_t>(*v) >= n)
        throw Error(ErrorCode::kCorruptFile,
                    std::string(key) + " = " + std::to_string(*v) + " is not a token id (vocab " + std::to_string(n) + ")");
      return static_cast<int>(*v);
    };
    t->bos = id_key("tokenizer.ggml.bos_token_id");
    t->eos = id_key("tokenizer.ggml.eos_token_id");
    const bool spm = *model_type == "llama";
    // SentencePiece vocabs without the key use id 0 for <unk> (llama.cpp's default too).
    int unk_id = id_key("tokenizer.ggml.unknown_token_id");
    if (spm && unk_id < 0) unk_id = 0;
    if (auto tmpl = g.get_string("tokenizer.chat_template")) t->chat_template = *tmpl;

    if (spm) {
      if (g.get_bool("tokenizer.ggml.remove_extra_whitespaces").value_or(false))
        throw Error(ErrorCode::kUnsupported, "SentencePiece remove_extra_whitespaces is not supported");
      BpeOptions o;
      o.unk_id = unk_id;
      o.fuse_unk = true;
      for (int ty : types) o.byte_fallback |= ty == kByte;
      std::vector<float> scores(n, 0.0f);
      if (const auto* sc = g.get_number_array("tokenizer.ggml.scores")) {
        if (sc->size() != n)
          throw Error(ErrorCode::kCorruptFile,
                      "tokenizer.ggml.scores has " + std::to_string(sc->size()) + " entries, expected " + std::to_string(n));
        for (size_t i = 0; i < n; ++i) scores[i] = static_cast<float>((*sc)[i]);
      }
      std::vector<bool> mergeable(n);
      for (size_t i = 0; i < n; ++i) mergeable[i] = types[i] == kNormal && !id_to_token[i].empty();
      t->model = std::make_unique<BpeModel>(id_to_token, o);
      t->model->add_merges_from_scores(scores, mergeable);
      const bool prefix = g.get_bool("tokenizer.ggml.add_space_prefix").value_or(true);
      json norm = {{"type", "Sequence"}, {"normalizers", json::array()}};
      if (prefix) norm["normalizers"].push_back({{"type", "Prepend"}, {"prepend", "\xE2\x96\x81"}});
      norm["normalizers"].push_back({{"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\xE2\x96\x81"}});
      t->normalizer = make_normalizer(norm);
      json dec = {{"type", "Sequence"},
                  {"decoders",
                   {{{"type", "Replace"}, {"pattern", {{"String", "\xE2\x96\x81"}}}, {"content", " "}},
                    {{"type", "ByteFallback"}},
                    {{"type", "Fuse"}}}}};
      if (prefix) dec["decoders"].push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
      t->decoder = make_decoder(dec);
    } else if (*model_type == "gpt2") {
      const auto pre = g.get_string("tokenizer.ggml.pre");
      if (!pre)
        throw Error(ErrorCode::kUnsupported,
                    "byte-level BPE without tokenizer.ggml.pre: the pre-tokenizer is unknown (known: " + known_names() + ")");
      const auto& table = byte_level_pre_tokenizers();
      auto it = table.find(*pre);
      if (it == table.end())
        throw Error(ErrorCode::kUnsupported, "pre-tokenizer '" + *pre + "' is not supported (supported: " + known_names() + ")");
      const auto* merges = g.get_string_array("tokenizer.ggml.merges");
      if (!merges) throw Error(ErrorCode::kCorruptFile, "byte-level BPE without tokenizer.ggml.merges");
      BpeOptions o;
      o.ignore_merges = *pre == "llama-bpe" || *pre == "smaug-bpe";  // Llama 3's tokenizer.json sets ignore_merges
      t->model = std::make_unique<BpeModel>(id_to_token, o);
      t->model->add_merges(*merges);
      t->normalizer = make_normalizer(it->second.normalizer);
      t->pre_tokenizer = make_pre_tokenizer(it->second.pre_tokenizer);
      t->decoder = make_decoder(json{{"type", "ByteLevel"}});
    } else {
      throw Error(ErrorCode::kUnsupported, "tokenizer model '" + *model_type + "' is not supported (supported: llama, gpt2)");
    }

    // Control tokens (and the unknown token) are special added tokens; user-defined tokens are
    // added tokens too. GGUF keeps no lstrip/rstrip flags; Phi-3's tokenizer.json strips the
    // whitespace right of its special tokens and of </s>, which llama.cpp also restores by name.
    const std::string name = g.get_string("general.name").value_or("");
    const bool phi3 = name.find("phi3") != std::string::npos || name.find("Phi3") != std::string::npos ||
                      name.find("phi-3") != std::string::npos || name.find("Phi-3") != std::string::npos;
    for (size_t i = 0; i < n; ++i) {
      const bool unk_token = types[i] == kUnknown && static_cast<int>(i) == unk_id;
      if (types[i] != kControl && types[i] != kUserDefined && !unk_token) continue;
      if (id_to_token[i].empty()) continue;
      AddedToken a;
      a.id = static_cast<int>(i);
      a.content = id_to_token[i];
      a.special = types[i] != kUserDefined;
      a.normalized = false;
      if (phi3) a.rstrip = (a.special || a.content == "</s>") && a.content != "<unk>" && a.content != "<s>" && a.content != "<|endoftext|>";
      t->added.push_back(a);
    }
    const bool add_bos = g.get_bool("tokenizer.ggml.add_bos_token").value_or(spm);
    const bool add_eos = g.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
    if (add_bos) {
      if (t->bos < 0) throw Error(ErrorCode::kCorruptFile, "add_bos_token is set but there is no bos_token_id");
      t->prefix_ids = {t->bos};
    }
    if (add_eos) {
      if (t->eos < 0) throw Error(ErrorCode::kCorruptFile, "add_eos_token is set but there is no eos_token_id");
      t->suffix_ids = {t->eos};
    }
  } catch (const Error& e) {
    const std::string what = e.what();
    throw Error(e.code(), what.rfind(g.name(), 0) == 0 ? what : g.name() + ": " + what);
  }
  t->finish();
  return t;
}

}  // namespace wick
