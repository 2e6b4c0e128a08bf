// The pieces of a Hugging Face tokenizers pipeline, built from their tokenizer.json objects:
// normalizer -> pre-tokenizer -> model (bpe.h) -> post-processor, and the decoder.
// A component this module does not implement is an error at load time, naming it.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace wick {

// The pattern with each \p{X} widened by the code points Unicode 15.0-16.0 assigned to X, so
// PCRE2's Unicode 14.0 tables classify text as Hugging Face tokenizers' Oniguruma (Unicode 16.0)
// does. \Q..\E literals and negated properties inside a class are left as they are.
std::string widen_unicode_properties(const std::string& pattern);

// A compiled PCRE2 pattern (UTF + Unicode properties, JIT when available), properties widened
// to Unicode 16.0 (widen_unicode_properties).
class Regex {
 public:
  explicit Regex(const std::string& pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Byte ranges [begin, end) of the non-overlapping matches in s.
  std::vector<std::pair<size_t, size_t>> find_all(const std::string& s) const;

 private:
  void* code_ = nullptr;  // pcre2_code*
};

struct Normalizer {
  virtual ~Normalizer() = default;
  virtual void apply(std::string& s) const = 0;
};

// A piece of input during pre-tokenization; `first` marks the piece at the start of the text
// (Metaspace's prepend_scheme "first" and ByteLevel's prefix space apply only there).
struct PreToken {
  std::string text;
  bool first = false;
};

struct PreTokenizer {
  virtual ~PreTokenizer() = default;
  virtual void apply(std::vector<PreToken>& pieces) const = 0;
};

struct Decoder {
  virtual ~Decoder() = default;
  // Transforms the token strings in place (transformers decoders work on the token list).
  virtual void apply(std::vector<std::string>& tokens) const = 0;
};

// null JSON -> nullptr. Throws kUnsupported naming an unknown "type".
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace wick
