#include "chat/jinja_parser.h"

#include <set>

#include "chat/jinja_builtins.h"

namespace wick::jinja {
namespace {

using K = Expr::Kind;
constexpr int kMaxDepth = 200;  // nesting of expressions and blocks (the parser recurses)

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  Template run() {
    Template tpl;
    std::string end;
    tpl.body = body({}, &end);
    validate(tpl.body);
    return tpl;
  }

 private:
  using TT = Token::Type;
  const Token& cur() const { return t_[i_]; }
  const Token& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  void next() {
    if (i_ + 1 < t_.size()) ++i_;
  }
  bool op(const char* o) const { return cur().type == TT::kOp && cur().value == o; }
  bool name(const char* n) const { return cur().type == TT::kName && cur().value == n; }
  [[noreturn]] void error(const std::string& what) const { fail("template line " + std::to_string(cur().line) + ": " + what); }
  void expect_op(const char* o) {
    if (!op(o)) error(std::string("expected '") + o + "'" + found());
    next();
  }
  std::string expect_name() {
    if (cur().type != TT::kName) error("expected a name" + found());
    std::string n = cur().value;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().type != TT::kBlockEnd) error("expected '%}'" + found());
    next();
  }
  std::string found() const {
    switch (cur().type) {
      case TT::kEnd: return ", found the end of the template";
      case TT::kBlockEnd: return ", found '%}'";
      case TT::kVarEnd: return ", found '}}'";
      default: return ", found '" + cur().value + "'";
    }
  }
  struct DepthGuard {
    int& d;
    DepthGuard(int& depth, const Parser& p) : d(depth) {
      if (++d > kMaxDepth) p.error("the template nests too deeply");
    }
    ~DepthGuard() { --d; }
  };

  // Statements until a block tag named in `ends` (left unconsumed after its '{%'; its name is
  // stored in *end) or the end of the template.
  Body body(const std::set<std::string>& ends, std::string* end) {
    DepthGuard g(depth_, *this);
    Body out;
    for (;;) {
      const Token& tk = cur();
      if (tk.type == TT::kEnd) {
        if (!ends.empty()) error("unexpected end of template: a block was not closed (expected " + *ends.begin() + ")");
        return out;
      }
      if (tk.type == TT::kText) {
        auto s = std::make_unique<Stmt>(Stmt::Kind::kText, tk.line);
        s->text = tk.value;
        out.push_back(std::move(s));
        next();
        continue;
      }
      if (tk.type == TT::kVarBegin) {
        next();
        auto s = std::make_unique<Stmt>(Stmt::Kind::kOutput, tk.line);
        s->expr = tuple(true);
        if (cur().type != TT::kVarEnd) error("expected '}}'" + found());
        next();
        out.push_back(std::move(s));
        continue;
      }
      if (tk.type != TT::kBlockBegin) error("unexpected token" + found());
      next();
      const std::string tag = cur().type == TT::kName ? cur().value : "";
      if (ends.count(tag)) {
        *end = tag;
        return out;
      }
      statement(tag, out);
    }
  }

  void statement(const std::string& tag, Body& out) {
    const int line = cur().line;
    if (tag == "if") {
      next();
      auto s = std::make_unique<Stmt>(Stmt::Kind::kIf, line);
      std::string end = "elif";
      while (end == "elif") {
        if (!s->conditions.empty()) next();  // the elif
        s->conditions.push_back(expression(true));
        expect_block_end();
        s->bodies.push_back(body({"elif", "else", "endif"}, &end));
      }
      if (end == "else") {
        next();
        expect_block_end();
        s->else_body = body({"endif"}, &end);
      }
      next();  // endif
      expect_block_end();
      out.push_back(std::move(s));
    } else if (tag == "for") {
      next();
      auto s = std::make_unique<Stmt>(Stmt::Kind::kFor, line);
      s->targets.push_back(expect_name());
      while (op(",")) {
        next();
        s->targets.push_back(expect_name());
      }
      if (!name("in")) error("expected 'in' in a for loop" + found());
      next();
      s->expr = tuple(false);
      if (name("if")) {
        next();
        s->cond = expression(true);
      }
      if (name("recursive")) error("recursive for loops are not supported");
      expect_block_end();
      std::string end;
      s->body = body_in_loop({"endfor", "else"}, &end);
      if (end == "else") {
        next();
        expect_block_end();
        s->else_body = body({"endfor"}, &end);
      }
      next();
      expect_block_end();
      out.push_back(std::move(s));
    } else if (tag == "set") {
      next();
      auto s = std::make_unique<Stmt>(Stmt::Kind::kSet, line);
      s->targets.push_back(expect_name());
      if (op(".")) {
        next();
        s->attr = expect_name();
      }
      while (op(",") && s->attr.empty()) {
        next();
        s->targets.push_back(expect_name());
      }
      if (op("=")) {
        next();
        s->expr = tuple(true);
        expect_block_end();
      } else {
        if (s->targets.size() != 1 || !s->attr.empty()) error("expected '=' in a set statement");
        if (op("|")) error("filtered {% set %} blocks are not supported");
        expect_block_end();
        s->kind = Stmt::Kind::kSetBlock;
        std::string end;
        s->body = body({"endset"}, &end);
        next();
        expect_block_end();
      }
      out.push_back(std::move(s));
    } else if (tag == "macro") {
      next();
      auto s = std::make_unique<Stmt>(Stmt::Kind::kMacro, line);
      s->name = expect_name();
      expect_op("(");
      while (!op(")")) {
        if (!s->params.empty()) expect_op(",");
        if (op(")")) break;
        MacroParam p;
        p.name = expect_name();
        if (op("=")) {
          next();
          p.default_value = expression(true);
        }
        s->params.push_back(std::move(p));
      }
      next();
      expect_block_end();
      std::string end;
      s->body = body({"endmacro"}, &end);
      next();
      if (cur().type == TT::kName) next();  // {% endmacro name %}
      expect_block_end();
      macros_.insert(s->name);
      out.push_back(std::move(s));
    } else if (tag == "break" || tag == "continue") {
      if (loops_ == 0) error("'" + tag + "' outside a for loop");
      next();
      expect_block_end();
      out.push_back(std::make_unique<Stmt>(tag == "break" ? Stmt::Kind::kBreak : Stmt::Kind::kContinue, line));
    } else if (tag == "generation") {
      // transformers' AssistantTracker: marks assistant text; renders its body unchanged.
      next();
      expect_block_end();
      std::string end;
      Body inner = body({"endgeneration"}, &end);
      next();
      expect_block_end();
      for (auto& st : inner) out.push_back(std::move(st));
    } else {
      error(tag.empty() ? "expected a tag name after '{%'" : "unsupported template tag '{% " + tag + " %}'");
    }
  }

  // The for-body parser needs to know it is inside a loop (for break/continue).
  Body body_in_loop(const std::set<std::string>& ends, std::string* end) {
    ++loops_;
    Body b = body(ends, end);
    --loops_;
    return b;
  }

  ExprPtr make(K k, int line) { return std::make_unique<Expr>(k, line); }

  ExprPtr tuple(bool with_cond, bool explicit_parens = false) {
    const int line = cur().line;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    for (;;) {
      if (!items.empty()) expect_op(",");
      if (cur().type == TT::kVarEnd || cur().type == TT::kBlockEnd || op(")") || (name("if") && !with_cond)) break;
      items.push_back(expression(with_cond));
      if (op(","))
        is_tuple = true;
      else
        break;
    }
    if (!is_tuple) {
      if (items.size() == 1) return std::move(items[0]);
      if (!explicit_parens) error("expected an expression" + found());
    }
    auto e = make(K::kTuple, line);
    e->items = std::move(items);
    return e;
  }

  ExprPtr expression(bool with_cond) {
    DepthGuard g(depth_, *this);
    if (!with_cond) return or_expr();
    ExprPtr e = or_expr();
    while (name("if")) {
      const int line = cur().line;
      next();
      auto c = make(K::kCond, line);
      c->a = or_expr();
      c->b = std::move(e);
      if (name("else")) {
        next();
        c->c = expression(true);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary_chain(K kind, const char* word, ExprPtr (Parser::*sub)()) {
    ExprPtr left = (this->*sub)();
    while (name(word)) {
      const int line = cur().line;
      next();
      auto e = make(kind, line);
      e->a = std::move(left);
      e->b = (this->*sub)();
      left = std::move(e);
    }
    return left;
  }
  ExprPtr or_expr() { return binary_chain(K::kOr, "or", &Parser::and_expr); }
  ExprPtr and_expr() { return binary_chain(K::kAnd, "and", &Parser::not_expr); }
  ExprPtr not_expr() {
    if (name("not")) {
      const int line = cur().line;
      next();
      auto e = make(K::kNot, line);
      DepthGuard g(depth_, *this);
      e->a = not_expr();
      return e;
    }
    return compare();
  }
  ExprPtr compare() {
    const int line = cur().line;
    ExprPtr first = math1();
    std::vector<std::string> ops;
    std::vector<ExprPtr> rest;
    for (;;) {
      if (cur().type == TT::kOp && (cur().value == "==" || cur().value == "!=" || cur().value == "<" || cur().value == "<=" ||
                                    cur().value == ">" || cur().value == ">=")) {
        ops.push_back(cur().value);
        next();
      } else if (name("in")) {
        ops.push_back("in");
        next();
      } else if (name("not") && peek().type == TT::kName && peek().value == "in") {
        ops.push_back("not in");
        next();
        next();
      } else {
        break;
      }
      rest.push_back(math1());
    }
    if (ops.empty()) return first;
    auto e = make(K::kCompare, line);
    e->a = std::move(first);
    e->items = std::move(rest);
    e->ops = std::move(ops);
    return e;
  }
  ExprPtr binary_ops(std::initializer_list<const char*> ops, ExprPtr (Parser::*sub)()) {
    ExprPtr left = (this->*sub)();
    for (;;) {
      const char* hit = nullptr;
      for (const char* o : ops)
        if (op(o)) hit = o;
      if (!hit) return left;
      const int line = cur().line;
      next();
      auto e = make(K::kBinary, line);
      e->name = hit;
      e->a = std::move(left);
      e->b = (this->*sub)();
      left = std::move(e);
    }
  }
  ExprPtr math1() { return binary_ops({"+", "-"}, &Parser::concat); }
  ExprPtr concat() { return binary_ops({"~"}, &Parser::math2); }
  ExprPtr math2() { return binary_ops({"*", "/", "//", "%"}, &Parser::power); }
  ExprPtr power() { return binary_ops({"**"}, &Parser::unary_with_filters); }
  ExprPtr unary_with_filters() { return unary(true); }

  ExprPtr unary(bool with_filter) {
    DepthGuard g(depth_, *this);
    const int line = cur().line;
    ExprPtr node;
    if (op("-") || op("+")) {
      const bool neg = op("-");
      next();
      node = make(neg ? K::kNeg : K::kPos, line);
      node->a = unary(false);
    } else {
      node = primary();
    }
    node = postfix(std::move(node));
    if (with_filter) node = filters(std::move(node));
    return node;
  }

  ExprPtr primary() {
    const Token& tk = cur();
    const int line = tk.line;
    if (tk.type == TT::kName) {
      auto e = make(K::kLiteral, line);
      if (tk.value == "true" || tk.value == "True")
        e->value = true;
      else if (tk.value == "false" || tk.value == "False")
        e->value = false;
      else if (tk.value == "none" || tk.value == "None")
        e->value = None{};
      else {
        e->kind = K::kName;
        e->name = tk.value;
      }
      next();
      return e;
    }
    if (tk.type == TT::kString || tk.type == TT::kInt || tk.type == TT::kFloat) {
      auto e = make(K::kLiteral, line);
      if (tk.type == TT::kString)
        e->value = tk.value;
      else if (tk.type == TT::kInt) {
        try {
          e->value = static_cast<int64_t>(std::stoll(tk.value));
        } catch (...) {
          error("integer literal out of range: " + tk.value);
        }
      } else {
        e->value = std::stod(tk.value);
      }
      next();
      return e;
    }
    if (op("(")) {
      next();
      ExprPtr e = tuple(true, true);
      expect_op(")");
      return e;
    }
    if (op("[")) {
      next();
      auto e = make(K::kList, line);
      while (!op("]")) {
        if (!e->items.empty()) expect_op(",");
        if (op("]")) break;
        e->items.push_back(expression(true));
      }
      next();
      return e;
    }
    if (op("{")) {
      next();
      auto e = make(K::kDict, line);
      while (!op("}")) {
        if (!e->items.empty()) expect_op(",");
        if (op("}")) break;
        e->keys.push_back(expression(true));
        expect_op(":");
        e->items.push_back(expression(true));
      }
      next();
      return e;
    }
    error("expected an expression" + found());
  }

  ExprPtr postfix(ExprPtr node) {
    for (;;) {
      const int line = cur().line;
      if (op(".")) {
        next();
        if (cur().type == TT::kName) {
          auto e = make(K::kGetAttr, line);
          e->name = cur().value;
          e->a = std::move(node);
          node = std::move(e);
          next();
        } else if (cur().type == TT::kInt) {
          auto e = make(K::kGetItem, line);
          e->a = std::move(node);
          e->b = make(K::kLiteral, line);
          e->b->value = static_cast<int64_t>(std::stoll(cur().value));
          node = std::move(e);
          next();
        } else {
          error("expected an attribute name after '.'" + found());
        }
      } else if (op("[")) {
        next();
        ExprPtr start, stop, step;
        bool slice = false;
        if (!op(":")) start = expression(true);
        if (op(":")) {
          slice = true;
          next();
          if (!op("]") && !op(":")) stop = expression(true);
          if (op(":")) {
            next();
            if (!op("]")) step = expression(true);
          }
        }
        expect_op("]");
        auto e = make(slice ? K::kSlice : K::kGetItem, line);
        e->a = std::move(node);
        if (slice) {
          e->b = std::move(start);
          e->c = std::move(stop);
          e->d = std::move(step);
        } else {
          if (!start) error("empty subscript");
          e->b = std::move(start);
        }
        node = std::move(e);
      } else if (op("(")) {
        node = call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // Call arguments: positional ones, then name=value ones.
  void call_args(std::vector<ExprPtr>& args, std::vector<Kwarg>& kwargs) {
    expect_op("(");
    while (!op(")")) {
      if (!args.empty() || !kwargs.empty()) expect_op(",");
      if (op(")")) break;
      if (op("*") || op("**")) error("*args and **kwargs in calls are not supported");
      if (cur().type == TT::kName && peek().type == TT::kOp && peek().value == "=") {
        Kwarg k;
        k.name = cur().value;
        next();
        next();
        k.value = expression(true);
        kwargs.push_back(std::move(k));
      } else {
        if (!kwargs.empty()) error("a positional argument follows keyword arguments");
        args.push_back(expression(true));
      }
    }
    next();
  }

  ExprPtr call(ExprPtr callee) {
    auto e = make(K::kCall, cur().line);
    e->a = std::move(callee);
    call_args(e->items, e->kwargs);
    return e;
  }

  ExprPtr filters(ExprPtr node) {
    for (;;) {
      const int line = cur().line;
      if (op("|")) {
        next();
        auto e = make(K::kFilter, line);
        e->name = expect_name();
        e->a = std::move(node);
        if (op("(")) call_args(e->items, e->kwargs);
        node = std::move(e);
      } else if (name("is")) {
        next();
        auto e = make(K::kTest, line);
        if (name("not")) {
          e->negated = true;
          next();
        }
        e->name = expect_name();
        e->a = std::move(node);
        if (op("(")) {
          call_args(e->items, e->kwargs);
        } else if ((cur().type == TT::kName || cur().type == TT::kString || cur().type == TT::kInt || cur().type == TT::kFloat || op("(") ||
                    op("[") || op("{")) &&
                   !name("else") && !name("or") && !name("and")) {
          if (name("is")) error("tests cannot be chained with 'is'");
          e->items.push_back(postfix(primary()));
        }
        node = std::move(e);
      } else if (op("(")) {
        node = call(std::move(node));
      } else {
        return node;
      }
    }
  }

  // Load-time checks of names that only the interpreter would otherwise find missing.
  void validate(const Body& b) {
    for (const auto& s : b) {
      for (const Expr* e : {s->expr.get(), s->cond.get()}) check(e);
      for (const auto& c : s->conditions) check(c.get());
      for (const auto& p : s->params) check(p.default_value.get());
      validate(s->body);
      validate(s->else_body);
      for (const auto& bb : s->bodies) validate(bb);
    }
  }
  void check(const Expr* e) {
    if (!e) return;
    if (e->kind == K::kFilter && !is_filter(e->name))
      fail("template line " + std::to_string(e->line) + ": unsupported filter '" + e->name + "'");
    if (e->kind == K::kTest && !is_test(e->name)) fail("template line " + std::to_string(e->line) + ": unsupported test '" + e->name + "'");
    if (e->kind == K::kCall) {
      if (e->a->kind == K::kName && !is_global_function(e->a->name) && !macros_.count(e->a->name))
        fail("template line " + std::to_string(e->line) + ": unsupported function '" + e->a->name + "'");
      if (e->a->kind == K::kGetAttr && !is_method(e->a->name))
        fail("template line " + std::to_string(e->line) + ": unsupported method '" + e->a->name + "()'");
    }
    for (const Expr* sub : {e->a.get(), e->b.get(), e->c.get(), e->d.get()}) check(sub);
    for (const auto& x : e->items) check(x.get());
    for (const auto& x : e->keys) check(x.get());
    for (const auto& k : e->kwargs) check(k.value.get());
  }

  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;
  int loops_ = 0;
  std::set<std::string> macros_;
};

}  // namespace

Template parse(const std::vector<Token>& tokens) { return Parser(tokens).run(); }

}  // namespace wick::jinja
