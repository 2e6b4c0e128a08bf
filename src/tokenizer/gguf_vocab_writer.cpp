#include "tokenizer/gguf_vocab_writer.h"

#include <limits>
#include <map>

#include "formats/gguf_writer.h"
#include "formats/json_fields.h"
#include "tokenizer/tokenizer_impl.h"
#include "wick/error.h"

namespace wick {
namespace {

using json = nlohmann::json;

// llama.cpp's llama_token_type (see gguf_vocab.cpp).
enum TokenType { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

bool is_byte_token(const std::string& s) {
  auto hex = [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); };
  return s.size() == 6 && s.compare(0, 3, "<0x") == 0 && hex(s[3]) && hex(s[4]) && s[5] == '>';
}

// The merges of a tokenizer.json BPE model as (left, right), in rank order. Both encodings:
// "left right" strings and ["left", "right"] pairs.
std::vector<std::pair<std::string, std::string>> read_merges(const json& model) {
  std::vector<std::pair<std::string, std::string>> out;
  if (!model.contains("merges")) return out;
  for (const json& m : model["merges"]) {
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos) throw Error(ErrorCode::kCorruptFile, "merge \"" + s + "\" has no space");
      out.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      out.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    } else {
      throw Error(ErrorCode::kCorruptFile, "bad merge " + m.dump());
    }
  }
  return out;
}

// SentencePiece-style: a Prepend/Replace metaspace normalizer (transformers' legacy
// LlamaTokenizerFast) with byte fallback and no pre-tokenizer.
bool is_sentencepiece_style(const json& j, bool* add_space_prefix) {
  const json& model = j["model"];
  if (!model.value("byte_fallback", false)) return false;
  if (j.contains("pre_tokenizer") && !j["pre_tokenizer"].is_null()) return false;
  const json norm = j.value("normalizer", json());
  if (!norm.is_object() || norm.value("type", "") != "Sequence") return false;
  bool replace = false;
  *add_space_prefix = false;
  for (const json& n : norm.value("normalizers", json::array())) {
    const std::string type = n.value("type", "");
    if (type == "Prepend" && n.value("prepend", "") == "\xE2\x96\x81")
      *add_space_prefix = true;
    else if (type == "Replace" && n.value("content", "") == "\xE2\x96\x81")
      replace = true;
    else
      return false;
  }
  return replace;
}

}  // namespace

void write_gguf_vocab(const std::string& path, GgufWriter& w, int n_vocab) {
  const json j = read_json_file(path);
  const auto t = load_tokenizer_json(path);  // bos/eos, added tokens, templates, the full id list
  try {
    const json& model = j.at("model");
    std::vector<std::string> ids = t->id_to_token;
    if (n_vocab > 0 && static_cast<size_t>(n_vocab) < ids.size())
      throw Error(ErrorCode::kShapeMismatch,
                  "the tokenizer has " + std::to_string(ids.size()) + " tokens, more than the model's " + std::to_string(n_vocab));
    if (n_vocab > 0) ids.resize(static_cast<size_t>(n_vocab));
    const size_t n = ids.size();
    std::map<std::string, int> vocab;
    for (size_t i = 0; i < n; ++i)
      if (!ids[i].empty()) vocab.emplace(ids[i], static_cast<int>(i));
    const std::string unk_text = model.contains("unk_token") && model["unk_token"].is_string() ? model["unk_token"].get<std::string>() : "";
    const int unk_id = unk_text.empty() || !vocab.count(unk_text) ? -1 : vocab.at(unk_text);

    bool add_space_prefix = false;
    const bool spm = is_sentencepiece_style(j, &add_space_prefix);
    std::vector<int32_t> types(n, kNormal);
    std::vector<std::string> tokens(n);
    for (size_t i = 0; i < n; ++i) {
      tokens[i] = ids[i].empty() ? "[PAD" + std::to_string(i) + "]" : ids[i];  // as llama.cpp's converter pads
      if (ids[i].empty())
        types[i] = kUnused;
      else if (spm && is_byte_token(ids[i]))
        types[i] = kByte;
    }
    for (const AddedToken& a : t->added) types[static_cast<size_t>(a.id)] = a.special ? kControl : kUserDefined;
    if (unk_id >= 0) types[static_cast<size_t>(unk_id)] = kUnknown;

    const auto merges = read_merges(model);
    if (spm) {
      // Minus the rank of the first merge making each piece; pieces no merge makes are never
      // merged into (lowest score) unless they are single symbols, which are never merged into.
      std::vector<float> scores(n, 0.0f);
      std::vector<bool> made(n, false);
      for (size_t r = 0; r < merges.size(); ++r) {
        auto it = vocab.find(merges[r].first + merges[r].second);
        if (it == vocab.end())
          throw Error(ErrorCode::kCorruptFile, "merge \"" + merges[r].first + " " + merges[r].second + "\" makes no token");
        if (!made[static_cast<size_t>(it->second)]) scores[static_cast<size_t>(it->second)] = -static_cast<float>(r);
        made[static_cast<size_t>(it->second)] = true;
      }
      for (size_t i = 0; i < n; ++i)
        if (types[i] == kNormal && !made[i] && ids[i].size() > 4)  // longer than one UTF-8 character
          scores[i] = -1e9f;
      w.set_string("tokenizer.ggml.model", "llama");
      w.set_strings("tokenizer.ggml.tokens", tokens);
      w.set_f32s("tokenizer.ggml.scores", scores);
      w.set_i32s("tokenizer.ggml.token_type", types);
      w.set_bool("tokenizer.ggml.add_space_prefix", add_space_prefix);
    } else {
      const json pre = j.value("pre_tokenizer", json());
      bool byte_level = false;
      for (const json& p :
           (pre.is_object() && pre.value("type", "") == "Sequence") ? pre.value("pretokenizers", json::array()) : json::array({pre}))
        byte_level |= p.is_object() && p.value("type", "") == "ByteLevel";
      if (!byte_level)
        throw Error(ErrorCode::kUnsupported,
                    "only SentencePiece-style (byte fallback + metaspace) and byte-level BPE tokenizers have a GGUF form");
      const auto name = gguf_pre_tokenizer_name(j.value("normalizer", json()), pre);
      if (!name) throw Error(ErrorCode::kUnsupported, "the pre-tokenizer is not one llama.cpp names (tokenizer.ggml.pre)");
      std::vector<std::string> merge_strings;
      merge_strings.reserve(merges.size());
      for (const auto& [a, b] : merges) merge_strings.push_back(a + " " + b);
      w.set_string("tokenizer.ggml.model", "gpt2");
      w.set_string("tokenizer.ggml.pre", *name);
      w.set_strings("tokenizer.ggml.tokens", tokens);
      w.set_i32s("tokenizer.ggml.token_type", types);
      w.set_strings("tokenizer.ggml.merges", merge_strings);
    }
    if (t->bos >= 0) w.set_u32("tokenizer.ggml.bos_token_id", static_cast<uint32_t>(t->bos));
    if (t->eos >= 0) w.set_u32("tokenizer.ggml.eos_token_id", static_cast<uint32_t>(t->eos));
    if (unk_id >= 0) w.set_u32("tokenizer.ggml.unknown_token_id", static_cast<uint32_t>(unk_id));
    auto only = [&](const std::vector<int>& v, int id, const char* what) {
      if (v.empty()) return false;
      if (v.size() != 1 || v[0] != id)
        throw Error(ErrorCode::kUnsupported,
                    std::string("the post-processor adds tokens other than ") + what + ", which GGUF cannot express");
      return true;
    };
    w.set_bool("tokenizer.ggml.add_bos_token", only(t->prefix_ids, t->bos, "BOS"));
    w.set_bool("tokenizer.ggml.add_eos_token", only(t->suffix_ids, t->eos, "EOS"));
    if (!t->chat_template.empty()) w.set_string("tokenizer.chat_template", t->chat_template);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  } catch (const json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": " + e.what());
  }
}

}  // namespace wick
