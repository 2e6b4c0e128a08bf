// The tokenizer pipeline: added-token splitting -> normalizer -> pre-tokenizer -> BPE ->
// post-processor, and the reverse path through the decoder.
// Reference: tokenizers/src/tokenizer/mod.rs (encode_single_sequence, decode) and
// added_vocabulary.rs.
#include "wick/tokenizer.h"

#include <filesystem>

#include "formats/json_fields.h"
#include "tokenizer/bpe.h"
#include "tokenizer/pipeline.h"
#include "tokenizer/unicode.h"

namespace wick {
namespace fs = std::filesystem;

struct AddedToken {
  int id;
  std::string content;
  bool special, lstrip, rstrip, single_word;
};

struct Tokenizer::Impl {
  std::unique_ptr<Normalizer> normalizer;
  std::unique_ptr<PreTokenizer> pre_tokenizer;
  std::unique_ptr<BpeModel> model;
  std::unique_ptr<Decoder> decoder;
  std::vector<AddedToken> added;       // longest first, for matching
  std::vector<std::string> id_to_token;
  std::vector<bool> special;
  std::vector<int> prefix_ids, suffix_ids;  // added around a single sequence when add_special_tokens
  int bos = -1, eos = -1;

  void encode_plain(const std::string& text, bool first, std::vector<int>& out) const {
    if (text.empty()) return;
    std::string s = text;
    if (normalizer) normalizer->apply(s);
    std::vector<PreToken> pieces{{s, first}};
    if (pre_tokenizer) pre_tokenizer->apply(pieces);
    for (const auto& p : pieces) model->encode_word(p.text, out);
  }
};

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_word(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || (static_cast<unsigned char>(c) & 0x80); }

std::optional<int> lookup(const Tokenizer::Impl& t, const std::string& s) {
  for (const auto& a : t.added)
    if (a.content == s) return a.id;
  auto it = t.model->vocab().find(s);
  if (it != t.model->vocab().end()) return it->second;
  return std::nullopt;
}

std::string special_content(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

std::unique_ptr<Tokenizer::Impl> load_impl(const std::string& path) {
  const auto j = read_json_file(path);
  auto t = std::make_unique<Tokenizer::Impl>();
  try {
    if (!j.is_object() || !j.contains("model")) throw Error(ErrorCode::kCorruptFile, "no \"model\" object");
    const std::string type = j["model"].value("type", "BPE");
    if (type != "BPE") throw Error(ErrorCode::kUnsupported, "model type \"" + type + "\" is not supported (only BPE)");
    t->model = std::make_unique<BpeModel>(j["model"]);
    t->normalizer = make_normalizer(j.value("normalizer", nlohmann::json()));
    t->pre_tokenizer = make_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()));
    t->decoder = make_decoder(j.value("decoder", nlohmann::json()));
    t->id_to_token = t->model->id_to_token();
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& a : j["added_tokens"]) {
        AddedToken at{a.at("id").get<int>(), a.at("content").get<std::string>(), a.value("special", false),
                      a.value("lstrip", false), a.value("rstrip", false), a.value("single_word", false)};
        if (at.id < 0 || at.id > (1 << 24) || at.content.empty()) throw Error(ErrorCode::kCorruptFile, "bad added token " + a.dump());
        if (static_cast<size_t>(at.id) >= t->id_to_token.size()) t->id_to_token.resize(static_cast<size_t>(at.id) + 1);
        t->id_to_token[static_cast<size_t>(at.id)] = at.content;
        t->added.push_back(at);
      }
    }
    std::stable_sort(t->added.begin(), t->added.end(), [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
    t->special.assign(t->id_to_token.size(), false);
    for (const auto& a : t->added) t->special[static_cast<size_t>(a.id)] = a.special;
    // Post-processor: TemplateProcessing's "single" template (special tokens around $A).
    const auto pp = j.value("post_processor", nlohmann::json());
    if (pp.is_object() && pp.value("type", "") == "TemplateProcessing") {
      bool after = false;
      for (const auto& piece : pp.at("single")) {
        if (piece.contains("Sequence")) { after = true; continue; }
        const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
        const auto& ids = pp.at("special_tokens").at(name).at("ids");
        for (const auto& id : ids) (after ? t->suffix_ids : t->prefix_ids).push_back(id.get<int>());
      }
    } else if (pp.is_object() && pp.value("type", "") != "ByteLevel" && pp.value("type", "") != "") {
      throw Error(ErrorCode::kUnsupported, "post-processor type \"" + pp.value("type", "") + "\" is not supported");
    }
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": malformed tokenizer: " + e.what());
  }

  // tokenizer_config.json: bos/eos, and add_bos_token / add_eos_token which (as in
  // transformers' LlamaTokenizerFast.update_post_processor) override the template.
  const fs::path cfg_path = fs::path(path).parent_path() / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    const auto c = read_json_file(cfg_path.string());
    if (c.is_object()) {
      if (c.contains("bos_token")) if (auto id = lookup(*t, special_content(c["bos_token"]))) t->bos = *id;
      if (c.contains("eos_token")) if (auto id = lookup(*t, special_content(c["eos_token"]))) t->eos = *id;
      if (c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) {
        t->prefix_ids.clear();
        if (c["add_bos_token"].get<bool>() && t->bos >= 0) t->prefix_ids.push_back(t->bos);
      }
      if (c.contains("add_eos_token") && c["add_eos_token"].is_boolean()) {
        t->suffix_ids.clear();
        if (c["add_eos_token"].get<bool>() && t->eos >= 0) t->suffix_ids.push_back(t->eos);
      }
    }
  }
  for (int id : t->prefix_ids)
    if (id < 0 || static_cast<size_t>(id) >= t->id_to_token.size()) throw Error(ErrorCode::kCorruptFile, path + ": template token id " + std::to_string(id) + " out of range");
  return t;
}

}  // namespace

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

Result<std::shared_ptr<Tokenizer>> Tokenizer::from_file(const std::string& tokenizer_json) {
  return capture_errors([&] { return std::shared_ptr<Tokenizer>(new Tokenizer(load_impl(tokenizer_json))); });
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
    // Split on added tokens, longest match first at the earliest position.
    std::string pending;
    bool first = true;
    size_t i = 0;
    const std::string s(text);
    while (i < s.size()) {
      const AddedToken* hit = nullptr;
      if (opts.parse_special) {
        for (const auto& a : t.added) {
          if (s.compare(i, a.content.size(), a.content) != 0) continue;
          if (a.single_word && ((i > 0 && is_word(s[i - 1])) || (i + a.content.size() < s.size() && is_word(s[i + a.content.size()]))))
            continue;
          hit = &a;
          break;
        }
      }
      if (!hit) { pending.push_back(s[i++]); continue; }
      if (hit->lstrip) while (!pending.empty() && is_space(pending.back())) pending.pop_back();
      t.encode_plain(pending, first, out);
      pending.clear();
      first = false;
      out.push_back(hit->id);
      i += hit->content.size();
      if (hit->rstrip) while (i < s.size() && is_space(s[i])) ++i;
    }
    t.encode_plain(pending, first, out);
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
  return out;
}

int Tokenizer::vocab_size() const { return static_cast<int>(impl_->id_to_token.size()); }
std::string Tokenizer::token_text(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->id_to_token.size() ? impl_->id_to_token[static_cast<size_t>(id)] : "";
}
std::optional<int> Tokenizer::token_id(const std::string& token) const { return lookup(*impl_, token); }
bool Tokenizer::is_special(int id) const {
  return id >= 0 && static_cast<size_t>(id) < impl_->special.size() && impl_->special[static_cast<size_t>(id)];
}
int Tokenizer::bos_id() const { return impl_->bos; }
int Tokenizer::eos_id() const { return impl_->eos; }

void StreamDecoder::prime(const std::vector<int>& context) {
  const size_t keep = std::min<size_t>(context.size(), 4);
  ids_.assign(context.end() - static_cast<std::ptrdiff_t>(keep), context.end());
  emitted_ = tok_.decode(ids_, skip_special_).size();
}

std::string StreamDecoder::push(int id) {
  ids_.push_back(id);
  // Re-decode the ids so far and return what is new. Decoders such as Strip(start=1) act on
  // the first token, so the window keeps its first token fixed.
  const std::string text = tok_.decode(ids_, skip_special_);
  if (text.size() < emitted_) return "";
  std::string_view fresh(text);
  fresh.remove_prefix(emitted_);
  const size_t tail = incomplete_utf8_tail(fresh);
  // A trailing U+FFFD may be an incomplete byte-fallback sequence that the next token completes.
  if (tail == 0 && fresh.size() >= 3 && fresh.substr(fresh.size() - 3) == "\xEF\xBF\xBD") return "";
  std::string out(fresh.substr(0, fresh.size() - tail));
  emitted_ += out.size();
  return out;
}

std::string StreamDecoder::flush() {
  const std::string text = tok_.decode(ids_, skip_special_);
  std::string out = text.size() > emitted_ ? text.substr(emitted_) : "";
  emitted_ = text.size();
  return out;
}

}  // namespace wick
