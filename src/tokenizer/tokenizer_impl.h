// The tokenizer's internal state, shared by its two sources (tokenizer_json.cpp,
// gguf_vocab.cpp): both fill one Tokenizer::Impl, so there is one tokenizer, not two.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tokenizer/added_vocabulary.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pipeline.h"
#include "wick/tokenizer.h"

namespace wick {

class GgufFile;

struct Tokenizer::Impl {
  std::string source;  // the file it came from, for messages
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  std::vector<AddedToken> added;
  std::vector<int> prefix_ids, suffix_ids;  // put around a sequence when add_special_tokens
  int bos = -1, eos = -1;
  std::string chat_template;
  bool reference_bpe = false;  // use BpeModel::encode_word_reference (benchmark baseline)

  // Built by finish():
  std::vector<std::string> id_to_token;  // model vocab plus added tokens
  std::vector<uint8_t> special;
  std::vector<uint8_t> byte_token;  // <0xAB> tokens (byte fallback), for the stream decoder
  // [normalized][parse_special]: matchers over raw (0) / normalized (1) text, without (0) or
  // with (1) the special tokens.
  AddedTokenMatcher matchers[2][2];

  // Validates ids and builds the lookup structures. Throws kCorruptFile naming `source`.
  void finish();
  std::optional<int> lookup(const std::string& token) const;
  void encode(std::string_view text, const EncodeOptions& opts, std::vector<int>& out) const;

 private:
  void encode_normalized(std::string_view text, size_t offset, const EncodeOptions& opts, std::vector<int>& out) const;
};

// Sources. Both throw wick::Error naming the file.
std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::string& path);
std::unique_ptr<Tokenizer::Impl> load_gguf_tokenizer(const GgufFile& gguf);

}  // namespace wick
