#include "wick/prompt_template.h"

namespace wick {
namespace {

// DeepSeek-Prover-V2 (and V1.5) read a theorem as a Lean 4 code block after this instruction and
// continue the code (github.com/deepseek-ai/DeepSeek-Prover-V2, README "Quick Start"; the model
// card's non-CoT format). For proof search the state is the Lean code so far, so the block is
// left open and the model's closing fence ends a completion.
constexpr const char* kDeepSeekProverV2 = "Complete the following Lean 4 code:\n\n```lean4\n{state}";

struct Preset {
  const char* name;
  const char* text;
  std::vector<std::string> stop;
};

const std::vector<Preset>& presets() {
  static const std::vector<Preset> p = {
      {"plain", "{state}", {}},
      {"deepseek-prover-v2", kDeepSeekProverV2, {"```"}},
  };
  return p;
}

}  // namespace

Result<PromptTemplate> PromptTemplate::from_string(const std::string& text) {
  int placeholders = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 7, "{state}") == 0) {
      ++placeholders;
      i += 6;
    } else if (text.compare(i, 2, "{{") == 0 || text.compare(i, 2, "}}") == 0) {
      ++i;
    } else if (text[i] == '{' || text[i] == '}') {
      return Error(ErrorCode::kInvalidArgument, "prompt template: unexpected '" + std::string(1, text[i]) + "' at byte " +
                                                    std::to_string(i) + " (write {{ or }} for a literal brace)");
    }
  }
  if (placeholders != 1)
    return Error(ErrorCode::kInvalidArgument, "prompt template must contain {state} exactly once, found " + std::to_string(placeholders));
  PromptTemplate t;
  t.name = "custom";
  t.text = text;
  return t;
}

Result<PromptTemplate> PromptTemplate::preset(const std::string& name) {
  for (const Preset& p : presets())
    if (name == p.name) {
      PromptTemplate t;
      t.name = p.name;
      t.text = p.text;
      t.stop = p.stop;
      return t;
    }
  std::string known;
  for (const auto& n : preset_names()) known += (known.empty() ? "" : ", ") + n;
  return Error(ErrorCode::kInvalidArgument, "unknown prompt template '" + name + "' (known: " + known + ")");
}

std::vector<std::string> PromptTemplate::preset_names() {
  std::vector<std::string> names;
  for (const Preset& p : presets()) names.push_back(p.name);
  return names;
}

std::string PromptTemplate::apply(const std::string& state) const {
  std::string out;
  out.reserve(text.size() + state.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text.compare(i, 7, "{state}") == 0) {
      out += state;
      i += 6;
    } else if (text.compare(i, 2, "{{") == 0 || text.compare(i, 2, "}}") == 0) {
      out += text[i];
      ++i;
    } else {
      out += text[i];
    }
  }
  return out;
}

}  // namespace wick
