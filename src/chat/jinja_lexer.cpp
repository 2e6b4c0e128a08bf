#include "chat/jinja_lexer.h"

#include <cstring>

#include "chat/jinja_value.h"

namespace wick::jinja {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

[[noreturn]] void lex_error(int line, const std::string& what) { fail("template line " + std::to_string(line) + ": " + what); }

void append_utf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// A string literal's escapes, as jinja2 decodes them (Python's "unicode-escape" codec): \n \t
// \r \b \f \v \a \\ \' \" \ooo \xHH \uXXXX \UXXXXXXXX, a backslash-newline is dropped, and an
// unknown escape keeps its backslash.
std::string unescape(const std::string& s, int line) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 >= s.size()) {
      out += s[i];
      continue;
    }
    const char e = s[++i];
    auto hex = [&](int digits) {
      if (i + static_cast<size_t>(digits) >= s.size()) lex_error(line, "truncated \\x/\\u escape in a string");
      uint32_t v = 0;
      for (int k = 0; k < digits; ++k) {
        const char h = s[i + 1 + static_cast<size_t>(k)];
        v <<= 4;
        if (h >= '0' && h <= '9')
          v |= static_cast<uint32_t>(h - '0');
        else if (h >= 'a' && h <= 'f')
          v |= static_cast<uint32_t>(h - 'a' + 10);
        else if (h >= 'A' && h <= 'F')
          v |= static_cast<uint32_t>(h - 'A' + 10);
        else
          lex_error(line, "bad escape in a string");
      }
      i += static_cast<size_t>(digits);
      return v;
    };
    switch (e) {
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case 'b': out += '\b'; break;
      case 'f': out += '\f'; break;
      case 'v': out += '\v'; break;
      case 'a': out += '\a'; break;
      case '\\': out += '\\'; break;
      case '\'': out += '\''; break;
      case '"': out += '"'; break;
      case '\n': break;
      case 'x': append_utf8(hex(2), out); break;
      case 'u': append_utf8(hex(4), out); break;
      case 'U': append_utf8(hex(8), out); break;
      case 'N': lex_error(line, "\\N{...} escapes are not supported");
      default:
        if (e >= '0' && e <= '7') {
          uint32_t v = static_cast<uint32_t>(e - '0');
          for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
            v = v * 8 + static_cast<uint32_t>(s[++i] - '0');
          append_utf8(v, out);
        } else {
          out += '\\';
          out += e;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  Lexer(const std::string& src, const LexOptions& o) : s_(src), o_(o) {}

  std::vector<Token> run() {
    bool line_starting = true;
    while (pos_ < s_.size()) {
      size_t j = pos_;
      for (;;) {
        j = s_.find('{', j);
        if (j == std::string::npos || j + 1 >= s_.size()) {
          j = std::string::npos;
          break;
        }
        const char k = s_[j + 1];
        if (k == '{' || k == '%' || k == '#') break;
        ++j;
      }
      if (j == std::string::npos) {
        text(s_.substr(pos_));
        pos_ = s_.size();
        break;
      }
      std::string t = s_.substr(pos_, j - pos_);
      const char kind = s_[j + 1];
      size_t k = j + 2;
      const char sign = k < s_.size() && (s_[k] == '-' || s_[k] == '+') ? s_[k] : 0;
      if (sign == '-') {
        size_t e = t.size();
        while (e > 0 && is_space(t[e - 1])) --e;
        t.resize(e);
      } else if (sign != '+' && o_.lstrip_blocks && kind != '{') {
        const size_t l_pos = t.rfind('\n') == std::string::npos ? 0 : t.rfind('\n') + 1;
        if (l_pos > 0 || line_starting) {
          bool only_ws = l_pos < t.size();
          for (size_t i = l_pos; i < t.size() && only_ws; ++i) only_ws = is_space(t[i]);
          if (only_ws) t.resize(l_pos);
        }
      }
      text(t);
      line_ += count_lines(pos_, j);
      pos_ = k + (sign ? 1 : 0);
      if (kind == '#') {
        const size_t end = s_.find("#}", pos_);
        if (end == std::string::npos) lex_error(line_, "unclosed comment");
        const bool strip = end > pos_ && s_[end - 1] == '-';
        line_ += count_lines(pos_, end);
        pos_ = end + 2;
        line_starting = after_tag(strip, true, false);
        continue;
      }
      const bool block = kind == '%';
      const int begin = static_cast<int>(out_.size());
      out_.push_back({block ? Token::Type::kBlockBegin : Token::Type::kVarBegin, "", line_});
      const char end_sign = tag_tokens(block);
      out_.push_back({block ? Token::Type::kBlockEnd : Token::Type::kVarEnd, "", line_});
      line_starting = after_tag(end_sign == '-', block, end_sign == '+');
      if (block && static_cast<int>(out_.size()) == begin + 3 && out_[static_cast<size_t>(begin + 1)].type == Token::Type::kName &&
          out_[static_cast<size_t>(begin + 1)].value == "raw") {
        out_.resize(static_cast<size_t>(begin));
        line_starting = raw_block();
      }
    }
    out_.push_back({Token::Type::kEnd, "", line_});
    return std::move(out_);
  }

 private:
  int count_lines(size_t a, size_t b) const {
    int n = 0;
    for (size_t i = a; i < b && i < s_.size(); ++i) n += s_[i] == '\n';
    return n;
  }

  void text(const std::string& t) {
    if (!t.empty()) out_.push_back({Token::Type::kText, t, line_});
  }

  // Whitespace after a tag: "-" strips all of it; a block or comment tag drops one newline
  // (trim_blocks) unless marked "+". Returns whether the next text starts a line.
  bool after_tag(bool strip, bool trims, bool keep) {
    const size_t start = pos_;
    if (strip) {
      while (pos_ < s_.size() && is_space(s_[pos_])) ++pos_;
    } else if (trims && !keep && o_.trim_blocks && pos_ < s_.size() && s_[pos_] == '\n') {
      ++pos_;
    }
    line_ += count_lines(start, pos_);
    return pos_ > start && s_[pos_ - 1] == '\n';
  }

  // The tokens inside a tag up to its end ("}}" or "%}", with an optional "-" or "+" before
  // it, recognized only outside brackets); returns that sign.
  char tag_tokens(bool block) {
    std::string stack;  // open brackets
    const char close = block ? '%' : '}';
    for (;;) {
      while (pos_ < s_.size() && is_space(s_[pos_])) line_ += s_[pos_++] == '\n';
      if (pos_ >= s_.size()) lex_error(line_, block ? "unclosed block tag: expected '%}'" : "unclosed expression: expected '}}'");
      if (stack.empty()) {
        for (char sign : {'-', '+', '\0'}) {
          const size_t at = pos_ + (sign ? 1 : 0);
          if (sign && (pos_ >= s_.size() || s_[pos_] != sign)) continue;
          if (sign == '+' && !block) continue;
          if (at + 1 < s_.size() && s_[at] == close && s_[at + 1] == '}') {
            pos_ = at + 2;
            return sign;
          }
        }
      }
      const char c = s_[pos_];
      if (c == '\'' || c == '"') {
        size_t e = pos_ + 1;
        while (e < s_.size() && s_[e] != c) e += s_[e] == '\\' ? 2 : 1;
        if (e >= s_.size()) lex_error(line_, "unclosed string literal");
        const std::string raw = s_.substr(pos_ + 1, e - pos_ - 1);
        // Adjacent string literals are one string, as in Python.
        if (!out_.empty() && out_.back().type == Token::Type::kString && last_was_string_)
          out_.back().value += unescape(raw, line_);
        else
          out_.push_back({Token::Type::kString, unescape(raw, line_), line_});
        line_ += count_lines(pos_, e);
        pos_ = e + 1;
        last_was_string_ = true;
        continue;
      }
      last_was_string_ = false;
      if (is_digit(c)) {
        size_t e = pos_;
        while (e < s_.size() && (is_digit(s_[e]) || s_[e] == '_')) ++e;
        bool is_float = false;
        if (e + 1 < s_.size() && s_[e] == '.' && is_digit(s_[e + 1])) {
          is_float = true;
          ++e;
          while (e < s_.size() && (is_digit(s_[e]) || s_[e] == '_')) ++e;
        }
        if (e < s_.size() && (s_[e] == 'e' || s_[e] == 'E')) {
          size_t f = e + 1;
          if (f < s_.size() && (s_[f] == '+' || s_[f] == '-')) ++f;
          if (f < s_.size() && is_digit(s_[f])) {
            is_float = true;
            e = f;
            while (e < s_.size() && is_digit(s_[e])) ++e;
          }
        }
        std::string num;
        for (size_t i = pos_; i < e; ++i)
          if (s_[i] != '_') num += s_[i];
        out_.push_back({is_float ? Token::Type::kFloat : Token::Type::kInt, num, line_});
        pos_ = e;
        continue;
      }
      if (is_name_start(c)) {
        size_t e = pos_;
        while (e < s_.size() && (is_name_start(s_[e]) || is_digit(s_[e]))) ++e;
        out_.push_back({Token::Type::kName, s_.substr(pos_, e - pos_), line_});
        pos_ = e;
        continue;
      }
      static const char* const kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<",
                                         ">",  "=",  "(",  ")",  "[",  "]",  "{", "}", ",", ".", ":", "|", ";"};
      const char* op = nullptr;
      for (const char* o : kOps)
        if (s_.compare(pos_, std::strlen(o), o) == 0) {
          op = o;
          break;
        }
      if (!op) lex_error(line_, std::string("unexpected character '") + c + "' in a tag");
      if (*op == '(' || *op == '[' || *op == '{') stack.push_back(*op);
      if ((*op == ')' || *op == ']' || *op == '}') && op[1] == '\0') {
        const char want = *op == ')' ? '(' : *op == ']' ? '[' : '{';
        if (stack.empty() || stack.back() != want) lex_error(line_, std::string("unexpected '") + op + "'");
        stack.pop_back();
      }
      out_.push_back({Token::Type::kOp, op, line_});
      pos_ += std::strlen(op);
    }
  }

  // After {% raw %}: everything up to {% endraw %} is text.
  bool raw_block() {
    size_t search = pos_;
    for (;;) {
      const size_t open = s_.find("{%", search);
      if (open == std::string::npos) lex_error(line_, "unclosed {% raw %} block");
      size_t k = open + 2;
      const bool strip_before = k < s_.size() && s_[k] == '-';
      if (k < s_.size() && (s_[k] == '-' || s_[k] == '+')) ++k;
      while (k < s_.size() && is_space(s_[k])) ++k;
      if (s_.compare(k, 6, "endraw") != 0) {
        search = open + 2;
        continue;
      }
      k += 6;
      while (k < s_.size() && is_space(s_[k])) ++k;
      const bool strip_after = k < s_.size() && s_[k] == '-';
      if (k < s_.size() && (s_[k] == '-' || s_[k] == '+')) ++k;
      if (s_.compare(k, 2, "%}") != 0) lex_error(line_, "malformed {% endraw %}");
      std::string t = s_.substr(pos_, open - pos_);
      if (strip_before)
        while (!t.empty() && is_space(t.back())) t.pop_back();
      text(t);
      line_ += count_lines(pos_, k + 2);
      pos_ = k + 2;
      return after_tag(strip_after, true, false);
    }
  }

  const std::string& s_;
  LexOptions o_;
  size_t pos_ = 0;
  int line_ = 1;
  bool last_was_string_ = false;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> lex(const std::string& source, const LexOptions& opts) {
  // As jinja2's lexer: line endings become "\n", and one trailing newline is dropped
  // (keep_trailing_newline=False).
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src += '\n';
      if (i + 1 < source.size() && source[i + 1] == '\n') ++i;
    } else {
      src += source[i];
    }
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
  return Lexer(src, opts).run();
}

}  // namespace wick::jinja
