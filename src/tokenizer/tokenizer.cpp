// The tokenizer pipeline: added-token splitting -> normalizer -> (normalized added tokens) ->
// pre-tokenizer -> BPE -> post-processor, and the reverse path through the decoder.
// Reference: tokenizers/src/tokenizer/mod.rs (encode_single_sequence, decode) and
// added_vocabulary.rs.
#include "wick/tokenizer.h"

#include <filesystem>

#include "formats/gguf.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace wick {
namespace fs = std::filesystem;

void Tokenizer::Impl::finish() {
  id_to_token = model->id_to_token();
  for (const auto& a : added) {
    if (static_cast<size_t>(a.id) >= id_to_token.size()) id_to_token.resize(static_cast<size_t>(a.id) + 1);
    id_to_token[static_cast<size_t>(a.id)] = a.content;
  }
  special.assign(id_to_token.size(), 0);
  byte_token.assign(id_to_token.size(), 0);
  for (const auto& a : added) special[static_cast<size_t>(a.id)] = a.special;
  for (size_t id = 0; id < id_to_token.size(); ++id) {
    const std::string& s = id_to_token[id];
    byte_token[id] = s.size() == 6 && s.compare(0, 3, "<0x") == 0 && s[5] == '>' && std::isxdigit(static_cast<unsigned char>(s[3])) &&
                     std::isxdigit(static_cast<unsigned char>(s[4]));
  }
  for (const auto& a : added) {
    // A normalized token is looked for in normalized text, so its own text is normalized too
    // (added_vocabulary.rs refresh_added_tokens).
    AddedToken m = a;
    if (a.normalized && normalizer) normalizer->apply(m.content);
    for (int with_special = 0; with_special < 2; ++with_special)
      if (with_special || !a.special) matchers[a.normalized ? 1 : 0][with_special].add(m);
  }
  for (const auto* ids : {&prefix_ids, &suffix_ids})
    for (int id : *ids)
      if (id < 0 || static_cast<size_t>(id) >= id_to_token.size())
        throw Error(ErrorCode::kCorruptFile, source + ": post-processor token id " + std::to_string(id) + " is out of range");
  for (int id : {bos, eos})
    if (id >= static_cast<int>(id_to_token.size())) throw Error(ErrorCode::kCorruptFile, source + ": bos/eos id out of range");
}

std::optional<int> Tokenizer::Impl::lookup(const std::string& token) const {
  for (const auto& a : added)
    if (a.content == token) return a.id;
  const int id = model->find(token);
  return id >= 0 ? std::optional<int>(id) : std::nullopt;
}

void Tokenizer::Impl::encode(std::string_view text, const EncodeOptions& opts, std::vector<int>& out) const {
  std::vector<Segment> raw;
  matchers[0][opts.parse_special].split(text, raw);
  for (const Segment& seg : raw) {
    if (seg.id >= 0)
      out.push_back(seg.id);
    else if (!seg.text.empty())
      encode_normalized(seg.text, seg.offset, opts, out);
  }
}

void Tokenizer::Impl::encode_normalized(std::string_view text, size_t offset, const EncodeOptions& opts, std::vector<int>& out) const {
  std::string s(text);
  if (normalizer) normalizer->apply(s);
  std::vector<Segment> segs;
  matchers[1][opts.parse_special].split(s, segs);
  std::vector<PreToken> pieces;
  for (const Segment& seg : segs) {
    if (seg.id >= 0) {
      out.push_back(seg.id);
      continue;
    }
    if (seg.text.empty()) continue;
    // `first`: the piece starts the input (Metaspace prepend_scheme "first" acts only there).
    pieces.assign(1, PreToken{std::string(seg.text), offset == 0 && seg.offset == 0});
    if (pre_tokenizer) pre_tokenizer->apply(pieces);
    for (const auto& p : pieces) {
      if (reference_bpe)
        model->encode_word_reference(p.text, out);
      else
        model->encode_word(p.text, out);
    }
  }
}

namespace {

std::unique_ptr<Tokenizer::Impl> load_any(const std::string& path) {
  if (!fs::exists(path)) throw Error(ErrorCode::kNotFound, "tokenizer file not found: " + path);
  if (GgufFile::has_magic(path)) return load_gguf_tokenizer(*GgufFile::open(path));
  return load_tokenizer_json(path);
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::shared_ptr<Tokenizer>> Tokenizer::from_file(const std::string& path) {
  return capture_errors([&] { return std::shared_ptr<Tokenizer>(new Tokenizer(load_any(path))); });
}

Result<std::shared_ptr<Tokenizer>> Tokenizer::from_gguf(const GgufFile& gguf) {
  return capture_errors([&] { return std::shared_ptr<Tokenizer>(new Tokenizer(load_gguf_tokenizer(gguf))); });
}

Result<std::shared_ptr<Tokenizer>> Tokenizer::from_dir(const std::string& model_dir) {
  const fs::path p = fs::path(model_dir) / "tokenizer.json";
  if (!fs::exists(p)) return Error(ErrorCode::kNotFound, "no tokenizer.json in " + model_dir);
  return from_file(p.string());
}

Result<std::vector<int>> Tokenizer::encode(std::string_view text, const EncodeOptions& opts) const {
  return capture_errors([&] {
    if (!is_valid_utf8(text)) throw Error(ErrorCode::kInvalidArgument, "text is not valid UTF-8");
    const Impl& t = *impl_;
    std::vector<int> out;
    if (opts.add_special_tokens) out = t.prefix_ids;
    t.encode(text, opts, out);
    if (opts.add_special_tokens) out.insert(out.end(), t.suffix_ids.begin(), t.suffix_ids.end());
    return out;
  });
}

std::string Tokenizer::decode(const std::vector<int>& ids, bool skip_special) const {
  const Impl& t = *impl_;
  std::vector<std::string> toks;
  toks.reserve(ids.size());
  for (int id : ids) {
    if (id < 0 || static_cast<size_t>(id) >= t.id_to_token.size()) continue;  // unknown ids decode to nothing
    if (skip_special && t.special[static_cast<size_t>(id)]) continue;
    toks.push_back(t.id_to_token[static_cast<size_t>(id)]);
  }
  if (t.decoder) t.decoder->apply(toks);
  std::string out;
  for (const auto& s : toks) out += s;
  // Byte-level tokens can spell invalid UTF-8; like tokenizers (String::from_utf8_lossy) the
  // result replaces each invalid sequence with U+FFFD, so decode always returns valid text.
  return is_valid_utf8(out) ? out : utf8_lossy(out);
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->id_to_token.size()); }
std::string Tokenizer::token_text(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->id_to_token.size() ? impl_->id_to_token[static_cast<size_t>(id)] : "";
}
std::optional<int> Tokenizer::token_id(const std::string& token) const { return impl_->lookup(token); }
bool Tokenizer::is_special(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[static_cast<size_t>(id)];
}
int Tokenizer::bos_id() const { return impl_->bos; }
int Tokenizer::eos_id() const { return impl_->eos; }
bool Tokenizer::adds_bos() const { return !impl_->prefix_ids.empty() && impl_->prefix_ids[0] == impl_->bos; }
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }
const std::string& Tokenizer::source() const { return impl_->source; }

bool Tokenizer::is_byte_token(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->byte_token.size() && impl_->byte_token[static_cast<size_t>(id)];
}

void StreamDecoder::prime(const std::vector<int>& context) {
  const size_t keep = std::min<size_t>(context.size(), kContext);
  ids_.assign(context.end() - static_cast<std::ptrdiff_t>(keep), context.end());
  emitted_ = tok_.decode(ids_, skip_special_).size();
}

std::string StreamDecoder::push(int id) {
  ids_.push_back(id);
  // A run of <0xAB> byte tokens decodes as a whole (one U+FFFD per byte if the run is not
  // valid UTF-8), so its text is final only once a non-byte token ends it.
  if (tok_.is_byte_token(id)) return "";
  const std::string text = tok_.decode(ids_, skip_special_);
  if (text.size() < emitted_) return "";
  std::string_view fresh(text);
  fresh.remove_prefix(emitted_);
  // A trailing U+FFFD may be an incomplete UTF-8 sequence that the next token completes.
  if (fresh.size() >= 3 && fresh.substr(fresh.size() - 3) == "\xEF\xBF\xBD") return "";
  std::string out(fresh);
  emitted_ += out.size();
  // Keep the window short so each step costs O(1), not O(tokens so far). Everything is
  // emitted at this point and decoding is local past the window's first token, so the last
  // few ids are enough context for what follows.
  if (ids_.size() >= 4 * kContext) {
    ids_.erase(ids_.begin(), ids_.end() - static_cast<std::ptrdiff_t>(kContext));
    emitted_ = tok_.decode(ids_, skip_special_).size();
  }
  return out;
}

std::string StreamDecoder::flush() {
  const std::string text = tok_.decode(ids_, skip_special_);
  std::string out = text.size() > emitted_ ? text.substr(emitted_) : "";
  emitted_ = text.size();
  return out;
}

}  // namespace wick
