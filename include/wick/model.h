// Loading a model and running it: the public entry points of the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "wick/activation_callback.h"
#include "wick/error.h"
#include "wick/model_config.h"
#include "wick/tokenizer.h"

namespace wick {

struct LoadedModel;

struct ModelInfo {
  uint64_t n_params = 0;
  uint64_t weight_bytes = 0;
  std::vector<std::pair<std::string, uint64_t>> params_by_dtype;  // e.g. {"F32", 656384}
  std::string weights_description;                                // file or shard list
  uint64_t bytes_read_per_token = 0;                              // weights one decode step reads: every matrix and norm, one embedding row
};

struct LoadOptions {
  // Convert the weight matrices at load: "" (keep them as stored), "f32", "f16", "bf16",
  // "q8_0", "q4_0", "q4_k", "q6_k" (block-quantized; with 4-bit types the LM head is Q8_0).
  std::string dtype;
};

class Model {
 public:
  // A Hugging Face model directory: config.json, generation_config.json (optional),
  // tokenizer.json (+ tokenizer_config.json), model.safetensors or sharded safetensors;
  // or a GGUF file (version 2 or 3, llama / qwen2 / phi3, with its tokenizer.ggml.* vocab).
  static Result<std::shared_ptr<Model>> load(const std::string& dir, const LoadOptions& opts = {});
  ~Model();

  const ModelConfig& config() const;
  const Tokenizer& tokenizer() const;
  ModelInfo info() const;

 private:
  // The engine's way to the weights (runtime/model_internals.h); not part of the public API.
  friend const LoadedModel& loaded_model(const Model& model);
  Model() = default;
  std::unique_ptr<LoadedModel> loaded_;
  std::shared_ptr<Tokenizer> tokenizer_;
};

struct SessionOptions {
  std::string device = "auto";   // "cpu", "cuda[:N]", "auto" or "reference" (EngineOptions::device)
  int n_threads = 0;             // 0: all cores
  int context_length = 0;        // 0: the model's maximum (max_position_embeddings), capped at 8192
  int batch_tokens = 256;        // tokens per forward call during prefill (longer prompts run in chunks)
  bool all_logits = false;       // keep the logits of every prompt token (for scoring)
  std::string kv_dtype = "f32";  // KV cache storage: "f32" or "f16" (EngineOptions::kv_dtype)
  int kv_block_size = 16;        // tokens per KV block (EngineOptions::kv_block_size)
};

// One sequence's state: KV cache, activations and the backend, all allocated up front.
class Session {
 public:
  static Result<std::unique_ptr<Session>> create(std::shared_ptr<const Model> model, const SessionOptions& opts = {});
  ~Session();

  // Appends tokens to the sequence and returns the logits of the last one ([vocab]), or of every
  // token of the last chunk ([n, vocab]) with all_logits.
  Result<const float*> append(const int* tokens, int n);
  Result<const float*> append(const std::vector<int>& tokens) { return append(tokens.data(), static_cast<int>(tokens.size())); }
  void reset();  // empties the sequence (keeps the allocations)
  // Keeps the first `length` tokens (0 <= length <= position()): the next append continues
  // from there, as if the later tokens had never been appended. Returns length.
  Result<int> truncate(int length);
  int position() const;
  int context_length() const;
  void set_activation_hook(ActivationCallback hook);
  const Model& model() const;
  std::string backend_name() const;

  struct Impl;

 private:
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace wick
