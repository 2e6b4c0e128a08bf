// Normalizers of tokenizers (tokenizers/src/normalizers): Sequence, Prepend, Replace,
// NFC/NFD/NFKC/NFKD (utf8proc), Lowercase, Strip.
#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>

#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"
#include "wick/error.h"

namespace wick {
namespace {

struct SequenceN : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> parts;
  void apply(std::string& s) const override {
    for (const auto& p : parts) p->apply(s);
  }
};

struct PrependN : Normalizer {
  std::string prefix;
  void apply(std::string& s) const override {
    if (!s.empty()) s = prefix + s;
  }
};

struct ReplaceN : Normalizer {
  std::string pattern, content;
  std::unique_ptr<Regex> regex;
  void apply(std::string& s) const override {
    if (regex) {
      std::string out;
      size_t last = 0;
      for (auto [b, e] : regex->find_all(s)) {
        out.append(s, last, b - last);
        out += content;
        last = e;
      }
      out.append(s, last, std::string::npos);
      s.swap(out);
      return;
    }
    replace_all(s, pattern, content);
  }
};

struct UnicodeN : Normalizer {
  int options;
  void apply(std::string& s) const override {
    if (s.empty()) return;
    utf8proc_uint8_t* out = nullptr;
    const auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()), static_cast<utf8proc_ssize_t>(s.size()), &out,
                                static_cast<utf8proc_option_t>(options));
    if (n < 0) throw Error(ErrorCode::kInvalidArgument, std::string("unicode normalization failed: ") + utf8proc_errmsg(n));
    s.assign(reinterpret_cast<char*>(out), static_cast<size_t>(n));
    std::free(out);
  }
};

struct LowercaseN : Normalizer {
  void apply(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      utf8proc_int32_t cp;
      const auto n =
          utf8proc_iterate(reinterpret_cast<const utf8proc_uint8_t*>(s.data() + i), static_cast<utf8proc_ssize_t>(s.size() - i), &cp);
      if (n <= 0) {
        out.push_back(s[i++]);
        continue;
      }
      append_utf8(out, static_cast<uint32_t>(utf8proc_tolower(cp)));
      i += static_cast<size_t>(n);
    }
    s.swap(out);
  }
};

struct StripN : Normalizer {
  bool left, right;
  void apply(std::string& s) const override {
    auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && ws(s[b])) ++b;
    if (right)
      while (e > b && ws(s[e - 1])) --e;
    s = s.substr(b, e - b);
  }
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    auto n = std::make_unique<SequenceN>();
    for (const auto& part : j.at("normalizers"))
      if (auto p = make_normalizer(part)) n->parts.push_back(std::move(p));
    return n;
  }
  if (type == "Prepend") {
    auto n = std::make_unique<PrependN>();
    n->prefix = j.at("prepend").get<std::string>();
    return n;
  }
  if (type == "Replace") {
    auto n = std::make_unique<ReplaceN>();
    const auto& pat = j.at("pattern");
    if (pat.contains("String"))
      n->pattern = pat["String"].get<std::string>();
    else if (pat.contains("Regex"))
      n->regex = std::make_unique<Regex>(pat["Regex"].get<std::string>());
    else
      throw Error(ErrorCode::kUnsupported, "tokenizer: Replace normalizer pattern " + pat.dump());
    n->content = j.at("content").get<std::string>();
    return n;
  }
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
    auto n = std::make_unique<UnicodeN>();
    n->options = UTF8PROC_STABLE | (type[2] == 'K' ? UTF8PROC_COMPAT : 0) | (type.back() == 'C' ? UTF8PROC_COMPOSE : UTF8PROC_DECOMPOSE);
    return n;
  }
  if (type == "Lowercase") return std::make_unique<LowercaseN>();
  if (type == "Strip") {
    auto n = std::make_unique<StripN>();
    n->left = j.value("strip_left", true);
    n->right = j.value("strip_right", true);
    return n;
  }
  throw Error(ErrorCode::kUnsupported, "tokenizer: normalizer type \"" + type + "\" is not supported");
}

}  // namespace wick
