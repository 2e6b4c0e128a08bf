// A Hugging Face tokenizer.json -> the tokenizer.ggml.* metadata of a GGUF file, in the form
// llama.cpp's converter writes (convert_hf_to_gguf.py) and gguf_vocab.cpp reads back:
//   SentencePiece-style BPE (byte fallback, "▁" metaspace normalizer) -> model "llama" with
//     per-token scores: a piece's score is minus the rank of the first merge that makes it,
//     which is the order both sentencepiece and llama.cpp's SPM tokenizer merge in.
//   byte-level BPE -> model "gpt2" with the merges and the pre-tokenizer's llama.cpp name
//     (tokenizer.ggml.pre), recognised from the Split regexes.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace wick {

class GgufWriter;

// Writes the tokenizer of `tokenizer_json_path` (with tokenizer_config.json beside it) into `w`,
// padded with unused "[PAD<id>]" tokens up to `n_vocab` ids (the model's embedding rows; llama.cpp
// requires one token per row). Throws kUnsupported when the tokenizer has no GGUF form (e.g. an
// unrecognised pre-tokenizer).
void write_gguf_vocab(const std::string& tokenizer_json_path, GgufWriter& w, int n_vocab = 0);

// llama.cpp's name for a byte-level pre-tokenizer (gguf_vocab.cpp's table), if it is one of them.
std::optional<std::string> gguf_pre_tokenizer_name(const nlohmann::json& normalizer, const nlohmann::json& pre_tokenizer);

}  // namespace wick
