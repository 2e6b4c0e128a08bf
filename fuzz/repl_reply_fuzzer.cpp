// libFuzzer target: arbitrary bytes as a Lean REPL reply (JSON) through both reply parsers and
// the rules on top of them, and as a theorems file. Any input must end in a parsed reply or a
// std::runtime_error naming what is malformed.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <unistd.h>

#include "search/repl_protocol.h"
#include "search/theorems.h"

using namespace wick::search;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const json j = json::parse(text, nullptr, false);
  if (!j.is_discarded()) {
    try {
      const CommandReply c = parse_command_reply(j);
      (void)proof_checks(c);
    } catch (const std::runtime_error&) {}
    try {
      const TacticReply t = parse_tactic_reply(j);
      (void)closes_proof(t);
      (void)goals_text(t.goals);
    } catch (const std::runtime_error&) {}
  }
  // The same bytes as a theorems file (JSONL or .lean by the first byte).
  char path[] = "/tmp/wick-fuzz-theoremsXXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return 0;
  const std::string file = std::string(path) + (size > 0 && data[0] % 2 ? ".lean" : ".jsonl");
  (void)!write(fd, data, size);
  close(fd);
  std::rename(path, file.c_str());
  try {
    for (const Theorem& t : load_theorems(file)) {
      (void)theorem_command(t, "");
      (void)proof_text(t, "", {"simp", "a\nb"});
    }
  } catch (const std::runtime_error&) {}
  std::remove(file.c_str());
  return 0;
}
