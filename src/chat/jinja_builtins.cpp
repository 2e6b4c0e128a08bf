#include "chat/jinja_builtins.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <ctime>
#include <set>

#include "chat/jinja_strings.h"

namespace wick::jinja {

const Value* Args::get(size_t i, const char* name) const {
  if (i < pos.size()) return &pos[i];
  for (const auto& [k, v] : kw)
    if (k == name) return &v;
  return nullptr;
}

void Args::check(const char* what, size_t max_pos, std::initializer_list<const char*> names) const {
  if (pos.size() > max_pos) fail(std::string(what) + "() takes at most " + std::to_string(max_pos) + " positional arguments");
  for (const auto& [k, v] : kw) {
    bool known = false;
    for (const char* n : names) known = known || k == n;
    if (!known) fail(std::string(what) + "() got an unexpected keyword argument '" + k + "'");
  }
}

namespace {

const std::set<std::string> kFilters = {"abs",        "attr",    "capitalize", "count",  "d",      "default", "dictsort",   "e",
                                        "escape",     "first",   "float",      "format", "indent", "int",     "items",      "join",
                                        "last",       "length",  "list",       "lower",  "map",    "max",     "min",        "reject",
                                        "rejectattr", "replace", "reverse",    "round",  "safe",   "select",  "selectattr", "sort",
                                        "string",     "sum",     "title",      "tojson", "trim",   "unique",  "upper",      "wordcount"};
const std::set<std::string> kTests = {
    "boolean", "callable", "defined",     "divisibleby", "eq",      "equalto",  "escaped",  "even",     "false", "float",
    "ge",      "gt",       "greaterthan", "in",          "integer", "iterable", "le",       "lessthan", "lower", "lt",
    "mapping", "ne",       "none",        "number",      "odd",     "sameas",   "sequence", "string",   "true",  "undefined",
    "upper",   "==",       "!=",          "<",           "<=",      ">",        ">="};
const std::set<std::string> kStrMethods = {
    "strip",   "lstrip",  "rstrip",     "split",    "rsplit",  "splitlines", "startswith", "endswith",  "replace",      "upper",
    "lower",   "title",   "capitalize", "swapcase", "find",    "rfind",      "index",      "rindex",    "count",        "join",
    "isdigit", "isalpha", "isalnum",    "isspace",  "islower", "isupper",    "isnumeric",  "isdecimal", "removeprefix", "removesuffix",
    "format",  "center",  "ljust",      "rjust",    "zfill",   "partition",  "rpartition"};
const std::set<std::string> kDictMethods = {"items", "keys", "values", "get", "copy"};
const std::set<std::string> kListMethods = {"index", "count", "copy"};
// Methods the sandbox refuses (they modify a value): a call fails when it runs, as in
// transformers (jinja2's ImmutableSandboxedEnvironment raises SecurityError).
const std::set<std::string> kUnsafeMethods = {"append", "extend",  "insert", "pop",     "remove",    "clear",
                                              "sort",   "reverse", "update", "popitem", "setdefault"};
const std::set<std::string> kGlobals = {"range", "dict", "namespace", "raise_exception", "strftime_now"};

int64_t int_arg(const Value* v, int64_t fallback, const char* what) {
  if (!v || v->is_none()) return fallback;
  if (!v->is_int() && !v->is_bool()) fail(std::string(what) + ": expected an integer, got " + v->type_name());
  return v->as_int();
}
bool bool_arg(const Value* v, bool fallback) { return v ? v->truthy() : fallback; }
std::string str_arg(const Value* v, const std::string& fallback, const char* what) {
  if (!v || v->is_none()) return fallback;
  if (!v->is_string()) fail(std::string(what) + ": expected a string, got " + v->type_name());
  return v->str();
}

// Python's iteration: characters of a str, keys of a dict, items of a list; an undefined value
// is empty (jinja2's Undefined iterates as nothing).
std::vector<Value> iterate(const Value& v) {
  if (v.is_list()) return v.items();
  if (v.is_undefined()) return {};
  if (v.is_string()) {
    std::vector<Value> out;
    for (auto& cp : code_points(v.str())) out.emplace_back(std::move(cp));
    return out;
  }
  if (v.is_dict()) {
    std::vector<Value> out;
    for (const auto& kv : v.dict_ptr()->items) out.emplace_back(kv.first);
    return out;
  }
  fail(std::string("'") + v.type_name() + "' object is not iterable");
}

int64_t length(const Value& v) {
  if (v.is_string()) return code_point_length(v.str());
  if (v.is_list()) return static_cast<int64_t>(v.items().size());
  if (v.is_dict()) return static_cast<int64_t>(v.dict_ptr()->items.size());
  if (v.is_undefined()) return 0;
  fail(std::string("object of type '") + v.type_name() + "' has no len()");
}

// jinja2's attribute getter for map/select/sort(attribute=...): dotted names, item first.
Value attribute_of(const Value& item, const std::string& path) {
  Value v = item;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    const std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    v = numeric ? get_item(v, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(v, Value(part));
    if (dot == std::string::npos) return v;
    start = dot + 1;
  }
}

// Sort keys as jinja2 builds them: strings lower-cased unless case_sensitive.
Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(lower(v.str()));
  return v;
}

Value filter_select(const Value& v, const Args& a, bool select, bool by_attr) {
  const size_t first = by_attr ? 1 : 0;
  std::string attr;
  if (by_attr) {
    if (a.pos.empty() || !a.pos[0].is_string()) fail("selectattr/rejectattr need an attribute name");
    attr = a.pos[0].str();
  }
  std::string test;
  Args targs;
  if (a.pos.size() > first) {
    if (!a.pos[first].is_string()) fail("select/reject: the test name must be a string");
    test = a.pos[first].str();
    if (!is_test(test)) fail("no test named '" + test + "'");
    targs.pos.assign(a.pos.begin() + static_cast<std::ptrdiff_t>(first) + 1, a.pos.end());
  }
  std::vector<Value> out;
  for (const Value& item : iterate(v)) {
    const Value subject = by_attr ? attribute_of(item, attr) : item;
    const bool pass = test.empty() ? subject.truthy() : apply_test(test, subject, targs);
    if (pass == select) out.push_back(item);
  }
  return Value::list(std::move(out));
}

Value filter_map(const Value& v, const Args& a) {
  std::vector<Value> out;
  if (const Value* attr = a.get(99, "attribute")) {
    const Value* dflt = a.get(99, "default");
    for (const Value& item : iterate(v)) {
      Value x = attribute_of(item, attr->to_str());
      out.push_back(x.is_undefined() && dflt ? *dflt : x);
    }
    return Value::list(std::move(out));
  }
  if (a.pos.empty() || !a.pos[0].is_string()) fail("map: expected a filter name or attribute=");
  const std::string f = a.pos[0].str();
  if (!is_filter(f)) fail("no filter named '" + f + "'");
  Args fargs;
  fargs.pos.assign(a.pos.begin() + 1, a.pos.end());
  fargs.kw = a.kw;
  for (const Value& item : iterate(v)) out.push_back(apply_filter(f, item, fargs));
  return Value::list(std::move(out));
}

std::vector<Value> sorted(const Value& v, const Args& a, size_t attr_pos) {
  const bool reverse = bool_arg(a.get(0, "reverse"), false), cs = bool_arg(a.get(1, "case_sensitive"), false);
  const Value* attr = a.get(attr_pos, "attribute");
  std::vector<Value> items = iterate(v);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    const Value kx = sort_key(attr ? attribute_of(x, attr->to_str()) : x, cs);
    const Value ky = sort_key(attr ? attribute_of(y, attr->to_str()) : y, cs);
    return reverse ? compare(ky, kx) < 0 : compare(kx, ky) < 0;
  });
  return items;
}

Value filter_tojson(const Value& v, const Args& a) {
  a.check("tojson", 5, {"ensure_ascii", "indent", "separators", "sort_keys"});
  JsonOptions o;
  o.ensure_ascii = bool_arg(a.get(0, "ensure_ascii"), false);
  if (const Value* ind = a.get(1, "indent"); ind && !ind->is_none()) {
    o.pretty = true;
    if (ind->is_string())
      o.indent_unit = ind->str();
    else
      o.indent_unit = std::string(static_cast<size_t>(std::max<int64_t>(0, int_arg(ind, 0, "tojson indent"))), ' ');
  }
  if (const Value* sep = a.get(2, "separators"); sep && !sep->is_none()) {
    if (!sep->is_list() || sep->items().size() != 2 || !sep->items()[0].is_string() || !sep->items()[1].is_string())
      fail("tojson: separators must be a pair of strings");
    o.item_sep = sep->items()[0].str();
    o.key_sep = sep->items()[1].str();
    if (o.item_sep.empty()) o.item_sep = std::string(1, '\0');  // an explicit empty separator
  }
  o.sort_keys = bool_arg(a.get(3, "sort_keys"), false);
  std::string s = to_json(v, o);
  if (!o.item_sep.empty() && o.item_sep[0] == '\0') s.erase(std::remove(s.begin(), s.end(), '\0'), s.end());
  return Value(s);
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string filter_indent(const std::string& s0, const Args& a) {
  const Value* w = a.get(0, "width");
  const std::string unit =
      w && w->is_string() ? w->str() : std::string(static_cast<size_t>(std::max<int64_t>(0, int_arg(w, 4, "indent"))), ' ');
  const bool first = bool_arg(a.get(1, "first"), false), blank = bool_arg(a.get(2, "blank"), false);
  std::vector<std::string> lines = split_lines(s0 + "\n");
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) rv += (i ? "\n" + unit : "") + lines[i];
  } else {
    rv = lines.empty() ? "" : lines[0];
    for (size_t i = 1; i < lines.size(); ++i) rv += "\n" + (lines[i].empty() ? "" : unit) + lines[i];
  }
  return first ? unit + rv : rv;
}

}  // namespace

bool is_filter(const std::string& name) { return kFilters.count(name) > 0; }
bool is_test(const std::string& name) { return kTests.count(name) > 0; }
bool is_method(const std::string& name) {
  return kStrMethods.count(name) || kDictMethods.count(name) || kListMethods.count(name) || kUnsafeMethods.count(name) || name == "cycle";
}
bool is_global_function(const std::string& name) { return kGlobals.count(name) > 0; }

Value apply_filter(const std::string& name, const Value& v, const Args& a) {
  if (name == "default" || name == "d") {
    const Value* dv = a.get(0, "default_value");
    const bool boolean = bool_arg(a.get(1, "boolean"), false);
    if (v.is_undefined() || (boolean && !v.truthy())) return dv ? *dv : Value(std::string());
    return v;
  }
  if (name == "length" || name == "count") return Value(length(v));
  if (name == "safe") return v;
  if (name == "tojson") return filter_tojson(v, a);
  if (name == "items") {
    if (v.is_undefined()) return Value::list();
    if (!v.is_dict()) fail("Can only get item pairs from a mapping.");
    std::vector<Value> out;
    for (const auto& [k, x] : v.dict_ptr()->items) out.push_back(Value::list({Value(k), x}, true));
    return Value::list(std::move(out));
  }
  if (name == "list") return Value::list(iterate(v));
  if (name == "first" || name == "last") {
    std::vector<Value> items = iterate(v);
    if (items.empty()) return Value(Undefined{"No " + name + " item, sequence was empty."});
    return name == "first" ? items.front() : items.back();
  }
  if (name == "join") {
    const std::string sep = str_arg(a.get(0, "d"), "", "join");
    const Value* attr = a.get(1, "attribute");
    std::string out;
    bool firsti = true;
    for (const Value& item : iterate(v)) {
      out += (firsti ? "" : sep) + (attr ? attribute_of(item, attr->to_str()) : item).to_str();
      firsti = false;
    }
    return Value(out);
  }
  if (name == "select" || name == "reject") return filter_select(v, a, name == "select", false);
  if (name == "selectattr" || name == "rejectattr") return filter_select(v, a, name == "selectattr", true);
  if (name == "map") return filter_map(v, a);
  if (name == "string") return Value(v.to_str());
  if (name == "e" || name == "escape") return Value(html_escape(v.to_str()));
  if (name == "attr") return get_attr(v, str_arg(a.get(0, "name"), "", "attr"));
  if (name == "sort") return Value::list(sorted(v, a, 2));
  if (name == "unique") {
    const bool cs = bool_arg(a.get(0, "case_sensitive"), false);
    const Value* attr = a.get(1, "attribute");
    std::vector<Value> out, keys;
    for (const Value& item : iterate(v)) {
      const Value k = sort_key(attr ? attribute_of(item, attr->to_str()) : item, cs);
      if (std::none_of(keys.begin(), keys.end(), [&](const Value& x) { return equals(x, k); })) {
        keys.push_back(k);
        out.push_back(item);
      }
    }
    return Value::list(std::move(out));
  }
  if (name == "min" || name == "max") {
    const bool cs = bool_arg(a.get(0, "case_sensitive"), false);
    const Value* attr = a.get(1, "attribute");
    std::vector<Value> items = iterate(v);
    if (items.empty()) return Value(Undefined{"No aggregated item, sequence was empty."});
    size_t best = 0;
    for (size_t i = 1; i < items.size(); ++i) {
      const Value ki = sort_key(attr ? attribute_of(items[i], attr->to_str()) : items[i], cs);
      const Value kb = sort_key(attr ? attribute_of(items[best], attr->to_str()) : items[best], cs);
      const int c = compare(ki, kb);
      if (name == "min" ? c < 0 : c > 0) best = i;
    }
    return items[best];
  }
  if (name == "sum") {
    const Value* attr = a.get(0, "attribute");
    Value total = a.get(1, "start") ? *a.get(1, "start") : Value(int64_t{0});
    for (const Value& item : iterate(v)) {
      const Value x = attr ? attribute_of(item, attr->to_str()) : item;
      if (!x.is_number() || !total.is_number()) fail("sum: unsupported operand types");
      if (x.is_float() || total.is_float())
        total = Value(total.as_double() + x.as_double());
      else
        total = Value(total.as_int() + x.as_int());
    }
    return total;
  }
  if (name == "dictsort") {
    if (!v.is_dict()) fail("dictsort: expected a mapping");
    const bool cs = bool_arg(a.get(0, "case_sensitive"), false);
    const std::string by = str_arg(a.get(1, "by"), "key", "dictsort");
    const bool reverse = bool_arg(a.get(2, "reverse"), false);
    std::vector<Value> pairs;
    for (const auto& [k, x] : v.dict_ptr()->items) pairs.push_back(Value::list({Value(k), x}, true));
    const size_t idx = by == "value" ? 1 : 0;
    std::stable_sort(pairs.begin(), pairs.end(), [&](const Value& p, const Value& q) {
      const int c = compare(sort_key(p.items()[idx], cs), sort_key(q.items()[idx], cs));
      return reverse ? c > 0 : c < 0;
    });
    return Value::list(std::move(pairs));
  }
  if (name == "reverse") {
    if (v.is_string()) {
      std::vector<std::string> cps = code_points(v.str());
      std::string out;
      for (size_t i = cps.size(); i-- > 0;) out += cps[i];
      return Value(out);
    }
    std::vector<Value> items = iterate(v);
    std::reverse(items.begin(), items.end());
    return Value::list(std::move(items));
  }
  if (name == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    if (v.is_number()) return Value(std::abs(v.as_int()));
    fail(std::string("bad operand type for abs(): '") + v.type_name() + "'");
  }
  if (name == "int") {
    const int64_t dflt = int_arg(a.get(0, "default"), 0, "int");
    if (v.is_number()) return Value(v.is_float() ? static_cast<int64_t>(v.as_double()) : v.as_int());
    if (v.is_string()) {
      const std::string s = strip(v.str(), "", true, true);
      char* end = nullptr;
      const long long i = std::strtoll(s.c_str(), &end, 10);
      if (!s.empty() && end && *end == '\0') return Value(static_cast<int64_t>(i));
      const double d = std::strtod(s.c_str(), &end);
      if (!s.empty() && end && *end == '\0') return Value(static_cast<int64_t>(d));
    }
    return Value(dflt);
  }
  if (name == "float") {
    const Value* d = a.get(0, "default");
    if (v.is_number()) return Value(v.as_double());
    if (v.is_string()) {
      const std::string s = strip(v.str(), "", true, true);
      char* end = nullptr;
      const double x = std::strtod(s.c_str(), &end);
      if (!s.empty() && end && *end == '\0') return Value(x);
    }
    return d ? Value(d->as_double()) : Value(0.0);
  }
  if (name == "round") {
    const int64_t prec = int_arg(a.get(0, "precision"), 0, "round");
    const std::string method = str_arg(a.get(1, "method"), "common", "round");
    const double scale = std::pow(10.0, static_cast<double>(prec)), x = v.as_double() * scale;
    double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);  // Python rounds half to even
    return Value(r / scale);
  }
  if (name == "format") return Value(percent_format(v.to_str(), a.pos.size() == 1 ? a.pos[0] : Value::list(a.pos, true)));
  if (name == "indent") return Value(filter_indent(v.to_str(), a));
  if (name == "wordcount") return Value(static_cast<int64_t>(count_words(v.to_str())));
  // String filters.
  const std::string s = v.to_str();
  if (name == "lower") return Value(lower(s));
  if (name == "upper") return Value(upper(s));
  if (name == "capitalize") return Value(capitalize(s));
  if (name == "title") return Value(jinja_title(s));
  if (name == "trim") return Value(strip(s, str_arg(a.get(0, "chars"), "", "trim"), true, true));
  if (name == "replace") {
    const int64_t count = int_arg(a.get(2, "count"), -1, "replace");
    return Value(replace(s, str_arg(a.get(0, "old"), "", "replace"), str_arg(a.get(1, "new"), "", "replace"), count));
  }
  fail("unsupported filter '" + name + "'");
}

bool apply_test(const std::string& name, const Value& v, const Args& a) {
  const Value* arg = a.get(0, "value");
  auto need = [&]() -> const Value& {
    if (!arg) fail("test '" + name + "' needs an argument");
    return *arg;
  };
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_string() || v.is_list() || v.is_dict() || v.is_undefined();
  if (name == "sequence") return v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_function();
  if (name == "escaped") return false;
  if (name == "lower") return v.is_string() && lower(v.str()) == v.str();
  if (name == "upper") return v.is_string() && upper(v.str()) == v.str();
  if (name == "even" || name == "odd") {
    if (!v.is_number() || v.is_float()) fail("test '" + name + "' needs an integer");
    const int64_t r = ((v.as_int() % 2) + 2) % 2;
    return name == "even" ? r == 0 : r == 1;
  }
  if (name == "divisibleby") {
    const int64_t d = need().as_int();
    if (d == 0) fail("integer division or modulo by zero");
    return v.as_int() % d == 0;
  }
  if (name == "eq" || name == "equalto" || name == "==") return equals(v, need());
  if (name == "ne" || name == "!=") return !equals(v, need());
  if (name == "lt" || name == "lessthan" || name == "<") return compare(v, need()) < 0;
  if (name == "le" || name == "<=") return compare(v, need()) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(v, need()) > 0;
  if (name == "ge" || name == ">=") return compare(v, need()) >= 0;
  if (name == "in") return contains(need(), v);
  if (name == "sameas") {
    const Value& o = need();
    if (v.is_list() && o.is_list()) return v.list_ptr() == o.list_ptr();
    if (v.is_dict() && o.is_dict()) return v.dict_ptr() == o.dict_ptr();
    if (v.is_bool() != o.is_bool() || v.is_none() != o.is_none()) return false;
    return (v.is_bool() || v.is_none() || v.is_int()) && equals(v, o);
  }
  fail("unsupported test '" + name + "'");
}

Value call_global(const std::string& name, const Args& a) {
  if (name == "raise_exception") {
    const Value* m = a.get(0, "message");
    throw RaisedError(m ? m->to_str() : std::string("raise_exception()"));
  }
  if (name == "range") {
    a.check("range", 3, {});
    if (a.pos.empty()) fail("range expected at least 1 argument, got 0");
    int64_t start = 0, stop = 0, step = 1;
    if (a.pos.size() == 1)
      stop = int_arg(&a.pos[0], 0, "range");
    else {
      start = int_arg(&a.pos[0], 0, "range");
      stop = int_arg(&a.pos[1], 0, "range");
      if (a.pos.size() == 3) step = int_arg(&a.pos[2], 1, "range");
    }
    if (step == 0) fail("range() arg 3 must not be zero");
    std::vector<Value> out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 100000) fail("range too big (the sandbox allows 100000 items)");
      out.emplace_back(i);
    }
    return Value::list(std::move(out));
  }
  if (name == "dict" || name == "namespace") {
    Value d = Value::dict();
    for (const Value& p : a.pos) {
      if (!p.is_dict()) fail(name + "() takes mappings or keyword arguments");
      for (const auto& [k, x] : p.dict_ptr()->items) d.dict_ptr()->set(k, x);
    }
    for (const auto& [k, x] : a.kw) d.dict_ptr()->set(k, x);
    if (name == "dict") return d;
    auto ns = std::make_shared<NamespaceData>();
    for (const auto& [k, x] : d.dict_ptr()->items) {
      if (!k.empty() && k[0] == '_') fail("Chat templates cannot store underscore-prefixed attributes on a namespace, but got '" + k + "'");
      ns->attrs.set(k, x);
    }
    return Value(ns);
  }
  if (name == "strftime_now") {
    const std::string fmt = str_arg(a.get(0, "format"), "", "strftime_now");
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    const size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
    return Value(std::string(buf, n));
  }
  fail("unsupported function '" + name + "'");
}

Value call_method(const Value& obj, const std::string& name, const Args& a) {
  if (obj.is_undefined()) fail(obj.undefined_name().empty() ? "undefined value has no methods" : obj.undefined_name());
  if (kUnsafeMethods.count(name) && (obj.is_list() || obj.is_dict()))
    fail("access to attribute '" + name + "' of '" + obj.type_name() + "' object is unsafe.");
  if (obj.is_string() && kStrMethods.count(name)) return string_method(obj.str(), name, a);
  if (obj.is_dict() && kDictMethods.count(name)) {
    const auto& d = *obj.dict_ptr();
    if (name == "get") {
      const Value* k = a.get(0, "key");
      const Value* dflt = a.get(1, "default");
      if (k && k->is_string())
        if (const Value* v = d.find(k->str())) return *v;
      return dflt ? *dflt : Value(None{});
    }
    if (name == "copy") return Value(std::make_shared<DictData>(d));
    std::vector<Value> out;
    for (const auto& [k, v] : d.items) {
      if (name == "items")
        out.push_back(Value::list({Value(k), v}, true));
      else if (name == "keys")
        out.emplace_back(k);
      else
        out.push_back(v);
    }
    return Value::list(std::move(out));
  }
  if (obj.is_list() && kListMethods.count(name)) {
    const auto& items = obj.items();
    if (name == "copy") return Value::list(items);
    const Value* x = a.get(0, "value");
    if (!x) fail(name + "() takes exactly one argument");
    int64_t n = 0;
    for (size_t i = 0; i < items.size(); ++i)
      if (equals(items[i], *x)) {
        if (name == "index") return Value(static_cast<int64_t>(i));
        ++n;
      }
    if (name == "index") fail(x->repr() + " is not in list");
    return Value(n);
  }
  fail(std::string("'") + obj.type_name() + "' object has no method '" + name + "'");
}

Value get_attr(const Value& obj, const std::string& name) {
  if (obj.is_undefined()) fail(obj.undefined_name().empty() ? "'" + name + "' of an undefined value" : obj.undefined_name());
  const bool method = (obj.is_string() && kStrMethods.count(name)) || (obj.is_dict() && kDictMethods.count(name)) ||
                      (obj.is_list() && kListMethods.count(name));
  if (method) {
    Value self = obj;
    return Value::function([self, name](Args& a) { return call_method(self, name, a); });
  }
  if (obj.is_dict()) {
    if (const Value* v = obj.dict_ptr()->find(name)) return *v;
    return Value(Undefined{"'dict object' has no attribute '" + name + "'"});
  }
  if (obj.is_namespace()) {
    if (const Value* v = obj.ns()->attrs.find(name)) return *v;
    return Value(Undefined{"'Namespace' object has no attribute '" + name + "'"});
  }
  return Value(Undefined{std::string("'") + obj.type_name() + " object' has no attribute '" + name + "'"});
}

Value get_item(const Value& obj, const Value& key) {
  if (obj.is_undefined()) fail(obj.undefined_name().empty() ? "an undefined value has no items" : obj.undefined_name());
  if ((key.is_int() || key.is_bool()) && (obj.is_list() || obj.is_string())) {
    const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.items().size()) : code_point_length(obj.str());
    int64_t i = key.as_int();
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value(Undefined{std::string("'") + obj.type_name() + " object' has no element " + key.to_str()});
    if (obj.is_list()) return obj.items()[static_cast<size_t>(i)];
    return Value(code_points(obj.str())[static_cast<size_t>(i)]);
  }
  if (key.is_string()) {
    if (obj.is_dict()) {
      if (const Value* v = obj.dict_ptr()->find(key.str())) return *v;
      return get_attr(obj, key.str());
    }
    return get_attr(obj, key.str());
  }
  return Value(Undefined{std::string("'") + obj.type_name() + " object' has no element " + key.repr()});
}

Value get_slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v) {
  if (obj.is_undefined()) fail(obj.undefined_name().empty() ? "an undefined value cannot be sliced" : obj.undefined_name());
  if (!obj.is_list() && !obj.is_string()) fail(std::string("'") + obj.type_name() + "' object is not subscriptable");
  std::vector<std::string> cps;
  if (obj.is_string()) cps = code_points(obj.str());
  const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.items().size()) : static_cast<int64_t>(cps.size());
  const int64_t step = step_v.is_undefined() || step_v.is_none() ? 1 : step_v.as_int();
  if (step == 0) fail("slice step cannot be zero");
  // Python's slice.indices().
  auto bound = [&](const Value& v, int64_t dflt) {
    if (v.is_undefined() || v.is_none()) return dflt;
    int64_t i = v.as_int();
    if (i < 0) i += n;
    if (step > 0) return std::clamp<int64_t>(i, 0, n);
    return std::clamp<int64_t>(i, -1, n - 1);
  };
  const int64_t start = bound(start_v, step > 0 ? 0 : n - 1), stop = bound(stop_v, step > 0 ? n : -1);
  std::vector<Value> items;
  std::string text;
  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
    if (obj.is_list())
      items.push_back(obj.items()[static_cast<size_t>(i)]);
    else
      text += cps[static_cast<size_t>(i)];
  }
  if (obj.is_string()) return Value(text);
  return Value::list(std::move(items), obj.list_ptr()->tuple);
}

}  // namespace wick::jinja
