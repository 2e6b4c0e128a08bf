#include "chat/jinja_strings.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdio>

#include "chat/jinja_builtins.h"

namespace wick::jinja {
namespace {

std::vector<int32_t> decode(const std::string& s) {
  std::vector<int32_t> out;
  out.reserve(s.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(s.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(s.size());
  while (left > 0) {
    utf8proc_int32_t cp = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &cp);
    if (n <= 0) {  // not UTF-8: keep the byte as a code point of its own
      cp = *p;
      n = 1;
    }
    out.push_back(cp);
    p += n;
    left -= n;
  }
  return out;
}

std::string encode(const std::vector<int32_t>& cps, size_t from = 0, size_t to = std::string::npos) {
  std::string out;
  to = std::min(to, cps.size());
  for (size_t i = from; i < to; ++i) {
    utf8proc_uint8_t buf[4];
    const utf8proc_ssize_t n = utf8proc_encode_char(cps[i], buf);
    out.append(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
  }
  return out;
}

// Python's str.isspace() code points.
bool is_space_cp(int32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
         c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}
bool is_cased(int32_t c) {
  const auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT;
}
bool is_alpha(int32_t c) {
  const auto cat = utf8proc_category(c);
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}
bool is_decimal(int32_t c) { return utf8proc_category(c) == UTF8PROC_CATEGORY_ND; }
bool is_numeric(int32_t c) {
  const auto cat = utf8proc_category(c);
  return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}
bool is_word(int32_t c) { return is_alpha(c) || is_numeric(c) || c == '_' || utf8proc_category(c) == UTF8PROC_CATEGORY_MN; }

std::string map_cps(const std::string& s, int32_t (*f)(int32_t)) {
  std::vector<int32_t> cps = decode(s);
  for (auto& c : cps) c = f(c);
  return encode(cps);
}
int32_t to_lower(int32_t c) { return utf8proc_tolower(c); }
int32_t to_upper(int32_t c) { return utf8proc_toupper(c); }
int32_t to_title(int32_t c) { return utf8proc_totitle(c); }

// Index of the code point that starts at byte `b` of s.
int64_t cp_index(const std::string& s, size_t b) { return code_point_length(s.substr(0, b)); }

std::string str_arg(const Args& a, size_t i, const char* name, const char* what) {
  const Value* v = a.get(i, name);
  if (!v || !v->is_string()) fail(std::string(what) + "() needs a string argument");
  return v->str();
}

std::vector<std::string> split(const std::string& s, const Value* sep_v, int64_t maxsplit, bool from_right) {
  std::vector<std::string> out;
  if (!sep_v || sep_v->is_none()) {  // runs of whitespace, no empty strings
    const std::vector<int32_t> cps = decode(s);
    std::vector<std::pair<size_t, size_t>> words;
    for (size_t i = 0; i < cps.size();) {
      while (i < cps.size() && is_space_cp(cps[i])) ++i;
      if (i >= cps.size()) break;
      size_t j = i;
      while (j < cps.size() && !is_space_cp(cps[j])) ++j;
      words.emplace_back(i, j);
      i = j;
    }
    if (maxsplit < 0 || static_cast<size_t>(maxsplit) + 1 >= words.size()) {
      for (auto [a, b] : words) out.push_back(encode(cps, a, b));
      return out;
    }
    const size_t m = static_cast<size_t>(maxsplit);
    if (!from_right) {
      for (size_t k = 0; k < m; ++k) out.push_back(encode(cps, words[k].first, words[k].second));
      size_t end = cps.size();
      while (end > words[m].first && is_space_cp(cps[end - 1])) --end;
      out.push_back(encode(cps, words[m].first, end));
    } else {
      const size_t keep = words.size() - m;
      size_t begin = 0;
      while (begin < words[keep - 1].second && is_space_cp(cps[begin])) ++begin;
      out.push_back(encode(cps, begin, words[keep - 1].second));
      for (size_t k = keep; k < words.size(); ++k) out.push_back(encode(cps, words[k].first, words[k].second));
    }
    return out;
  }
  if (!sep_v->is_string()) fail("split(): the separator must be a string or None");
  const std::string& sep = sep_v->str();
  if (sep.empty()) fail("empty separator");
  if (!from_right) {
    size_t start = 0;
    int64_t n = 0;
    for (;;) {
      const size_t at = s.find(sep, start);
      if (at == std::string::npos || (maxsplit >= 0 && n >= maxsplit)) break;
      out.push_back(s.substr(start, at - start));
      start = at + sep.size();
      ++n;
    }
    out.push_back(s.substr(start));
    return out;
  }
  size_t end = s.size();
  int64_t n = 0;
  std::vector<std::string> rev;
  for (;;) {
    if (end < sep.size()) break;
    const size_t at = s.rfind(sep, end - sep.size());
    if (at == std::string::npos || (maxsplit >= 0 && n >= maxsplit)) break;
    rev.push_back(s.substr(at + sep.size(), end - at - sep.size()));
    end = at;
    ++n;
  }
  rev.push_back(s.substr(0, end));
  return std::vector<std::string>(rev.rbegin(), rev.rend());
}

Value str_list(const std::vector<std::string>& v) {
  std::vector<Value> items;
  for (const auto& s : v) items.emplace_back(s);
  return Value::list(std::move(items));
}

// str.format: {} {0} {name} fields with optional !s / !r, no format specs.
std::string brace_format(const std::string& fmt, const Args& a) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '}') {
      if (i + 1 < fmt.size() && fmt[i + 1] == '}')
        ++i;
      else
        fail("Single '}' encountered in format string");
      out += '}';
      continue;
    }
    if (c != '{') {
      out += c;
      continue;
    }
    if (i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
      continue;
    }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) fail("Single '{' encountered in format string");
    std::string field = fmt.substr(i + 1, close - i - 1);
    char conv = 's';
    if (field.size() >= 2 && field[field.size() - 2] == '!') {
      conv = field.back();
      field.resize(field.size() - 2);
    }
    if (field.find(':') != std::string::npos) fail("format specs in str.format are not supported");
    const Value* v = nullptr;
    if (field.empty())
      v = a.get(auto_index++, "");
    else if (std::all_of(field.begin(), field.end(), [](char d) { return d >= '0' && d <= '9'; }))
      v = a.get(std::stoul(field), "");
    else
      v = a.get(SIZE_MAX, field.c_str());
    if (!v) fail("str.format: no argument for {" + field + "}");
    out += conv == 'r' ? v->repr() : v->to_str();
    i = close;
  }
  return out;
}

}  // namespace

std::string lower(const std::string& s) { return map_cps(s, to_lower); }
std::string upper(const std::string& s) { return map_cps(s, to_upper); }

std::string capitalize(const std::string& s) {
  std::vector<int32_t> cps = decode(s);
  for (size_t i = 0; i < cps.size(); ++i) cps[i] = i == 0 ? to_title(cps[i]) : to_lower(cps[i]);
  return encode(cps);
}

std::string jinja_title(const std::string& s) {
  // re.split(r"([-\s\(\{\[\<]+)", s): words and the separator runs between them, in order.
  const std::vector<int32_t> cps = decode(s);
  auto is_sep = [](int32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || is_space_cp(c); };
  std::string out;
  for (size_t i = 0; i < cps.size();) {
    size_t j = i;
    const bool sep = is_sep(cps[i]);
    while (j < cps.size() && is_sep(cps[j]) == sep) ++j;
    std::vector<int32_t> item(cps.begin() + static_cast<std::ptrdiff_t>(i), cps.begin() + static_cast<std::ptrdiff_t>(j));
    for (size_t k = 0; k < item.size(); ++k) item[k] = k == 0 ? to_upper(item[k]) : to_lower(item[k]);
    out += encode(item);
    i = j;
  }
  return out;
}

std::string strip(const std::string& s, const std::string& chars, bool left, bool right) {
  const std::vector<int32_t> cps = decode(s);
  const std::vector<int32_t> set = decode(chars);
  auto strippable = [&](int32_t c) { return set.empty() ? is_space_cp(c) : std::find(set.begin(), set.end(), c) != set.end(); };
  size_t a = 0, b = cps.size();
  if (left)
    while (a < b && strippable(cps[a])) ++a;
  if (right)
    while (b > a && strippable(cps[b - 1])) --b;
  return encode(cps, a, b);
}

std::string replace(const std::string& s, const std::string& old, const std::string& with, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `with` before every code point and at the end
    const std::vector<std::string> cps = code_points(s);
    int64_t n = 0;
    for (const auto& cp : cps) {
      if (count < 0 || n < count) {
        out += with;
        ++n;
      }
      out += cp;
    }
    if (count < 0 || n < count) out += with;
    return out;
  }
  size_t start = 0;
  int64_t n = 0;
  for (;;) {
    const size_t at = s.find(old, start);
    if (at == std::string::npos || (count >= 0 && n >= count)) break;
    out += s.substr(start, at - start) + with;
    start = at + old.size();
    ++n;
  }
  return out + s.substr(start);
}

std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  const std::vector<int32_t> cps = decode(s);
  size_t start = 0;
  for (size_t i = 0; i < cps.size(); ++i) {
    const int32_t c = cps[i];
    const bool br =
        c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029;
    if (!br) continue;
    out.push_back(encode(cps, start, i));
    if (c == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n') ++i;
    start = i + 1;
  }
  if (start < cps.size()) out.push_back(encode(cps, start));
  return out;
}

size_t count_words(const std::string& s) {
  size_t n = 0;
  bool in = false;
  for (int32_t c : decode(s)) {
    const bool w = is_word(c);
    if (w && !in) ++n;
    in = w;
  }
  return n;
}

std::string percent_format(const std::string& fmt, const Value& args) {
  std::vector<Value> list = args.is_list() && args.list_ptr()->tuple ? args.items() : std::vector<Value>{args};
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) fail("incomplete format");
    if (fmt[i] == '%') {
      out += '%';
      continue;
    }
    const Value* v = nullptr;
    if (fmt[i] == '(') {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos || !args.is_dict()) fail("format requires a mapping");
      v = args.dict_ptr()->find(fmt.substr(i + 1, close - i - 1));
      if (!v) fail("format: missing key " + fmt.substr(i + 1, close - i - 1));
      i = close + 1;
    }
    std::string spec = "%";
    while (i < fmt.size() && std::string("-+ 0#").find(fmt[i]) != std::string::npos) spec += fmt[i++];
    while (i < fmt.size() && ((fmt[i] >= '0' && fmt[i] <= '9') || fmt[i] == '.')) spec += fmt[i++];
    if (i >= fmt.size()) fail("incomplete format");
    const char conv = fmt[i];
    if (!v) {
      if (next >= list.size()) fail("not enough arguments for format string");
      v = &list[next++];
    }
    char buf[512];
    switch (conv) {
      case 's':
      case 'r': {
        const std::string t = conv == 'r' ? v->repr() : v->to_str();
        std::snprintf(buf, sizeof buf, (spec + "s").c_str(), t.c_str());
        out += std::string(buf).size() < sizeof buf - 1 ? std::string(buf) : t;
        break;
      }
      case 'd':
      case 'i':
      case 'x':
      case 'X':
      case 'o': {
        if (!v->is_number()) fail(std::string("%") + conv + " format: a number is required, not " + v->type_name());
        const long long x = v->is_float() ? static_cast<long long>(v->as_double()) : v->as_int();
        std::snprintf(buf, sizeof buf, (spec + "ll" + (conv == 'i' ? 'd' : conv)).c_str(), x);
        out += buf;
        break;
      }
      case 'f':
      case 'F':
      case 'e':
      case 'E':
      case 'g':
      case 'G': {
        if (!v->is_number()) fail(std::string("%") + conv + " format: a number is required, not " + v->type_name());
        std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v->as_double());
        out += buf;
        break;
      }
      default: fail(std::string("unsupported format character '") + conv + "'");
    }
  }
  if (next < list.size() && !args.is_dict()) fail("not all arguments converted during string formatting");
  return out;
}

Value string_method(const std::string& s, const std::string& name, const Args& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip") {
    const Value* c = a.get(0, "chars");
    const std::string chars = c && c->is_string() ? c->str() : "";
    return Value(strip(s, chars, name != "rstrip", name != "lstrip"));
  }
  if (name == "split" || name == "rsplit") {
    const Value* mx = a.get(1, "maxsplit");
    return str_list(split(s, a.get(0, "sep"), mx ? mx->as_int() : -1, name == "rsplit"));
  }
  if (name == "splitlines") return str_list(split_lines(s));
  if (name == "startswith" || name == "endswith") {
    const Value* p = a.get(0, "prefix");
    if (!p) fail(name + "() takes at least 1 argument");
    std::vector<Value> options = p->is_list() ? p->items() : std::vector<Value>{*p};
    for (const Value& o : options) {
      if (!o.is_string()) fail(name + "() arguments must be strings");
      const std::string& x = o.str();
      const bool hit =
          name == "startswith" ? s.compare(0, x.size(), x) == 0 : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
      if (hit) return Value(true);
    }
    return Value(false);
  }
  if (name == "replace") {
    const Value* c = a.get(2, "count");
    return Value(replace(s, str_arg(a, 0, "old", "replace"), str_arg(a, 1, "new", "replace"), c ? c->as_int() : -1));
  }
  if (name == "upper") return Value(upper(s));
  if (name == "lower") return Value(lower(s));
  if (name == "capitalize") return Value(capitalize(s));
  if (name == "swapcase") {
    std::vector<int32_t> cps = decode(s);
    for (auto& c : cps) c = utf8proc_category(c) == UTF8PROC_CATEGORY_LU ? to_lower(c) : to_upper(c);
    return Value(encode(cps));
  }
  if (name == "title") {
    std::vector<int32_t> cps = decode(s);
    bool prev_cased = false;
    for (auto& c : cps) {
      const bool cased = is_cased(c);
      if (cased) c = prev_cased ? to_lower(c) : to_title(c);
      prev_cased = cased;
    }
    return Value(encode(cps));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    const std::string sub = str_arg(a, 0, "sub", name.c_str());
    const size_t at = name == "find" || name == "index" ? s.find(sub) : s.rfind(sub);
    if (at == std::string::npos) {
      if (name == "index" || name == "rindex") fail("substring not found");
      return Value(int64_t{-1});
    }
    return Value(cp_index(s, at));
  }
  if (name == "count") {
    const std::string sub = str_arg(a, 0, "sub", "count");
    if (sub.empty()) return Value(code_point_length(s) + 1);
    int64_t n = 0;
    for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size())) ++n;
    return Value(n);
  }
  if (name == "join") {
    const Value* it = a.get(0, "iterable");
    if (!it || !it->is_list()) fail("join() needs a list of strings");
    std::string out;
    for (size_t i = 0; i < it->items().size(); ++i) {
      const Value& x = it->items()[i];
      if (!x.is_string()) fail(std::string("sequence item ") + std::to_string(i) + ": expected str instance, " + x.type_name() + " found");
      out += (i ? s : "") + x.str();
    }
    return Value(out);
  }
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string x = str_arg(a, 0, "prefix", name.c_str());
    if (name == "removeprefix" && s.compare(0, x.size(), x) == 0) return Value(s.substr(x.size()));
    if (name == "removesuffix" && !x.empty() && s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0)
      return Value(s.substr(0, s.size() - x.size()));
    return Value(s);
  }
  if (name == "format") return Value(brace_format(s, a));
  if (name == "center" || name == "ljust" || name == "rjust" || name == "zfill") {
    const Value* w = a.get(0, "width");
    if (!w || !w->is_number()) fail(name + "() needs a width");
    const int64_t width = w->as_int(), len = code_point_length(s);
    if (width <= len) return Value(s);
    std::string fill = name == "zfill" ? "0" : " ";
    if (const Value* f = a.get(1, "fillchar"); f && f->is_string()) fill = f->str();
    const int64_t pad = width - len;
    auto rep = [&](int64_t n) {
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += fill;
      return out;
    };
    if (name == "ljust") return Value(s + rep(pad));
    if (name == "rjust") return Value(rep(pad) + s);
    if (name == "zfill") {
      if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value(s.substr(0, 1) + rep(pad) + s.substr(1));
      return Value(rep(pad) + s);
    }
    const int64_t left = pad / 2 + (pad & width & 1);  // CPython's centering rule
    return Value(rep(left) + s + rep(pad - left));
  }
  if (name == "partition" || name == "rpartition") {
    const std::string sep = str_arg(a, 0, "sep", name.c_str());
    if (sep.empty()) fail("empty separator");
    const size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (at == std::string::npos)
      return name == "partition" ? Value::list({Value(s), Value(""), Value("")}, true)
                                 : Value::list({Value(""), Value(""), Value(s)}, true);
    return Value::list({Value(s.substr(0, at)), Value(sep), Value(s.substr(at + sep.size()))}, true);
  }
  const std::vector<int32_t> cps = decode(s);
  auto all = [&](bool (*f)(int32_t)) { return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), f)); };
  if (name == "isdigit" || name == "isdecimal") return all(is_decimal);
  if (name == "isnumeric") return all(is_numeric);
  if (name == "isalpha") return all(is_alpha);
  if (name == "isalnum") return all([](int32_t c) { return is_alpha(c) || is_numeric(c); });
  if (name == "isspace") return all(is_space_cp);
  if (name == "islower" || name == "isupper") {
    bool any = false;
    for (int32_t c : cps) {
      const auto cat = utf8proc_category(c);
      if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LT) {
        if (name == "islower") return Value(false);
        any = true;
      } else if (cat == UTF8PROC_CATEGORY_LL) {
        if (name == "isupper") return Value(false);
        any = true;
      }
    }
    return Value(any);
  }
  fail("'str' object has no method '" + name + "'");
}

}  // namespace wick::jinja
