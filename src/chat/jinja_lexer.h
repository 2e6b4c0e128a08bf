// Splits a Jinja template into text and the tokens of its tags, applying the whitespace rules
// Hugging Face renders chat templates with (jinja2/lexer.py): trim_blocks (the first newline
// after a block or comment tag is dropped), lstrip_blocks (spaces and tabs from the start of a
// line up to a block or comment tag are dropped), "-" on a tag's side strips all whitespace on
// that side, "+" keeps it. Comments are dropped; {% raw %} blocks become text. Line endings of
// the source become "\n" and one trailing newline is dropped, as jinja2 does by default.
#pragma once

#include <string>
#include <vector>

namespace wick::jinja {

struct Token {
  enum class Type { kText, kVarBegin, kVarEnd, kBlockBegin, kBlockEnd, kName, kString, kInt, kFloat, kOp, kEnd };
  Type type;
  std::string value;  // text, name, decoded string literal, number literal, operator
  int line = 1;
};

struct LexOptions {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
};

// Throws wick::Error (kInvalidArgument) naming the line for unclosed tags, comments and strings.
std::vector<Token> lex(const std::string& source, const LexOptions& opts = {});

}  // namespace wick::jinja
