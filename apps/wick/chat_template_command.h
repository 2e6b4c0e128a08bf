// wick chat-template: renders a chat template for a conversation, exactly as transformers'
// apply_chat_template would, to stdout.
#pragma once

#include "cli_common.h"

namespace wick::cli {

struct ChatTemplateCommand {
  std::string model, template_file, context_file;
  CLI::App* add(CLI::App& app);
  int run() const;
};

}  // namespace wick::cli
