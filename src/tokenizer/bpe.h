// The BPE model of tokenizers (tokenizers/src/models/bpe): vocab, ranked merges, byte
// fallback, unknown token, continuing_subword_prefix / end_of_word_suffix, ignore_merges.
// SentencePiece BPE vocabularies that carry scores instead of merges (GGUF "llama" vocabs)
// become the same model: a merge exists for every pair whose concatenation is a piece, ranked
// by that piece's score, which is the order sentencepiece's bpe_model.cc merges in.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace wick {

struct BpeOptions {
  int unk_id = -1;
  bool byte_fallback = false;  // unknown characters become <0xXX> byte tokens
  bool fuse_unk = false;       // consecutive unknowns become one unk token
  bool ignore_merges = false;  // a word that is itself a token is not split (Llama 3)
  std::string prefix, suffix;  // continuing_subword_prefix, end_of_word_suffix
};

// Hash that accepts std::string_view keys without building a std::string.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using TokenMap = std::unordered_map<std::string, int, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  // `id_to_token[id]` is the token string; empty strings are unused ids. When a string occurs
  // twice the lower id wins.
  BpeModel(std::vector<std::string> id_to_token, BpeOptions opts);

  // tokenizer.json "model" object of type BPE.
  static std::unique_ptr<BpeModel> from_json(const nlohmann::json& model);
  // Merges written "left right" (tokenizer.json, GGUF tokenizer.ggml.merges), ranked in order.
  void add_merges(const std::vector<std::string_view>& merges);
  // SentencePiece BPE: merges from the scores of the `mergeable` pieces.
  void add_merges_from_scores(const std::vector<float>& scores, const std::vector<bool>& mergeable);

  // Appends the ids of one pre-token.
  void encode_word(std::string_view word, std::vector<int>& out) const;

  int size() const { return static_cast<int>(id_to_token_.size()); }
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }
  const TokenMap& vocab() const { return vocab_; }
  int find(std::string_view token) const {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
  }

 private:
  void add_merge(int left, int right, int rank, int merged);

  TokenMap vocab_;
  std::vector<std::string> id_to_token_;
  struct Merge { int rank; int id; };
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
  BpeOptions opts_;
  int byte_ids_[256];
};

}  // namespace wick
