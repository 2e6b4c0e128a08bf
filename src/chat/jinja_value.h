// Values of the Jinja interpreter, with Python's semantics: what jinja2 (the reference chat
// templates are rendered with) computes on Python objects — str() and repr() of None, bools,
// floats, lists and dicts; truthiness; == between ints and floats; insertion-ordered dicts;
// strings indexed by code point. Lists and dicts are shared by reference, as in Python.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "wick/error.h"

namespace wick::jinja {

class Value;

struct ListData {
  std::vector<Value> items;
  bool tuple = false;  // printed as (a, b); otherwise the same
};

// A Python dict with string keys, in insertion order.
struct DictData {
  std::vector<std::pair<std::string, Value>> items;
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value v);
};

struct Args;  // call arguments (jinja_builtins.h)
using Function = std::function<Value(Args&)>;

struct Undefined {
  std::string name;  // what was looked up, for error messages
};
struct None {};
struct NamespaceData {
  DictData attrs;
};

class Value {
 public:
  using List = std::shared_ptr<ListData>;
  using Dict = std::shared_ptr<DictData>;
  using Namespace = std::shared_ptr<NamespaceData>;
  using Func = std::shared_ptr<Function>;

  Value() : v_(Undefined{}) {}
  Value(Undefined u) : v_(std::move(u)) {}       // NOLINT
  Value(None) : v_(None{}) {}                    // NOLINT
  Value(bool b) : v_(b) {}                       // NOLINT
  Value(int64_t i) : v_(i) {}                    // NOLINT
  Value(int i) : v_(static_cast<int64_t>(i)) {}  // NOLINT
  Value(double d) : v_(d) {}                     // NOLINT
  Value(std::string s) : v_(std::move(s)) {}     // NOLINT
  Value(const char* s) : v_(std::string(s)) {}   // NOLINT
  Value(List l) : v_(std::move(l)) {}            // NOLINT
  Value(Dict d) : v_(std::move(d)) {}            // NOLINT
  Value(Namespace n) : v_(std::move(n)) {}       // NOLINT
  Value(Func f) : v_(std::move(f)) {}            // NOLINT

  static Value list(std::vector<Value> items = {}, bool tuple = false);
  static Value dict();
  static Value function(Function f);
  static Value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float() || is_bool(); }  // Python: bool is an int
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_list() const { return std::holds_alternative<List>(v_); }
  bool is_dict() const { return std::holds_alternative<Dict>(v_); }
  bool is_namespace() const { return std::holds_alternative<Namespace>(v_); }
  bool is_function() const { return std::holds_alternative<Func>(v_); }

  bool as_bool() const { return std::get<bool>(v_); }
  int64_t as_int() const;    // ints and bools
  double as_double() const;  // any number
  const std::string& str() const { return std::get<std::string>(v_); }
  const List& list_ptr() const { return std::get<List>(v_); }
  const std::vector<Value>& items() const { return std::get<List>(v_)->items; }
  const Dict& dict_ptr() const { return std::get<Dict>(v_); }
  const Namespace& ns() const { return std::get<Namespace>(v_); }
  const Function& func() const { return *std::get<Func>(v_); }
  const std::string& undefined_name() const { return std::get<Undefined>(v_).name; }

  const char* type_name() const;  // Python's: 'str', 'int', 'NoneType', 'list', 'dict', ...
  bool truthy() const;
  std::string to_str() const;  // str(v); an undefined value prints as ""
  std::string repr() const;    // repr(v)

 private:
  std::variant<Undefined, None, bool, int64_t, double, std::string, List, Dict, Namespace, Func> v_;
};

// A template error (bad input for the template, a type error while rendering).
[[noreturn]] void fail(const std::string& message);
// What the template's own raise_exception(message) throws: the message is the template's, as is.
class RaisedError : public Error {
 public:
  explicit RaisedError(std::string message) : Error(ErrorCode::kInvalidArgument, std::move(message)) {}
};

bool equals(const Value& a, const Value& b);               // Python ==
int compare(const Value& a, const Value& b);               // Python <, for numbers, strings and lists; else fails
bool contains(const Value& container, const Value& item);  // Python `in`

std::string python_float_repr(double d);  // repr(float): shortest round trip, Python's layout
// json.dumps(v, ensure_ascii=..., indent=..., separators=..., sort_keys=...).
struct JsonOptions {
  bool ensure_ascii = false;
  bool pretty = false;            // indent given: one item per line
  std::string indent_unit;        // per level: indent spaces, or the indent string
  std::string item_sep, key_sep;  // empty: Python's defaults (", " or "," when pretty; ": ")
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonOptions& opts);

// UTF-8 strings indexed by code point, as Python strings are.
std::vector<std::string> code_points(const std::string& s);
int64_t code_point_length(const std::string& s);

}  // namespace wick::jinja
