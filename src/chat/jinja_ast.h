// The syntax tree of a Jinja template: expressions and statements, as jinja2's parser builds
// them (jinja2/nodes.py), limited to what chat templates use.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace wick::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Kwarg {
  std::string name;
  ExprPtr value;
};

struct Expr {
  enum class Kind {
    kLiteral,  // value
    kName,     // name
    kList,     // items
    kTuple,    // items
    kDict,     // keys[i]: items[i]
    kGetAttr,  // a.name
    kGetItem,  // a[b]
    kSlice,    // a[b:c:d] (any may be null)
    kCall,     // a(items, kwargs)
    kFilter,   // a | name(items, kwargs)
    kTest,     // a is [not] name(items)
    kNeg,
    kPos,
    kNot,     // a
    kBinary,  // a op b: + - * / // % ** ~
    kAnd,
    kOr,       // a and/or b (short circuit)
    kCompare,  // a op b op c ...: ops[i] between operands
    kCond,     // b if a else c
  };
  Kind kind;
  int line = 0;
  Value value;
  std::string name;  // name / attribute / filter / test / operator
  ExprPtr a, b, c, d;
  std::vector<ExprPtr> items;
  std::vector<ExprPtr> keys;
  std::vector<Kwarg> kwargs;
  std::vector<std::string> ops;  // kCompare
  bool negated = false;          // kTest

  Expr(Kind k, int l) : kind(k), line(l) {}
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: none
};

struct Stmt {
  enum class Kind {
    kText,      // text
    kOutput,    // {{ expr }}
    kIf,        // conditions[i] -> bodies[i]; else_body
    kFor,       // for targets in expr [if cond]: body; else_body
    kSet,       // set targets = expr, or set ns.attr = expr (attr non-empty)
    kSetBlock,  // {% set name %}body{% endset %}
    kMacro,     // macro name(params): body
    kBreak,
    kContinue,
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr, cond;
  std::vector<ExprPtr> conditions;
  std::vector<Body> bodies;
  Body body, else_body;
  std::vector<std::string> targets;
  std::string attr;
  std::string name;
  std::vector<MacroParam> params;

  Stmt(Kind k, int l) : kind(k), line(l) {}
};

struct Template {
  Body body;
};

}  // namespace wick::jinja
