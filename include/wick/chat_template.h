// Chat templates: the Jinja template in a model's tokenizer_config.json (or GGUF
// tokenizer.chat_template) that turns a conversation into the prompt text, rendered exactly as
// Hugging Face transformers' apply_chat_template renders it — jinja2's sandbox with
// trim_blocks, lstrip_blocks and loop controls, the globals raise_exception and strftime_now,
// namespace(), and a tojson that does not escape non-ASCII text.
//
// A template feature wick does not implement (an unknown tag, filter, test, function or method)
// is an error when the template is parsed, never a wrong prompt later.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "wick/error.h"
#include "wick/tokenizer.h"

namespace wick {

namespace jinja {
struct Template;
}

class ChatTemplate {
 public:
  static Result<std::shared_ptr<const ChatTemplate>> parse(const std::string& source);
  ~ChatTemplate();

  // Renders `context`: "messages" (a list of message objects), "add_generation_prompt",
  // "tools", "documents", "bos_token", "eos_token" and any other variables the template reads
  // (enable_thinking, date_string, ...), prepared as apply_chat_template prepares them: message
  // keys whose value is null are dropped, a message's reasoning ("reasoning_content", "thinking"
  // or "reasoning") is offered under both "reasoning_content" and "thinking", and tools /
  // documents default to None, add_generation_prompt to false. An error of the template itself
  // (raise_exception) has the template's message.
  Result<std::string> render(const nlohmann::ordered_json& context) const;

  const std::string& source() const { return source_; }

 private:
  ChatTemplate() = default;
  std::string source_;
  std::unique_ptr<jinja::Template> tpl_;
};

// The variables a model's tokenizer adds to every render (transformers passes its
// special_tokens_map): bos_token and eos_token as text, when the tokenizer has them.
nlohmann::ordered_json special_tokens_context(const Tokenizer& tokenizer);

}  // namespace wick
