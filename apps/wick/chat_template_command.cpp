#include "chat_template_command.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "wick/chat_template.h"

namespace wick::cli {
namespace {

bool read_text(const std::string& path, std::string* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  *out = ss.str();
  return true;
}

}  // namespace

CLI::App* ChatTemplateCommand::add(CLI::App& app) {
  auto* c = app.add_subcommand("chat-template", "render a chat template for a conversation (as transformers' apply_chat_template)");
  auto* m = c->add_option("-m,--model", model, "model directory or GGUF file: its chat template, bos/eos tokens");
  c->add_option("--template", template_file, "a Jinja template file (overrides the model's)");
  c->add_option("--context", context_file, "JSON file: {messages, add_generation_prompt, tools, bos_token, eos_token, ...any variables}")
      ->required();
  c->footer("Writes exactly the rendered prompt to stdout (no newline added). A template error exits with status 1.");
  (void)m;
  return c;
}

int ChatTemplateCommand::run() const {
  if (model.empty() && template_file.empty()) {
    std::fprintf(stderr, "wick: error: give -m MODEL or --template FILE.jinja\n");
    return 2;
  }
  std::string ctx_text;
  if (!read_text(context_file, &ctx_text)) {
    std::fprintf(stderr, "wick: error: cannot read %s\n", context_file.c_str());
    return 2;
  }
  const auto ctx = nlohmann::ordered_json::parse(ctx_text, nullptr, false);
  if (ctx.is_discarded() || !ctx.is_object()) {
    std::fprintf(stderr, "wick: error: %s is not a JSON object\n", context_file.c_str());
    return 2;
  }
  std::string source;
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  if (!model.empty()) {
    int rc = 0;
    auto tok = tokenizer_from(model, "", &rc);
    if (!tok) return rc;
    vars = special_tokens_context(*tok);
    source = tok->chat_template();
  }
  if (!template_file.empty() && !read_text(template_file, &source)) {
    std::fprintf(stderr, "wick: error: cannot read %s\n", template_file.c_str());
    return 2;
  }
  if (source.empty()) {
    std::fprintf(stderr, "wick: error: %s has no chat template (give --template FILE.jinja)\n", model.c_str());
    return 1;
  }
  for (auto it = ctx.begin(); it != ctx.end(); ++it) vars[it.key()] = it.value();  // the context overrides bos/eos
  auto tpl = ChatTemplate::parse(source);
  if (!tpl) {
    std::fprintf(stderr, "wick: error: %s\n", tpl.error().what());
    return 1;
  }
  auto text = tpl.value()->render(vars);
  if (!text) {
    std::fprintf(stderr, "wick: error: %s\n", text.error().what());
    return 1;
  }
  std::fwrite(text->data(), 1, text->size(), stdout);
  return 0;
}

}  // namespace wick::cli
