// Python's str semantics for the Jinja interpreter: case mapping (Unicode, through utf8proc),
// whitespace and the strip / split / find family by code point, %-formatting and str.format,
// and the string methods templates call (str.startswith, str.split, ...).
#pragma once

#include <string>
#include <vector>

#include "chat/jinja_value.h"

namespace wick::jinja {

struct Args;

std::string lower(const std::string& s);
std::string upper(const std::string& s);
std::string capitalize(const std::string& s);   // str.capitalize
std::string jinja_title(const std::string& s);  // jinja2's title filter (words split at -, space and ([{<)
// str.strip / lstrip / rstrip: `chars` are the code points to strip ("" = whitespace).
std::string strip(const std::string& s, const std::string& chars, bool left, bool right);
std::string replace(const std::string& s, const std::string& old, const std::string& with, int64_t count);
std::vector<std::string> split_lines(const std::string& s);             // str.splitlines()
size_t count_words(const std::string& s);                               // len(re.findall(r"\w+", s))
std::string percent_format(const std::string& fmt, const Value& args);  // fmt % args
// A method of str: s.name(args).
Value string_method(const std::string& s, const std::string& name, const Args& args);

}  // namespace wick::jinja
