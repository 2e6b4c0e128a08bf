// The generation-side commands: generate, candidates, score, embed.
#pragma once

#include "cli_common.h"

namespace wick::cli {

struct GenerateCommand {
  std::string model_dir, prompt;
  bool json = false, prompt_logprobs = false;
  EngineFlags engine;
  SamplingFlags sampling;
  TemplateFlags tmpl;
  CLI::App* add(CLI::App& app);
  int run() const;
};

struct CandidatesCommand {
  std::string model_dir, prompt;
  int k = 8;
  bool json = false;
  EngineFlags engine;
  SamplingFlags sampling;
  TemplateFlags tmpl;
  CLI::App* add(CLI::App& app);
  int run() const;
};

struct ScoreCommand {
  std::string model_dir, prompt, continuation;
  bool json = false, no_bos = false;
  EngineFlags engine;
  TemplateFlags tmpl;
  CLI::App* add(CLI::App& app);
  int run() const;
};

struct EmbedCommand {
  std::string model_dir, pooling = "mean";
  std::vector<std::string> texts;
  bool json = false, normalize = false, no_bos = false;
  EngineFlags engine;
  CLI::App* add(CLI::App& app);
  int run() const;
};

}  // namespace wick::cli
