// The activation hook: every named intermediate of a forward pass ("embd", "blk.3.attn_out",
// "logits"; see models/transformer.h for the list), data [rows, cols] in float32.
#pragma once

#include <functional>

namespace wick {

using ActivationCallback = std::function<void(const char* name, const float* data, int rows, int cols)>;

}  // namespace wick
