// The Lean 4 REPL's protocol (leanprover-community/repl, `lake exe repl`): one JSON request per
// line followed by a blank line on stdin; each reply is a JSON object (pretty-printed over several
// lines) followed by a blank line on stdout.
//
//   command mode:  {"cmd": TEXT, "env"?: n}  ->  {"env", "messages"?, "sorries"?}
//   tactic mode:   {"tactic": TEXT, "proofState": n}  ->  {"proofState", "goals", "messages"?,
//                  "sorries"?, "proofStatus"?}
//   a thrown error: {"message": "Lean error:\n..."}
//
// and the rules a prover must apply to the replies: when a tactic is a usable step, when it
// closes the proof (never when an error was logged and patched with `sorry`), and when a whole
// proof checks.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace wick::search {

using json = nlohmann::json;

struct LeanMessage {
  std::string severity;  // "error", "warning", "info"
  std::string data;
  int line = 0, column = 0;
};

struct LeanSorry {
  int proof_state = -1;
  std::string goal;
};

struct CommandReply {
  std::string error;  // a thrown error ({"message": ...}); "" when the command ran
  int env = -1;
  std::vector<LeanMessage> messages;
  std::vector<LeanSorry> sorries;
  bool has_errors() const;
  bool mentions_sorry() const;  // a "declaration uses 'sorry'" warning or a sorry
};

struct TacticReply {
  std::string error;  // a thrown error
  int proof_state = -1;
  std::vector<std::string> goals;
  std::vector<LeanMessage> messages;
  std::vector<LeanSorry> sorries;
  std::optional<std::string> proof_status;  // "Completed", "Incomplete: ...", "Error: ..." (newer REPLs)
  bool has_errors() const;
};

// Throw std::runtime_error naming what is malformed (a reply that is not what the REPL sends).
CommandReply parse_command_reply(const json& j);
TacticReply parse_tactic_reply(const json& j);

// A tactic result the search may continue from: no thrown error, no error-severity message, no
// sorry (an error Lean logged and patched with `sorry` leaves goals that are not real).
bool usable_step(const TacticReply& r);
// The step closes the proof: usable, no goals left, and "Completed" when the REPL reports a
// status (an "Incomplete" with no goals — e.g. a sorry elsewhere — does not count).
bool closes_proof(const TacticReply& r);
// A whole proof, sent as one command in the header's environment, checks: no thrown error, no
// error message, no sorry (warning or entry).
bool proof_checks(const CommandReply& r);

// The goals as one text (the search's node identity): goals joined by a blank line.
std::string goals_text(const std::vector<std::string>& goals);

// Requests, framed: the JSON on one line, then a blank line.
std::string command_request(const std::string& cmd, int env);  // env < 0: a fresh environment
std::string tactic_request(const std::string& tactic, int proof_state);

}  // namespace wick::search
