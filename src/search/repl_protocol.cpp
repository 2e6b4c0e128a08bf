#include "search/repl_protocol.h"

#include <stdexcept>

namespace wick::search {
namespace {

[[noreturn]] void malformed(const std::string& what, const json& j) {
  throw std::runtime_error("malformed REPL reply (" + what + "): " + j.dump().substr(0, 300));
}

int int_field(const json& j, const char* k) {
  auto it = j.find(k);
  if (it == j.end() || !it->is_number_integer()) malformed(std::string("'") + k + "' is not an integer", j);
  return it->get<int>();
}

std::vector<LeanMessage> messages_of(const json& j) {
  std::vector<LeanMessage> out;
  auto it = j.find("messages");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) malformed("'messages' is not a list", j);
  for (const auto& m : *it) {
    if (!m.is_object() || !m.contains("severity") || !m["severity"].is_string()) malformed("a message without severity", j);
    LeanMessage msg;
    msg.severity = m["severity"].get<std::string>();
    if (m.contains("data") && m["data"].is_string()) msg.data = m["data"].get<std::string>();
    if (m.contains("pos") && m["pos"].is_object()) {
      msg.line = m["pos"].value("line", 0);
      msg.column = m["pos"].value("column", 0);
    }
    out.push_back(std::move(msg));
  }
  return out;
}

std::vector<LeanSorry> sorries_of(const json& j) {
  std::vector<LeanSorry> out;
  auto it = j.find("sorries");
  if (it == j.end() || it->is_null()) return out;
  if (!it->is_array()) malformed("'sorries' is not a list", j);
  for (const auto& s : *it) {
    if (!s.is_object()) malformed("a sorry that is not an object", j);
    LeanSorry x;
    if (s.contains("proofState") && s["proofState"].is_number_integer()) x.proof_state = s["proofState"].get<int>();
    if (s.contains("goal") && s["goal"].is_string()) x.goal = s["goal"].get<std::string>();
    out.push_back(std::move(x));
  }
  return out;
}

bool any_error(const std::vector<LeanMessage>& ms) {
  for (const auto& m : ms)
    if (m.severity == "error") return true;
  return false;
}

std::string thrown(const json& j) {
  auto it = j.find("message");
  if (it != j.end() && it->is_string() && !j.contains("env") && !j.contains("proofState")) return it->get<std::string>();
  return "";
}

}  // namespace

bool CommandReply::has_errors() const { return !error.empty() || any_error(messages); }

bool CommandReply::mentions_sorry() const {
  if (!sorries.empty()) return true;
  for (const auto& m : messages)
    if (m.data.find("declaration uses") != std::string::npos && m.data.find("sorry") != std::string::npos) return true;
  return false;
}

bool TacticReply::has_errors() const { return !error.empty() || any_error(messages); }

CommandReply parse_command_reply(const json& j) {
  if (!j.is_object()) malformed("not an object", j);
  CommandReply r;
  r.error = thrown(j);
  if (!r.error.empty()) return r;
  r.env = int_field(j, "env");
  r.messages = messages_of(j);
  r.sorries = sorries_of(j);
  return r;
}

TacticReply parse_tactic_reply(const json& j) {
  if (!j.is_object()) malformed("not an object", j);
  TacticReply r;
  r.error = thrown(j);
  if (!r.error.empty()) return r;
  r.proof_state = int_field(j, "proofState");
  auto g = j.find("goals");
  if (g == j.end() || !g->is_array()) malformed("'goals' is not a list", j);
  for (const auto& x : *g) {
    if (!x.is_string()) malformed("a goal that is not a string", j);
    r.goals.push_back(x.get<std::string>());
  }
  r.messages = messages_of(j);
  r.sorries = sorries_of(j);
  auto st = j.find("proofStatus");
  if (st != j.end() && st->is_string()) r.proof_status = st->get<std::string>();
  return r;
}

bool usable_step(const TacticReply& r) { return !r.has_errors() && r.sorries.empty(); }

bool closes_proof(const TacticReply& r) {
  if (!usable_step(r) || !r.goals.empty()) return false;
  return !r.proof_status || *r.proof_status == "Completed";
}

bool proof_checks(const CommandReply& r) { return !r.has_errors() && !r.mentions_sorry() && r.env >= 0; }

std::string goals_text(const std::vector<std::string>& goals) {
  std::string out;
  for (size_t i = 0; i < goals.size(); ++i) out += (i ? "\n\n" : "") + goals[i];
  return out;
}

std::string command_request(const std::string& cmd, int env) {
  json j = {{"cmd", cmd}};
  if (env >= 0) j["env"] = env;
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

std::string tactic_request(const std::string& tactic, int proof_state) {
  return json{{"tactic", tactic}, {"proofState", proof_state}}.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

}  // namespace wick::search
