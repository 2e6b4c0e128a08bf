// Prompt templates: how a proof state (or any text) becomes the model's prompt. A template is a
// string with one `{state}` placeholder (`{{` and `}}` for literal braces), optionally with stop
// strings that end a completion in that format.
#pragma once

#include <string>
#include <vector>

#include "wick/error.h"

namespace wick {

struct PromptTemplate {
  std::string name;
  std::string text;               // contains {state}
  std::vector<std::string> stop;  // default stop strings for completions in this format

  // Checks the template: exactly one {state}, no other unescaped braces.
  static Result<PromptTemplate> from_string(const std::string& text);
  // Built-in presets by name (see preset_names()).
  static Result<PromptTemplate> preset(const std::string& name);
  static std::vector<std::string> preset_names();

  std::string apply(const std::string& state) const;
};

}  // namespace wick
