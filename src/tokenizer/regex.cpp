#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cstdio>

#include "tokenizer/pipeline.h"
#include "wick/error.h"

namespace wick {

namespace {

struct AssignedRange {
  char32_t first, last;
  const char* category;  // Unicode 16.0 general category
};
constexpr AssignedRange kAssignedAfter14[] = {
#include "tokenizer/unicode_delta.inc"
};

// Does general category `cat` ("Lo") fall under property `name` ("L", "Lo", "L&" / "LC")?
bool property_covers(const std::string& name, const char* cat) {
  if (name.size() == 1) return cat[0] == name[0];
  if (name == "L&" || name == "LC") return cat[0] == 'L' && (cat[1] == 'u' || cat[1] == 'l' || cat[1] == 't');
  return name.size() == 2 && name[0] == cat[0] && name[1] == cat[1];
}

// "\x{F}-\x{L}..." for the ranges newly assigned to `name`; "" when none.
std::string added_ranges(const std::string& name) {
  std::string out;
  char buf[48];
  for (const auto& r : kAssignedAfter14) {
    if (!property_covers(name, r.category)) continue;
    std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", static_cast<unsigned>(r.first), static_cast<unsigned>(r.last));
    out += buf;
  }
  return out;
}

}  // namespace

std::string widen_unicode_properties(const std::string& p) {
  std::string out;
  out.reserve(p.size());
  bool in_class = false;
  size_t i = 0;
  while (i < p.size()) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char e = p[i + 1];
      if (e == 'Q') {  // \Q...\E: literal text, copied as is
        const size_t end = p.find("\\E", i + 2);
        const size_t stop = end == std::string::npos ? p.size() : end + 2;
        out.append(p, i, stop - i);
        i = stop;
        continue;
      }
      if (e == 'p' || e == 'P') {
        size_t j = i + 2;
        std::string name;
        if (j < p.size() && p[j] == '{') {
          const size_t close = p.find('}', j);
          if (close == std::string::npos) break;  // malformed: PCRE2 reports it on the original text
          name = p.substr(j + 1, close - j - 1);
          j = close + 1;
        } else if (j < p.size()) {
          name = std::string(1, p[j]);
          j += 1;
        }
        bool negated = e == 'P';
        if (!name.empty() && name[0] == '^') {
          negated = !negated;
          name.erase(0, 1);
        }
        const std::string token = p.substr(i, j - i);
        const std::string extra = added_ranges(name);
        if (extra.empty() || (negated && in_class))
          out += token;  // a negation inside a class cannot take a union
        else if (negated)
          out += "[^\\p{" + name + "}" + extra + "]";
        else if (in_class)
          out += token + extra;
        else
          out += "[" + token + extra + "]";
        i = j;
        continue;
      }
      out.append(p, i, 2);
      i += 2;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      ++i;
      if (i < p.size() && p[i] == '^') out += p[i++];
      if (i < p.size() && p[i] == ']') out += p[i++];  // a leading ']' is literal
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {  // [:alpha:]
      const size_t end = p.find(":]", i + 2);
      const size_t stop = end == std::string::npos ? p.size() : end + 2;
      out.append(p, i, stop - i);
      i = stop;
      continue;
    }
    if (in_class && c == ']') in_class = false;
    out += c;
    ++i;
  }
  if (i < p.size()) return p;  // malformed \p{: leave the pattern to PCRE2's error
  return out;
}

Regex::Regex(const std::string& original) {
  int err = 0;
  PCRE2_SIZE offset = 0;
  const std::string pattern = widen_unicode_properties(original);
  auto* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP, &err, &offset, nullptr);
  if (!code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error(ErrorCode::kUnsupported, "tokenizer regex /" + original + "/ does not compile at offset " + std::to_string(offset) + ": " +
                                             reinterpret_cast<char*>(msg));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // best effort: falls back to the interpreter
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

std::vector<std::pair<size_t, size_t>> Regex::find_all(const std::string& s) const {
  std::vector<std::pair<size_t, size_t>> out;
  auto* code = static_cast<pcre2_code*>(code_);
  // Match data per call keeps encode() safe to call from several threads at once.
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(code, nullptr);
  size_t start = 0;
  while (start <= s.size()) {
    // Invalid UTF-8 was rejected before tokenization, so NO_UTF_CHECK is safe here.
    const int rc = pcre2_match(code, reinterpret_cast<PCRE2_SPTR>(s.data()), s.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc < 0) break;
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e == b) {  // empty match: step over one character
      if (b >= s.size()) break;
      start = b + 1;
      while (start < s.size() && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) ++start;
      continue;
    }
    out.emplace_back(b, e);
    start = e;
  }
  pcre2_match_data_free(md);
  return out;
}

}  // namespace wick
