// Embeddings from the same model that generates ("encode-only"): the transformer blocks and the
// final norm, no LM head, pooled per text. This is what transformers gives for
// AutoModel(...)(ids, attention_mask).last_hidden_state pooled over the attention mask.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "wick/engine.h"

namespace wick {

enum class Pooling {
  kMean,  // mean over the text's tokens (BOS included when the tokenizer adds it)
  kLast,  // the hidden state of the last token
};

struct EncodeParams {
  Pooling pooling = Pooling::kMean;
  bool normalize = false;          // L2-normalize each vector
  bool add_special_tokens = true;  // BOS per the tokenizer config
};

struct Embeddings {
  int dim = 0;                              // the model's hidden size
  std::vector<std::vector<float>> vectors;  // one per text, in order
  std::vector<int> token_counts;            // tokens per text
  double seconds = 0;
};

class Embedder {
 public:
  static Result<std::unique_ptr<Embedder>> create(std::shared_ptr<const Model> model, const EngineOptions& opts = {});
  ~Embedder();

  // Texts are packed into forward passes without padding: each attends only to its own tokens
  // (what padding + an attention mask computes, without the wasted work), so a text's vector is
  // the same in any batch as alone. A text that yields no tokens, is longer than the context,
  // or gives a zero or non-finite vector is an error naming it.
  Result<Embeddings> encode(const std::vector<std::string>& texts, const EncodeParams& params = {});
  Result<Embeddings> encode_tokens(const std::vector<std::vector<int>>& token_lists, const EncodeParams& params = {});

  Engine& engine();

 private:
  explicit Embedder(std::unique_ptr<Engine> engine);
  std::unique_ptr<Engine> engine_;
};

Result<Pooling> parse_pooling(const std::string& name);  // "mean" | "last"

}  // namespace wick
