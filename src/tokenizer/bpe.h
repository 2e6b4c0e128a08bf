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

// Open-addressing hash map from a token-id pair to its merge: one probe sequence in a flat
// array, no node allocation (the merge table is read for every adjacent pair of every word).
class PairMap {
 public:
  struct Value {
    int rank;
    int id;
  };
  void reserve(size_t n);
  // Keeps the first value inserted for a key.
  void insert(uint64_t key, Value v);
  const Value* find(uint64_t key) const {
    if (slots_.empty()) return nullptr;
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.value;
      if (s.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    Value value{};
  };
  // splitmix64's finalizer: every key bit reaches the low bits the mask keeps.
  static size_t hash(uint64_t k) {
    k ^= k >> 30;
    k *= 0xBF58476D1CE4E5B9ull;
    k ^= k >> 27;
    k *= 0x94D049BB133111EBull;
    return static_cast<size_t>(k ^ (k >> 31));
  }
  void grow();
  std::vector<Slot> slots_;
  size_t mask_ = 0, size_ = 0;
};

class BpeModel {
 public:
  // `id_to_token[id]` is the token string; empty strings are unused ids. When a string occurs
  // twice the lower id wins.
  BpeModel(std::vector<std::string> id_to_token, BpeOptions opts);

  // tokenizer.json "model" object of type BPE: its settings (unk_token, byte_fallback, ...)
  // from `settings`, with the vocabulary (id -> token) and merges ("a b") already read.
  static std::unique_ptr<BpeModel> from_parts(const nlohmann::json& settings, std::vector<std::string> id_to_token,
                                              const std::vector<std::string_view>& merges);
  // Merges written "left right" (tokenizer.json, GGUF tokenizer.ggml.merges), ranked in order.
  void add_merges(const std::vector<std::string_view>& merges);
  // SentencePiece BPE: merges from the scores of the `mergeable` pieces.
  void add_merges_from_scores(const std::vector<float>& scores, const std::vector<bool>& mergeable);

  // Appends the ids of one pre-token.
  void encode_word(std::string_view word, std::vector<int>& out) const;
  // The textbook algorithm (GPT-2's encoder.py bpe()): rescan every adjacent pair and merge the
  // best-ranked one until none is left, O(n^2) per word. The reference the fast path is tested
  // against, and the naive baseline of the tokenizer benchmark.
  void encode_word_reference(std::string_view word, std::vector<int>& out) const;

  int size() const { return static_cast<int>(id_to_token_.size()); }
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }
  const TokenMap& vocab() const { return vocab_; }
  int find(std::string_view token) const {
    auto it = vocab_.find(token);
    return it == vocab_.end() ? -1 : it->second;
  }

 private:
  using Merge = PairMap::Value;
  void add_merge(int left, int right, int rank, int merged);
  static constexpr size_t kShortWord = 16;
  // Merges the best-ranked (leftmost on ties) adjacent pair until none is left, for words of
  // at most kShortWord symbols.
  void merge_short_word(std::vector<int>& ids) const;
  // The initial symbols of a word: one per character, or its bytes, or unk.
  void initial_symbols(std::string_view word, std::vector<int>& ids) const;
  static uint64_t pair_key(int left, int right) { return (static_cast<uint64_t>(left) << 32) | static_cast<uint32_t>(right); }
  const Merge* find_merge(int left, int right) const { return merges_.find(pair_key(left, right)); }
  // Handles the empty word and ignore_merges (a word that is a token); true when done.
  bool whole_word(std::string_view word, std::vector<int>& out) const;

  TokenMap vocab_;
  std::vector<std::string> id_to_token_;
  PairMap merges_;             // (left id << 32 | right id) -> rank, merged id
  std::vector<int> char_ids_;  // id of each code point below U+10000 that is a token (-1 if not)
  BpeOptions opts_;
  int byte_ids_[256];
};

}  // namespace wick
