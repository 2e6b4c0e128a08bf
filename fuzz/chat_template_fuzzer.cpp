// libFuzzer target: arbitrary bytes as a chat template, parsed and rendered for a small
// conversation. Any input must end in text or a clean wick::Error, within the render limits
// (no stack overflow on deep nesting, no unbounded loops or output).
#include <cstddef>
#include <cstdint>
#include <string>

#include "wick/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const nlohmann::ordered_json context = {
      {"messages",
       {{{"role", "system"}, {"content", "Be brief."}},
        {{"role", "user"}, {"content", "Hi é 😀"}},
        {{"role", "assistant"}, {"content", "<think>x</think>Hello"}}}},
      {"tools", {{{"type", "function"}, {"function", {{"name", "f"}, {"parameters", {{"type", "object"}}}}}}}},
      {"add_generation_prompt", true},
      {"bos_token", "<s>"},
      {"eos_token", "</s>"}};
  auto t = wick::ChatTemplate::parse(std::string(reinterpret_cast<const char*>(data), size));
  if (t) (void)t.value()->render(context);
  return 0;
}
