// Pre-tokenizers of tokenizers (tokenizers/src/pre_tokenizers): Sequence, Split, ByteLevel,
// Metaspace, Digits, Whitespace, WhitespaceSplit.
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"
#include "wick/error.h"

namespace wick {
namespace {

// GPT-2's pattern, used by ByteLevel when use_regex is true (tokenizers byte_level.rs).
const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

enum class Behavior { kIsolated, kRemoved, kMergedWithPrevious, kMergedWithNext, kContiguous };

// Splits every piece at the matches of `re`, as tokenizers' SplitDelimiterBehavior says.
void split_pieces(std::vector<PreToken>& pieces, const Regex& re, Behavior behavior) {
  std::vector<PreToken> out;
  size_t bytes = 0;
  for (const auto& p : pieces) bytes += p.text.size();
  out.reserve(pieces.size() + bytes / 4);
  for (auto& piece : pieces) {
    const std::string& s = piece.text;
    std::vector<std::pair<size_t, size_t>> parts;  // (begin, end, is_match) flattened below
    std::vector<bool> is_match;
    size_t last = 0;
    for (auto [b, e] : re.find_all(s)) {
      if (b > last) {
        parts.emplace_back(last, b);
        is_match.push_back(false);
      }
      parts.emplace_back(b, e);
      is_match.push_back(true);
      last = e;
    }
    if (last < s.size()) {
      parts.emplace_back(last, s.size());
      is_match.push_back(false);
    }
    std::vector<std::pair<size_t, size_t>> merged;
    for (size_t i = 0; i < parts.size(); ++i) {
      const bool m = is_match[i];
      switch (behavior) {
        case Behavior::kIsolated: merged.push_back(parts[i]); break;
        case Behavior::kRemoved:
          if (!m) merged.push_back(parts[i]);
          break;
        case Behavior::kMergedWithPrevious:
          if (m && !merged.empty() && i > 0 && !is_match[i - 1])
            merged.back().second = parts[i].second;
          else
            merged.push_back(parts[i]);
          break;
        case Behavior::kMergedWithNext:
          if (!m && i > 0 && is_match[i - 1])
            merged.back().second = parts[i].second;
          else
            merged.push_back(parts[i]);
          break;
        case Behavior::kContiguous:
          if (m && i > 0 && is_match[i - 1])
            merged.back().second = parts[i].second;
          else
            merged.push_back(parts[i]);
          break;
      }
    }
    bool first = piece.first;
    for (auto [b, e] : merged) {
      out.push_back({s.substr(b, e - b), first});
      first = false;
    }
  }
  pieces.swap(out);
}

Behavior parse_behavior(const std::string& b) {
  if (b == "Isolated") return Behavior::kIsolated;
  if (b == "Removed") return Behavior::kRemoved;
  if (b == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (b == "MergedWithNext") return Behavior::kMergedWithNext;
  if (b == "Contiguous") return Behavior::kContiguous;
  throw Error(ErrorCode::kUnsupported, "tokenizer: Split behavior \"" + b + "\" is not supported");
}

struct SequenceP : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  void apply(std::vector<PreToken>& p) const override {
    for (const auto& x : parts) x->apply(p);
  }
};

struct SplitP : PreTokenizer {
  std::unique_ptr<Regex> re;
  Behavior behavior;
  void apply(std::vector<PreToken>& p) const override { split_pieces(p, *re, behavior); }
};

struct ByteLevelP : PreTokenizer {
  bool add_prefix_space = false;
  std::unique_ptr<Regex> re;  // null when use_regex is false
  void apply(std::vector<PreToken>& p) const override {
    if (add_prefix_space)
      for (auto& x : p)
        if (x.first && !x.text.empty() && x.text[0] != ' ') x.text = " " + x.text;
    if (re) split_pieces(p, *re, Behavior::kIsolated);
    const auto& table = byte_to_unicode();
    std::string mapped;
    for (auto& x : p) {
      mapped.clear();
      for (unsigned char c : x.text) {
        const std::string& m = table[c];  // 1 or 2 bytes
        if (m.size() == 1)
          mapped.push_back(m[0]);
        else
          mapped.append(m);
      }
      x.text.assign(mapped);
    }
  }
};

struct MetaspaceP : PreTokenizer {
  std::string replacement = "\xE2\x96\x81";  // U+2581
  std::string scheme = "always";             // always | first | never
  bool split = true;
  void apply(std::vector<PreToken>& p) const override {
    std::vector<PreToken> out;
    for (auto& x : p) {
      std::string s;
      for (char c : x.text) {
        if (c == ' ')
          s += replacement;
        else
          s.push_back(c);
      }
      const bool prepend = scheme == "always" || (scheme == "first" && x.first);
      if (prepend && !s.empty() && s.compare(0, replacement.size(), replacement) != 0) s = replacement + s;
      if (!split) {
        out.push_back({s, x.first});
        continue;
      }
      // MergedWithNext on the replacement: every piece starts at a "▁".
      size_t start = 0;
      bool first = x.first;
      for (size_t pos = s.find(replacement, replacement.size() <= s.size() ? 1 : 0); pos != std::string::npos;
           pos = s.find(replacement, pos + 1)) {
        if (pos == 0) continue;
        out.push_back({s.substr(start, pos - start), first});
        first = false;
        start = pos;
      }
      if (start < s.size()) out.push_back({s.substr(start), first});
    }
    p.swap(out);
  }
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    auto p = std::make_unique<SequenceP>();
    for (const auto& part : j.at("pretokenizers"))
      if (auto x = make_pre_tokenizer(part)) p->parts.push_back(std::move(x));
    return p;
  }
  if (type == "Split") {
    if (j.value("invert", false)) throw Error(ErrorCode::kUnsupported, "tokenizer: Split with invert=true is not supported");
    auto p = std::make_unique<SplitP>();
    const auto& pat = j.at("pattern");
    if (pat.contains("Regex")) {
      p->re = std::make_unique<Regex>(pat["Regex"].get<std::string>());
    } else {
      // A literal string: escape it for PCRE2 with \Q...\E.
      p->re = std::make_unique<Regex>("\\Q" + pat.at("String").get<std::string>() + "\\E");
    }
    p->behavior = parse_behavior(j.value("behavior", "Isolated"));
    return p;
  }
  if (type == "ByteLevel") {
    auto p = std::make_unique<ByteLevelP>();
    p->add_prefix_space = j.value("add_prefix_space", false);
    if (j.value("use_regex", true)) p->re = std::make_unique<Regex>(kGpt2Pattern);
    return p;
  }
  if (type == "Metaspace") {
    auto p = std::make_unique<MetaspaceP>();
    p->replacement = j.value("replacement", p->replacement);
    if (j.contains("prepend_scheme"))
      p->scheme = j["prepend_scheme"].get<std::string>();
    else if (j.contains("add_prefix_space"))
      p->scheme = j["add_prefix_space"].get<bool>() ? "always" : "never";
    p->split = j.value("split", true);
    return p;
  }
  if (type == "Digits") {
    auto p = std::make_unique<SplitP>();
    p->re = std::make_unique<Regex>(j.value("individual_digits", false) ? "\\p{N}" : "\\p{N}+");
    p->behavior = Behavior::kIsolated;
    return p;
  }
  if (type == "Whitespace") {
    auto p = std::make_unique<SplitP>();
    p->re = std::make_unique<Regex>("\\s+");
    p->behavior = Behavior::kRemoved;
    auto seq = std::make_unique<SequenceP>();
    seq->parts.push_back(std::move(p));
    auto words = std::make_unique<SplitP>();
    words->re = std::make_unique<Regex>("\\w+|[^\\w\\s]+");
    words->behavior = Behavior::kIsolated;
    seq->parts.push_back(std::move(words));
    return seq;
  }
  if (type == "WhitespaceSplit") {
    auto p = std::make_unique<SplitP>();
    p->re = std::make_unique<Regex>("\\s+");
    p->behavior = Behavior::kRemoved;
    return p;
  }
  throw Error(ErrorCode::kUnsupported, "tokenizer: pre-tokenizer type \"" + type + "\" is not supported");
}

}  // namespace wick
