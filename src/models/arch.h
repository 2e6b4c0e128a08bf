// An architecture family, declared as data: how its config.json is read, which tensors it has
// (canonical name -> Hugging Face name, shape derived from the config, optional/tied flags) and
// how those tensors map onto the canonical LayerWeights. One file per family defines one.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "formats/json_fields.h"
#include "models/weights.h"
#include "wick/model_config.h"

namespace wick {

enum WeightFlag : unsigned {
  kRequired = 0,
  kOptional = 1u << 0,  // may be absent (e.g. a bias the config does not call for)
  kPerLayer = 1u << 1,  // name patterns contain {L}, instantiated for every layer
};

// One row of a family's weight table, written with designated initializers:
//   {.canonical = "blk.{L}.attn_q", .hf_name = "model.layers.{L}.self_attn.q_proj.weight",
//    .shape = {Q, H}, .flags = kPerLayer}
struct WeightSpec {
  std::string canonical;  // e.g. "blk.{L}.attn_q"
  std::string hf_name;    // e.g. "model.layers.{L}.self_attn.q_proj.weight"
  std::vector<int64_t> shape;
  unsigned flags = kRequired;
  std::string tied_with = "";  // canonical name it shares storage with when tie_word_embeddings
  // Its GGUF name (llama.cpp's tensor names); "" = derived from the canonical name
  // ("blk.{L}.attn_q" -> "blk.{L}.attn_q.weight", "blk.{L}.attn_q.bias" unchanged).
  std::string gguf_name = "";
};

// The GGUF name of a tensor (see WeightSpec::gguf_name).
std::string gguf_tensor_name(const WeightSpec& s);

// llama.cpp's converter stores the q/k rows of "llama" files in its interleaved-rope order
// (convert_hf_to_gguf.py, LlamaModel.permute): per head of hd rows, GGUF row 2i + j holds
// transformers' row j*hd/2 + i (i < hd/2, j in {0, 1}). Copies n_rows rows of row_bytes from src
// to dst into GGUF order (to_gguf) or back into transformers' order. Works for any row-wise dtype.
void reorder_qk_rows(const uint8_t* src, uint8_t* dst, int64_t n_rows, uint64_t row_bytes, int n_heads, bool to_gguf);

// Loaded tensors by canonical name (layer index substituted).
using TensorMap = std::map<std::string, Tensor>;

// Shared pieces of the Llama-style tables, used by the family files. decoder_common_weights
// lists the tensors every family has (embeddings, norms, o_proj, down_proj, LM head).
std::vector<WeightSpec> decoder_common_weights(const ModelConfig& cfg);
std::vector<WeightSpec> llama_style_weight_table(const ModelConfig& cfg);
void bind_llama_style(const TensorMap& t, const ModelConfig& cfg, ModelWeights& w);
// Qwen2 / Qwen3 sliding windows: use_sliding_window, sliding_window, max_window_layers or
// layer_types (qwen2.cpp).
void parse_qwen_sliding_windows(const JsonFields& f, ModelConfig& cfg);

class GgufFile;

// One architecture family. Each family file (llama.cpp, qwen3.cpp, ...) defines one with
// designated initializers, and registered_archs() lists them all: that list alone drives the
// HF and GGUF loaders, the GGUF writer, wick-make-model and every "supported: ..." message.
struct ArchSpec {
  const char* model_type;                  // config.json model_type
  std::vector<const char*> architectures;  // config.json architectures (the first is what wick writes)
  // Reads the family's own config fields (and declares its layer shape: qk_norm, windows, ...)
  // after the common ones are parsed.
  void (*parse_config)(const JsonFields& f, ModelConfig& cfg);
  // The tensors this family stores, for a given config.
  std::vector<WeightSpec> (*weight_table)(const ModelConfig& cfg) = llama_style_weight_table;
  // Canonical tensors -> LayerWeights (e.g. splitting fused projections).
  void (*bind)(const TensorMap& t, const ModelConfig& cfg, ModelWeights& w) = bind_llama_style;
  // general.architecture of its GGUF files (llama.cpp's LLM_ARCH names; Mistral is "llama").
  // A GGUF architecture is read by the first registered family that writes it. nullptr: the
  // family is read from Hugging Face directories only (and cannot be written to GGUF).
  const char* gguf_arch;
  // llama.cpp's converter reorders the q/k rows of "llama" files for its interleaved (GPT-J)
  // rotary embedding; the loader undoes it and the writer redoes it. NEOX-rope families
  // (qwen2, qwen3, phi3) keep transformers' order.
  bool gguf_permutes_qk = false;
  // The family's GGUF quirks, after the common metadata is read: what its files imply (qwen3:
  // q/k norms) or must hold (qwen2: q/k/v biases). nullptr: none.
  void (*parse_gguf)(const GgufFile& g, ModelConfig& cfg) = nullptr;
  // The head size when config.json gives no head_dim (0: hidden_size / num_attention_heads).
  int default_head_dim = 0;
};

const ArchSpec& llama_arch();
const ArchSpec& mistral_arch();
const ArchSpec& qwen2_arch();
const ArchSpec& qwen3_arch();
const ArchSpec& phi3_arch();
const ArchSpec& gemma2_arch();
const ArchSpec& stablelm_arch();

// Every family wick runs, in lookup order.
const std::vector<const ArchSpec*>& registered_archs();
// "llama, mistral, qwen2, ..." (model types) and "llama, qwen2, ..." (GGUF architectures).
std::string supported_model_types();
std::string supported_gguf_archs();
// The family of a model_type; nullptr when none.
const ArchSpec* arch_by_model_type(const std::string& model_type);

// Finds the family for a config's model_type (or, failing that, its architectures list).
// Throws kUnsupported naming what was found and what is supported.
const ArchSpec& find_arch(const std::string& model_type, const std::vector<std::string>& architectures, const std::string& config_path);

// The family of a GGUF file's general.architecture. Throws kUnsupported naming the supported ones.
const ArchSpec& find_gguf_arch(const std::string& gguf_arch, const std::string& file);

std::string layer_name(const std::string& pattern, int layer);
// The family's table for `cfg` with the per-layer patterns expanded: one spec per tensor, layer
// numbers substituted into every name.
std::vector<WeightSpec> expand_weight_table(const ArchSpec& arch, const ModelConfig& cfg);
// The inverse of bind: the canonical tensor `canonical` (layer substituted) as the bound
// weights hold it, in row order: one part, or the parts of a fused projection (attn_qkv ->
// q, k, v; ffn_gate_up -> gate, up). Empty when the model has no such tensor.
std::vector<Tensor> canonical_tensor_parts(const ModelWeights& w, const std::string& canonical);

}  // namespace wick
