#include "wick/chat_template.h"

#include "chat/jinja_eval.h"
#include "chat/jinja_parser.h"

namespace wick {

using json = nlohmann::ordered_json;

ChatTemplate::~ChatTemplate() = default;

Result<std::shared_ptr<const ChatTemplate>> ChatTemplate::parse(const std::string& source) {
  return capture_errors([&] {
    auto t = std::shared_ptr<ChatTemplate>(new ChatTemplate());
    t->source_ = source;
    try {
      t->tpl_ = std::make_unique<jinja::Template>(jinja::parse(jinja::lex(source)));
    } catch (const Error& e) {
      throw Error(ErrorCode::kUnsupported, std::string("chat template: ") + e.what());
    }
    return std::shared_ptr<const ChatTemplate>(std::move(t));
  });
}

namespace {

// transformers' _normalize_chat_messages and _alias_reasoning_fields (chat_template_utils.py).
json prepare_message(const json& m) {
  if (!m.is_object()) throw Error(ErrorCode::kInvalidArgument, "chat messages must be objects, got " + std::string(m.type_name()));
  json out = json::object();
  for (auto it = m.begin(); it != m.end(); ++it)
    if (!it.value().is_null()) out[it.key()] = it.value();
  const json* reasoning = nullptr;
  for (const char* k : {"reasoning_content", "thinking", "reasoning"})
    if (out.contains(k)) {
      reasoning = &out[k];
      break;
    }
  if (!reasoning) return out;
  const json r = *reasoning;
  json aliased = json::object();
  aliased["thinking"] = r;
  for (auto it = out.begin(); it != out.end(); ++it) aliased[it.key()] = it.value();
  aliased["reasoning_content"] = r;
  return aliased;
}

}  // namespace

Result<std::string> ChatTemplate::render(const json& context) const {
  return capture_errors([&] {
    if (!context.is_object()) throw Error(ErrorCode::kInvalidArgument, "the template context must be a JSON object");
    jinja::DictData vars;
    for (auto it = context.begin(); it != context.end(); ++it) {
      if (it.key() == "messages") {
        if (!it.value().is_array()) throw Error(ErrorCode::kInvalidArgument, "\"messages\" must be a list");
        json msgs = json::array();
        for (const auto& m : it.value()) msgs.push_back(prepare_message(m));
        vars.set("messages", jinja::Value::from_json(msgs));
      } else {
        vars.set(it.key(), jinja::Value::from_json(it.value()));
      }
    }
    for (const char* k : {"tools", "documents"})
      if (!vars.find(k)) vars.set(k, jinja::None{});
    if (!vars.find("add_generation_prompt")) vars.set("add_generation_prompt", false);
    return jinja::render(*tpl_, vars);
  });
}

json special_tokens_context(const Tokenizer& tok) {
  json j = json::object();
  if (tok.bos_id() >= 0) j["bos_token"] = tok.token_text(tok.bos_id());
  if (tok.eos_id() >= 0) j["eos_token"] = tok.token_text(tok.eos_id());
  return j;
}

}  // namespace wick
