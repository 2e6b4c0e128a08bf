// Text <-> token ids, reproducing the Hugging Face tokenizers pipeline exactly. Sources: a
// tokenizer.json (plus tokenizer_config.json beside it for BOS/EOS, add_bos_token and the chat
// template) or the tokenizer.ggml.* metadata of a GGUF file. Thread-safe: encode and decode
// are const and may run on several threads at once.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "wick/error.h"

namespace wick {

class GgufFile;

struct EncodeOptions {
  bool add_special_tokens = true;  // BOS/EOS per the tokenizer config / post-processor
  bool parse_special = true;       // false: special-token text in the input is plain text
};

class Tokenizer {
 public:
  // A tokenizer.json (with tokenizer_config.json beside it when present) or a GGUF file
  // (recognized by its magic bytes, whatever its name).
  static Result<std::shared_ptr<Tokenizer>> from_file(const std::string& path);
  static Result<std::shared_ptr<Tokenizer>> from_dir(const std::string& model_dir);
  static Result<std::shared_ptr<Tokenizer>> from_gguf(const GgufFile& gguf);
  ~Tokenizer();

  // Throws nothing: invalid UTF-8 input is an error value.
  Result<std::vector<int>> encode(std::string_view text, const EncodeOptions& opts = {}) const;
  std::string decode(const std::vector<int>& ids, bool skip_special = true) const;

  int vocab_size() const;
  std::string token_text(int id) const;  // the raw vocabulary string ("▁Once", "<0x0A>")
  std::optional<int> token_id(const std::string& token) const;
  bool is_special(int id) const;
  int bos_id() const;                        // -1 if none
  int eos_id() const;                        // -1 if none
  bool adds_bos() const;                     // encode(add_special_tokens=true) starts with BOS
  const std::string& chat_template() const;  // "" if the source has none
  const std::string& source() const;         // the file it was loaded from
  bool is_byte_token(int id) const;          // a <0xAB> byte-fallback token

  struct Impl;

 private:
  explicit Tokenizer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Incremental detokenization for streaming: feed ids one at a time and get back only text that
// is complete (never half a UTF-8 character). The concatenation of everything returned equals
// decode(all ids).
class StreamDecoder {
 public:
  StreamDecoder(const Tokenizer& tok, bool skip_special = true) : tok_(tok), skip_special_(skip_special) {}
  // Context that precedes the streamed ids (the prompt): their text is not returned, but the
  // streamed text continues it (e.g. keeps the space a SentencePiece "▁word" token carries,
  // which decoding the continuation alone would strip). Only the last few ids are kept.
  void prime(const std::vector<int>& context);
  std::string push(int id);
  std::string flush();  // whatever is left (e.g. a trailing incomplete byte sequence)

 private:
  static constexpr size_t kContext = 4;  // ids kept as context when the window is trimmed
  const Tokenizer& tok_;
  bool skip_special_;
  std::vector<int> ids_;
  size_t emitted_ = 0;  // bytes of decode(ids_) already returned (or primed)
};

}  // namespace wick
