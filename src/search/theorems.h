// Theorems to prove: the DeepSeek-Prover / miniF2F JSONL format (one object per line: name,
// split, header, informal_prefix, formal_statement ending in `:= by`, goal), or a .lean file of
// `theorem ... := by sorry` declarations (its text before the first one is the header).
#pragma once

#include <string>
#include <vector>

namespace wick::search {

struct Theorem {
  std::string name;
  std::string split;
  std::string header;  // imports, opens, options
  std::string informal_prefix;
  std::string statement;  // the declaration up to and including `:= by`
  std::string goal;       // as given (informational)
};

// Throws std::runtime_error naming the file and line for malformed input.
std::vector<Theorem> load_theorems(const std::string& path);

// The REPL command that opens the proof: the statement with `sorry` as its tactic block, after
// `extra` (header lines the pool's header does not already hold).
std::string theorem_command(const Theorem& t, const std::string& extra);
// The whole proof, for the final check: the statement followed by the tactics, one per line
// (multi-line tactics indented as a block).
std::string proof_text(const Theorem& t, const std::string& extra, const std::vector<std::string>& tactics);
// The header lines of `t` that `pool_header` lacks; imports must all be in pool_header (the REPL
// only imports in a process's first command): an import it lacks throws.
std::string header_extra(const Theorem& t, const std::string& pool_header);

}  // namespace wick::search
