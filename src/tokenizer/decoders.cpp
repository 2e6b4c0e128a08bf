// Decoders of tokenizers (tokenizers/src/decoders): Sequence, ByteLevel, Metaspace, Replace,
// ByteFallback, Fuse, Strip.
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"
#include "wick/error.h"

namespace wick {
namespace {

struct SequenceD : Decoder {
  std::vector<std::unique_ptr<Decoder>> parts;
  void apply(std::vector<std::string>& t) const override {
    for (const auto& p : parts) p->apply(t);
  }
};

// Maps each token's characters back to bytes; a token with any character outside the byte
// table (an added token's text) is kept as it is, and the result is one string (as
// tokenizers' ByteLevel decode_chain does; decode() then makes it valid UTF-8).
struct ByteLevelD : Decoder {
  void apply(std::vector<std::string>& t) const override {
    std::string out, bytes;
    for (const auto& tok : t) {
      bytes.clear();
      bool all = true;
      for (size_t i = 0; i < tok.size() && all;) {
        const int n = utf8_len(static_cast<unsigned char>(tok[i]));
        uint32_t cp = static_cast<unsigned char>(tok[i]);
        if (n == 2 && i + 1 < tok.size()) cp = ((cp & 0x1Fu) << 6) | (static_cast<unsigned char>(tok[i + 1]) & 0x3Fu);
        const int b = (n <= 2) ? unicode_to_byte(cp) : -1;
        if (b >= 0)
          bytes.push_back(static_cast<char>(b));
        else
          all = false;
        i += static_cast<size_t>(n);
      }
      out += all ? bytes : tok;
    }
    t.assign(1, std::move(out));
  }
};

struct ReplaceD : Decoder {
  std::string pattern, content;
  void apply(std::vector<std::string>& t) const override {
    for (auto& tok : t) replace_all(tok, pattern, content);
  }
};

// <0xAB> tokens become raw bytes; a run of them that is not valid UTF-8 becomes U+FFFD per byte.
struct ByteFallbackD : Decoder {
  static int byte_of(const std::string& s) {
    if (s.size() != 6 || s.compare(0, 3, "<0x") != 0 || s[5] != '>') return -1;
    return static_cast<int>(std::strtol(s.substr(3, 2).c_str(), nullptr, 16));
  }
  void apply(std::vector<std::string>& t) const override {
    std::vector<std::string> out;
    std::string bytes;
    size_t count = 0;
    auto flush = [&] {
      if (count == 0) return;
      if (is_valid_utf8(bytes))
        out.push_back(bytes);
      else
        for (size_t i = 0; i < count; ++i) out.push_back("\xEF\xBF\xBD");
      bytes.clear();
      count = 0;
    };
    for (auto& tok : t) {
      const int b = byte_of(tok);
      if (b >= 0) {
        bytes.push_back(static_cast<char>(b));
        ++count;
        continue;
      }
      flush();
      out.push_back(std::move(tok));
    }
    flush();
    t.swap(out);
  }
};

struct FuseD : Decoder {
  void apply(std::vector<std::string>& t) const override {
    std::string all;
    for (const auto& s : t) all += s;
    t.assign(1, all);
  }
};

struct StripD : Decoder {
  std::string content;
  int start = 0, stop = 0;
  void apply(std::vector<std::string>& t) const override {
    for (auto& tok : t) {
      int s = 0;
      size_t b = 0, e = tok.size();
      while (s < start && tok.compare(b, content.size(), content) == 0 && b < e) {
        b += content.size();
        ++s;
      }
      s = 0;
      while (s < stop && e >= b + content.size() && tok.compare(e - content.size(), content.size(), content) == 0) {
        e -= content.size();
        ++s;
      }
      tok = tok.substr(b, e - b);
    }
  }
};

struct MetaspaceD : Decoder {
  std::string replacement = "\xE2\x96\x81";
  bool strip_first = true;
  void apply(std::vector<std::string>& t) const override {
    for (size_t i = 0; i < t.size(); ++i) {
      replace_all(t[i], replacement, " ");
      if (i == 0 && strip_first && !t[i].empty() && t[i][0] == ' ') t[i].erase(0, 1);
    }
  }
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.value("type", "");
  if (type == "Sequence") {
    auto d = std::make_unique<SequenceD>();
    for (const auto& part : j.at("decoders"))
      if (auto x = make_decoder(part)) d->parts.push_back(std::move(x));
    return d;
  }
  if (type == "ByteLevel") return std::make_unique<ByteLevelD>();
  if (type == "Replace") {
    auto d = std::make_unique<ReplaceD>();
    const auto& pat = j.at("pattern");
    if (!pat.contains("String")) throw Error(ErrorCode::kUnsupported, "tokenizer: Replace decoder pattern " + pat.dump());
    d->pattern = pat["String"].get<std::string>();
    d->content = j.at("content").get<std::string>();
    return d;
  }
  if (type == "ByteFallback") return std::make_unique<ByteFallbackD>();
  if (type == "Fuse") return std::make_unique<FuseD>();
  if (type == "Strip") {
    auto d = std::make_unique<StripD>();
    d->content = j.value("content", " ");
    d->start = j.value("start", 0);
    d->stop = j.value("stop", 0);
    return d;
  }
  if (type == "Metaspace") {
    auto d = std::make_unique<MetaspaceD>();
    d->replacement = j.value("replacement", d->replacement);
    const std::string scheme =
        j.contains("prepend_scheme") ? j["prepend_scheme"].get<std::string>() : (j.value("add_prefix_space", true) ? "always" : "never");
    d->strip_first = scheme != "never";
    return d;
  }
  throw Error(ErrorCode::kUnsupported, "tokenizer: decoder type \"" + type + "\" is not supported");
}

}  // namespace wick
