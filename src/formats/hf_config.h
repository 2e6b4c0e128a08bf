// config.json (+ generation_config.json) of a Hugging Face model directory -> ModelConfig.
// The fields shared by the Llama family are read here; each architecture's file adds its own
// (biases, sliding window) through its ArchSpec::parse_config hook.
#pragma once

#include <string>

#include "formats/json_fields.h"
#include "wick/model_config.h"

namespace wick {

// Reads the LlamaConfig fields common to every supported family, validating them.
// default_head_dim: the head size when config.json gives none (0: hidden_size / num_heads).
void parse_common_config(const JsonFields& f, ModelConfig& cfg, int default_head_dim = 0);
// rope_scaling (null or an object) -> cfg.rope.
void parse_rope_scaling(const JsonFields& f, ModelConfig& cfg);
// Overrides bos/eos from generation_config.json when the file exists.
void apply_generation_config(const std::string& path, ModelConfig& cfg);

}  // namespace wick
