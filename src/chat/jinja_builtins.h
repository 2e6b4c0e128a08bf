// The filters, tests, methods and attribute lookup of the Jinja interpreter, with the semantics
// of jinja2 3.1 (jinja2/filters.py, jinja2/tests.py, the sandbox's getattr/getitem) and of the
// Python str / dict / list methods that templates call, plus Hugging Face's tojson (json.dumps
// without ASCII or HTML escaping).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_value.h"

namespace wick::jinja {

// Arguments of a call, filter or test.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  // The argument at position i or named `name`; nullptr if neither was given.
  const Value* get(size_t i, const char* name) const;
  // Fails if more than `max_pos` positional arguments or a keyword outside `names` was given.
  void check(const char* what, size_t max_pos, std::initializer_list<const char*> names) const;
};

bool is_filter(const std::string& name);
bool is_test(const std::string& name);
bool is_method(const std::string& name);           // of str, dict or list (or loop.cycle)
bool is_global_function(const std::string& name);  // range, dict, namespace, raise_exception, strftime_now

Value apply_filter(const std::string& name, const Value& v, const Args& args);
bool apply_test(const std::string& name, const Value& v, const Args& args);
Value call_method(const Value& obj, const std::string& name, const Args& args);
Value call_global(const std::string& name, const Args& args);

// obj.name: a method of the value's type first, then a key (jinja2's getattr). Accessing an
// attribute of an undefined value fails; a missing attribute is undefined.
Value get_attr(const Value& obj, const std::string& name);
// obj[key]: the item first, then the attribute for string keys (jinja2's getitem).
Value get_item(const Value& obj, const Value& key);
// obj[start:stop:step] with Python's semantics (strings by code point).
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

}  // namespace wick::jinja
