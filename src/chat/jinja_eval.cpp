#include "chat/jinja_eval.h"

#include <cmath>
#include <unordered_map>

#include "chat/jinja_builtins.h"
#include "chat/jinja_strings.h"

namespace wick::jinja {
namespace {

using K = Expr::Kind;

struct Scope {
  std::unordered_map<std::string, Value> vars;
  Scope* parent = nullptr;
  Value* find(const std::string& name) {
    for (Scope* s = this; s; s = s->parent) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return &it->second;
    }
    return nullptr;
  }
};

enum class Flow { kNormal, kBreak, kContinue };

[[noreturn]] void undefined_error(const Value& v) { fail(v.undefined_name().empty() ? "an undefined value was used" : v.undefined_name()); }

Value arith(const std::string& op, const Value& a, const Value& b) {
  if (a.is_undefined()) undefined_error(a);
  if (b.is_undefined()) undefined_error(b);
  const auto type_error = [&]() -> Value {
    fail("unsupported operand type(s) for " + op + ": '" + a.type_name() + "' and '" + b.type_name() + "'");
  };
  if (a.is_number() && b.is_number()) {
    const bool ints = !a.is_float() && !b.is_float();
    if (op == "+") return ints ? Value(a.as_int() + b.as_int()) : Value(a.as_double() + b.as_double());
    if (op == "-") return ints ? Value(a.as_int() - b.as_int()) : Value(a.as_double() - b.as_double());
    if (op == "*") return ints ? Value(a.as_int() * b.as_int()) : Value(a.as_double() * b.as_double());
    if (op == "/") {
      if (b.as_double() == 0) fail("division by zero");
      return Value(a.as_double() / b.as_double());
    }
    if (op == "//" || op == "%") {
      if (b.as_double() == 0) fail("integer division or modulo by zero");
      if (ints) {  // Python floors toward negative infinity; % takes the divisor's sign
        const int64_t x = a.as_int(), y = b.as_int();
        int64_t q = x / y, r = x % y;
        if (r != 0 && ((r < 0) != (y < 0))) --q, r += y;
        return op == "//" ? Value(q) : Value(r);
      }
      const double x = a.as_double(), y = b.as_double();
      const double q = std::floor(x / y);
      return op == "//" ? Value(q) : Value(x - q * y);
    }
    if (op == "**") {
      if (ints && b.as_int() >= 0) {
        int64_t r = 1;
        for (int64_t i = 0; i < b.as_int(); ++i) r *= a.as_int();
        return Value(r);
      }
      return Value(std::pow(a.as_double(), b.as_double()));
    }
  }
  if (op == "+") {
    if (a.is_string() && b.is_string()) return Value(a.str() + b.str());
    if (a.is_list() && b.is_list()) {
      std::vector<Value> items = a.items();
      items.insert(items.end(), b.items().begin(), b.items().end());
      return Value::list(std::move(items), a.list_ptr()->tuple && b.list_ptr()->tuple);
    }
    if (a.is_string()) fail(std::string("can only concatenate str (not \"") + b.type_name() + "\") to str");
    return type_error();
  }
  if (op == "*" && (a.is_string() || a.is_list()) && (b.is_int() || b.is_bool())) {
    const int64_t n = b.as_int();
    if (a.is_string()) {
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += a.str();
      return Value(out);
    }
    std::vector<Value> items;
    for (int64_t i = 0; i < n; ++i) items.insert(items.end(), a.items().begin(), a.items().end());
    return Value::list(std::move(items));
  }
  if (op == "%" && a.is_string()) return Value(percent_format(a.str(), b));
  return type_error();
}

class Interpreter {
 public:
  Interpreter(const DictData& context, const RenderLimits& limits) : limits_(limits) {
    for (const auto& [k, v] : context.items) root_.vars[k] = v;
  }

  std::string run(const Template& tpl) {
    std::string out;
    exec(tpl.body, root_, out);
    return out;
  }

 private:
  [[noreturn]] void error_at(int line, const std::string& what) const { fail("template line " + std::to_string(line) + ": " + what); }

  Flow exec(const Body& body, Scope& scope, std::string& out) {
    for (const auto& s : body) {
      const Flow f = exec_one(*s, scope, out);
      if (f != Flow::kNormal) return f;
      if (out.size() > limits_.max_output_bytes) error_at(s->line, "the rendered text exceeds the output limit");
    }
    return Flow::kNormal;
  }

  Flow exec_one(const Stmt& s, Scope& scope, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::kText: out += s.text; return Flow::kNormal;
      case Stmt::Kind::kOutput: out += eval(*s.expr, scope).to_str(); return Flow::kNormal;
      case Stmt::Kind::kIf:
        for (size_t i = 0; i < s.conditions.size(); ++i)
          if (eval(*s.conditions[i], scope).truthy()) return exec(s.bodies[i], scope, out);
        return exec(s.else_body, scope, out);
      case Stmt::Kind::kFor: return exec_for(s, scope, out);
      case Stmt::Kind::kSet: {
        Value v = eval(*s.expr, scope);
        if (!s.attr.empty()) {
          Value* ns = scope.find(s.targets[0]);
          if (!ns || !ns->is_namespace()) error_at(s.line, "cannot assign attribute on non-namespace object");
          if (s.attr[0] == '_') error_at(s.line, "Chat templates cannot store underscore-prefixed attributes on a namespace");
          ns->ns()->attrs.set(s.attr, std::move(v));
        } else {
          assign(s.targets, std::move(v), scope, s.line);
        }
        return Flow::kNormal;
      }
      case Stmt::Kind::kSetBlock: {
        std::string inner;
        exec(s.body, scope, inner);
        scope.vars[s.targets[0]] = Value(inner);
        return Flow::kNormal;
      }
      case Stmt::Kind::kMacro: {
        const Stmt* def = &s;
        scope.vars[s.name] = Value::function([this, def](Args& a) { return call_macro(*def, a); });
        return Flow::kNormal;
      }
      case Stmt::Kind::kBreak: return Flow::kBreak;
      case Stmt::Kind::kContinue: return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  void assign(const std::vector<std::string>& targets, Value v, Scope& scope, int line) {
    if (targets.size() == 1) {
      scope.vars[targets[0]] = std::move(v);
      return;
    }
    std::vector<Value> parts;
    if (v.is_list())
      parts = v.items();
    else if (v.is_string())
      for (auto& cp : code_points(v.str())) parts.emplace_back(std::move(cp));
    else
      error_at(line, std::string("cannot unpack non-iterable ") + v.type_name() + " object");
    if (parts.size() != targets.size())
      error_at(line, "cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(targets.size()) + " names");
    for (size_t i = 0; i < targets.size(); ++i) scope.vars[targets[i]] = parts[i];
  }

  Flow exec_for(const Stmt& s, Scope& scope, std::string& out) {
    const Value seq = eval(*s.expr, scope);
    std::vector<Value> items;
    if (seq.is_list())
      items = seq.items();
    else if (seq.is_undefined())
      items = {};
    else if (seq.is_dict())
      for (const auto& kv : seq.dict_ptr()->items) items.emplace_back(kv.first);
    else if (seq.is_string())
      for (auto& cp : code_points(seq.str())) items.emplace_back(std::move(cp));
    else
      error_at(s.line, std::string("'") + seq.type_name() + "' object is not iterable");
    if (s.cond) {  // `for x in xs if cond`: the loop sees only the items that pass
      std::vector<Value> kept;
      for (const Value& it : items) {
        Scope probe;
        probe.parent = &scope;
        assign(s.targets, it, probe, s.line);
        if (eval(*s.cond, probe).truthy()) kept.push_back(it);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(s.else_body, scope, out);
    const int64_t n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      if (++iterations_ > limits_.max_loop_iterations) error_at(s.line, "the template runs too many loop iterations");
      Scope iter;
      iter.parent = &scope;
      assign(s.targets, items[static_cast<size_t>(i)], iter, s.line);
      Value loop = Value::dict();
      DictData& d = *loop.dict_ptr();
      d.set("index", Value(i + 1));
      d.set("index0", Value(i));
      d.set("revindex", Value(n - i));
      d.set("revindex0", Value(n - i - 1));
      d.set("first", Value(i == 0));
      d.set("last", Value(i == n - 1));
      d.set("length", Value(n));
      d.set("depth", Value(int64_t{1}));
      d.set("depth0", Value(int64_t{0}));
      d.set("previtem", i > 0 ? items[static_cast<size_t>(i - 1)] : Value(Undefined{"there is no previous item"}));
      d.set("nextitem", i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value(Undefined{"there is no next item"}));
      d.set("cycle", Value::function([i](Args& a) {
              if (a.pos.empty()) fail("no items for cycling given");
              return a.pos[static_cast<size_t>(i) % a.pos.size()];
            }));
      iter.vars["loop"] = loop;
      if (exec(s.body, iter, out) == Flow::kBreak) break;
    }
    return Flow::kNormal;
  }

  Value call_macro(const Stmt& def, Args& a) {
    if (++depth_ > limits_.max_call_depth) {
      depth_ = 0;
      error_at(def.line, "macro calls nest too deeply (recursion?)");
    }
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    if (a.pos.size() > def.params.size())
      error_at(def.line, "macro '" + def.name + "' takes not more than " + std::to_string(def.params.size()) + " argument(s)");
    Scope scope;
    scope.parent = &root_;
    for (size_t i = 0; i < def.params.size(); ++i) {
      const MacroParam& p = def.params[i];
      if (i < a.pos.size()) {
        scope.vars[p.name] = a.pos[i];
        continue;
      }
      bool found = false;
      for (const auto& [k, v] : a.kw)
        if (k == p.name) {
          scope.vars[p.name] = v;
          found = true;
        }
      if (!found)
        scope.vars[p.name] =
            p.default_value ? eval(*p.default_value, scope) : Value(Undefined{"parameter '" + p.name + "' was not provided"});
    }
    for (const auto& [k, v] : a.kw) {
      bool known = false;
      for (const auto& p : def.params) known = known || p.name == k;
      if (!known) error_at(def.line, "macro '" + def.name + "' takes no keyword argument '" + k + "'");
    }
    std::string out;
    exec(def.body, scope, out);
    return Value(out);
  }

  Args eval_args(const Expr& e, Scope& scope) {
    Args a;
    for (const auto& x : e.items) a.pos.push_back(eval(*x, scope));
    for (const auto& k : e.kwargs) a.kw.emplace_back(k.name, eval(*k.value, scope));
    return a;
  }

  Value eval_call(const Expr& e, Scope& scope) {
    Args a = eval_args(e, scope);
    const Expr& callee = *e.a;
    if (callee.kind == K::kName) {
      if (Value* v = scope.find(callee.name)) {
        if (!v->is_function()) error_at(e.line, "'" + callee.name + "' is not callable");
        return v->func()(a);
      }
      if (is_global_function(callee.name)) return call_global(callee.name, a);
      error_at(e.line, "'" + callee.name + "' is undefined");
    }
    if (callee.kind == K::kGetAttr) {
      const Value obj = eval(*callee.a, scope);
      if (obj.is_dict() || obj.is_namespace()) {
        const Value v = get_attr(obj, callee.name);
        if (v.is_function()) return v.func()(a);
      }
      return call_method(obj, callee.name, a);
    }
    const Value f = eval(callee, scope);
    if (!f.is_function()) error_at(e.line, std::string("'") + f.type_name() + "' object is not callable");
    return f.func()(a);
  }

  Value eval(const Expr& e, Scope& scope) {
    try {
      return eval_inner(e, scope);
    } catch (const RaisedError&) {
      throw;
    } catch (const Error& err) {
      // Name the line once (the innermost expression that failed).
      const std::string what = err.what();
      if (what.rfind("template line ", 0) == 0) throw;
      throw Error(err.code(), "template line " + std::to_string(e.line) + ": " + what);
    }
  }

  Value eval_inner(const Expr& e, Scope& scope) {
    switch (e.kind) {
      case K::kLiteral: return e.value;
      case K::kName: {
        if (Value* v = scope.find(e.name)) return *v;
        if (is_global_function(e.name)) {
          const std::string name = e.name;
          return Value::function([name](Args& a) { return call_global(name, a); });
        }
        return Value(Undefined{"'" + e.name + "' is undefined"});
      }
      case K::kList:
      case K::kTuple: {
        std::vector<Value> items;
        for (const auto& x : e.items) items.push_back(eval(*x, scope));
        return Value::list(std::move(items), e.kind == K::kTuple);
      }
      case K::kDict: {
        Value d = Value::dict();
        for (size_t i = 0; i < e.items.size(); ++i) {
          const Value k = eval(*e.keys[i], scope);
          if (!k.is_string()) error_at(e.line, "dict keys must be strings in chat templates");
          d.dict_ptr()->set(k.str(), eval(*e.items[i], scope));
        }
        return d;
      }
      case K::kGetAttr: return get_attr(eval(*e.a, scope), e.name);
      case K::kGetItem: return get_item(eval(*e.a, scope), eval(*e.b, scope));
      case K::kSlice: {
        const Value obj = eval(*e.a, scope);
        const Value none = Value(None{});
        return get_slice(obj, e.b ? eval(*e.b, scope) : none, e.c ? eval(*e.c, scope) : none, e.d ? eval(*e.d, scope) : none);
      }
      case K::kCall: return eval_call(e, scope);
      case K::kFilter: {
        const Value v = eval(*e.a, scope);
        return apply_filter(e.name, v, eval_args(e, scope));
      }
      case K::kTest: {
        const Value v = eval(*e.a, scope);
        const bool r = apply_test(e.name, v, eval_args(e, scope));
        return Value(e.negated ? !r : r);
      }
      case K::kNot: return Value(!eval(*e.a, scope).truthy());
      case K::kNeg:
      case K::kPos: {
        const Value v = eval(*e.a, scope);
        if (v.is_undefined()) undefined_error(v);
        if (!v.is_number())
          error_at(e.line, std::string("bad operand type for unary ") + (e.kind == K::kNeg ? "-" : "+") + ": '" + v.type_name() + "'");
        if (e.kind == K::kPos) return v.is_bool() ? Value(v.as_int()) : v;
        return v.is_float() ? Value(-v.as_double()) : Value(-v.as_int());
      }
      case K::kAnd: {
        Value a = eval(*e.a, scope);
        return a.truthy() ? eval(*e.b, scope) : a;
      }
      case K::kOr: {
        Value a = eval(*e.a, scope);
        return a.truthy() ? a : eval(*e.b, scope);
      }
      case K::kCond: return eval(*e.a, scope).truthy() ? eval(*e.b, scope) : e.c ? eval(*e.c, scope) : Value(Undefined{});
      case K::kBinary: {
        const Value a = eval(*e.a, scope), b = eval(*e.b, scope);
        if (e.name == "~") return Value(a.to_str() + b.to_str());
        return arith(e.name, a, b);
      }
      case K::kCompare: {
        Value left = eval(*e.a, scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value right = eval(*e.items[i], scope);
          const std::string& op = e.ops[i];
          bool r;
          if (op == "==")
            r = equals(left, right);
          else if (op == "!=")
            r = !equals(left, right);
          else if (op == "in")
            r = contains(right, left);
          else if (op == "not in")
            r = !contains(right, left);
          else {
            if (left.is_undefined()) undefined_error(left);
            if (right.is_undefined()) undefined_error(right);
            const int c = compare(left, right);
            r = op == "<" ? c < 0 : op == "<=" ? c <= 0 : op == ">" ? c > 0 : c >= 0;
          }
          if (!r) return Value(false);
          left = std::move(right);
        }
        return Value(true);
      }
    }
    error_at(e.line, "unknown expression");
  }

  RenderLimits limits_;
  Scope root_;
  int depth_ = 0;
  int64_t iterations_ = 0;
};

}  // namespace

std::string render(const Template& tpl, const DictData& context, const RenderLimits& limits) {
  return Interpreter(context, limits).run(tpl);
}

}  // namespace wick::jinja
