// Parses lexed template tokens into a syntax tree with jinja2's grammar and operator
// precedence (jinja2/parser.py): conditional expressions < or < and < not < comparisons
// (==, !=, <, <=, >, >=, in, not in) < + - < ~ < * / // % < ** < unary - + < postfix (.attr,
// [index], [a:b:c], calls) with filters (|f) and tests (is [not] t) binding tightest.
//
// Everything it does not support is an error here, at load time, never a wrong prompt later:
// unknown tags ({% include %}, {% extends %}, {% call %}, ...), unknown filters and tests,
// calls of functions that are neither globals nor macros of the template, and calls of methods
// no supported type has.
#pragma once

#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace wick::jinja {

Template parse(const std::vector<Token>& tokens);

}  // namespace wick::jinja
