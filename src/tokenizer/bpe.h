// The BPE model of tokenizers (tokenizers/src/models/bpe): vocab, ranked merges, byte
// fallback, unknown token, continuing_subword_prefix / end_of_word_suffix, ignore_merges.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <unordered_map>
#include <vector>

namespace wick {

class BpeModel {
 public:
  explicit BpeModel(const nlohmann::json& model);

  // Appends the ids of one pre-token.
  void encode_word(const std::string& word, std::vector<int>& out) const;

  int size() const { return static_cast<int>(id_to_token_.size()); }
  const std::vector<std::string>& id_to_token() const { return id_to_token_; }
  const std::unordered_map<std::string, int>& vocab() const { return vocab_; }

 private:
  std::unordered_map<std::string, int> vocab_;
  std::vector<std::string> id_to_token_;
  struct Merge { int rank; int id; };
  std::unordered_map<uint64_t, Merge> merges_;  // (left id << 32 | right id) -> rank, merged id
  int unk_id_ = -1;
  bool byte_fallback_ = false;
  bool fuse_unk_ = false;
  bool ignore_merges_ = false;
  std::string prefix_, suffix_;
  int byte_ids_[256];
};

}  // namespace wick
