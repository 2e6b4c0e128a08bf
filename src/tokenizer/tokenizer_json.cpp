// tokenizer.json (+ tokenizer_config.json beside it) -> Tokenizer::Impl.
// Reference: tokenizers/src/tokenizer/serialization.rs and the component modules.
//
// The file is parsed with simdjson: the vocabulary and merges (megabytes: Llama 3's file is 9 MB
// of them) are read straight from its DOM; everything else (a few kilobytes of settings) is
// handed on as nlohmann::json, which the component factories take.
#include <simdjson.h>

#include <deque>
#include <filesystem>

#include "formats/json_fields.h"
#include "tokenizer/tokenizer_impl.h"
#include "wick/error.h"

namespace wick {
namespace fs = std::filesystem;
namespace {

std::string special_content(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
  return "";
}

int special_id(const nlohmann::json& pp, const char* field) {
  // RobertaProcessing / BertProcessing: "cls": ["<s>", 0]
  const auto& v = pp.at(field);
  if (!v.is_array() || v.size() != 2 || !v[1].is_number_integer())
    throw Error(ErrorCode::kCorruptFile, std::string("post_processor.") + field + " is not [token, id]");
  return v[1].get<int>();
}

void read_post_processor(const nlohmann::json& pp, Tokenizer::Impl& t) {
  if (!pp.is_object()) return;
  const std::string type = pp.value("type", "");
  if (type == "TemplateProcessing") {
    // The "single" template: special tokens before and after the sequence $A.
    bool after = false;
    for (const auto& piece : pp.at("single")) {
      if (piece.contains("Sequence")) {
        after = true;
        continue;
      }
      const std::string name = piece.at("SpecialToken").at("id").get<std::string>();
      for (const auto& id : pp.at("special_tokens").at(name).at("ids")) (after ? t.suffix_ids : t.prefix_ids).push_back(id.get<int>());
    }
  } else if (type == "RobertaProcessing" || type == "BertProcessing") {
    t.prefix_ids = {special_id(pp, "cls")};
    t.suffix_ids = {special_id(pp, "sep")};
  } else if (type == "Sequence") {
    for (const auto& p : pp.at("processors")) read_post_processor(p, t);
  } else if (type != "ByteLevel") {  // ByteLevel only adjusts offsets
    throw Error(ErrorCode::kUnsupported, "post-processor type \"" + type + "\" is not supported");
  }
}

// An element as nlohmann::json (for the small parts of the file).
nlohmann::json to_nlohmann(simdjson::dom::element e) { return nlohmann::json::parse(simdjson::minify(e)); }

void check(simdjson::error_code e, const char* what) {
  if (e) throw Error(ErrorCode::kCorruptFile, std::string(what) + ": " + simdjson::error_message(e));
}

// model.vocab {"token": id, ...} -> id_to_token.
std::vector<std::string> read_vocab(simdjson::dom::element vocab) {
  simdjson::dom::object obj;
  if (vocab.get(obj)) throw Error(ErrorCode::kCorruptFile, "tokenizer: model.vocab is not an object");
  std::vector<std::string> id_to_token;
  id_to_token.reserve(obj.size());
  for (auto field : obj) {
    int64_t id = 0;
    if (field.value.get(id))
      throw Error(ErrorCode::kCorruptFile, "tokenizer: vocab entry '" + std::string(field.key) + "' has no integer id");
    if (id < 0 || id > (1 << 24)) throw Error(ErrorCode::kCorruptFile, "tokenizer: vocab id " + std::to_string(id) + " out of range");
    if (static_cast<size_t>(id) >= id_to_token.size()) id_to_token.resize(static_cast<size_t>(id) + 1);
    id_to_token[static_cast<size_t>(id)] = std::string(field.key);
  }
  return id_to_token;
}

// model.merges: "a b" strings, or ["a", "b"] pairs (joined into `joined`, which the views keep
// pointing into).
std::vector<std::string_view> read_merges(simdjson::dom::element merges, std::deque<std::string>& joined) {
  simdjson::dom::array arr;
  if (merges.get(arr)) throw Error(ErrorCode::kCorruptFile, "tokenizer: model.merges is not an array");
  std::vector<std::string_view> out;
  out.reserve(arr.size());
  for (simdjson::dom::element entry : arr) {
    std::string_view str;
    simdjson::dom::array pair;
    if (!entry.get(str)) {
      out.push_back(str);
    } else if (!entry.get(pair) && pair.size() == 2 && pair.at(0).is_string() && pair.at(1).is_string()) {
      joined.push_back(std::string(pair.at(0).get_string().value()) + " " + std::string(pair.at(1).get_string().value()));
      out.push_back(joined.back());
    } else {
      throw Error(ErrorCode::kCorruptFile, "tokenizer: malformed merge " + simdjson::minify(entry));
    }
  }
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer::Impl> load_tokenizer_json(const std::string& path) {
  simdjson::padded_string text;
  if (simdjson::padded_string::load(path).get(text)) throw Error(ErrorCode::kIo, "cannot read " + path);
  simdjson::dom::parser parser;
  auto t = std::make_unique<Tokenizer::Impl>();
  t->source = path;
  try {
    simdjson::dom::element doc;
    check(parser.parse(text).get(doc), "malformed tokenizer JSON");
    simdjson::dom::object root, model_obj;
    if (doc.get(root) || root["model"].get(model_obj)) throw Error(ErrorCode::kCorruptFile, "no \"model\" object");
    // Everything but the vocabulary and merges, as nlohmann::json.
    nlohmann::json j = nlohmann::json::object(), model_settings = nlohmann::json::object();
    for (auto field : root)
      if (field.key != "model") j[std::string(field.key)] = to_nlohmann(field.value);
    for (auto field : model_obj)
      if (field.key != "vocab" && field.key != "merges") model_settings[std::string(field.key)] = to_nlohmann(field.value);
    const std::string type = model_settings.value("type", "BPE");
    if (type != "BPE")
      throw Error(ErrorCode::kUnsupported,
                  "model type \"" + type + "\" is not supported (only BPE; WordPiece, Unigram and WordLevel are not)");
    simdjson::dom::element vocab, merges;
    if (model_obj["vocab"].get(vocab)) throw Error(ErrorCode::kCorruptFile, "tokenizer: model has no vocab");
    if (model_obj["merges"].get(merges)) throw Error(ErrorCode::kCorruptFile, "tokenizer: model has no merges");
    std::deque<std::string> joined;
    t->model = BpeModel::from_parts(model_settings, read_vocab(vocab), read_merges(merges, joined));
    t->normalizer = make_normalizer(j.value("normalizer", nlohmann::json()));
    t->pre_tokenizer = make_pre_tokenizer(j.value("pre_tokenizer", nlohmann::json()));
    t->decoder = make_decoder(j.value("decoder", nlohmann::json()));
    if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
      for (const auto& a : j["added_tokens"]) {
        AddedToken at;
        at.id = a.at("id").get<int>();
        at.content = a.at("content").get<std::string>();
        at.special = a.value("special", false);
        at.lstrip = a.value("lstrip", false);
        at.rstrip = a.value("rstrip", false);
        at.single_word = a.value("single_word", false);
        // tokenizers' AddedToken default: normalized = !special.
        at.normalized = a.value("normalized", !at.special);
        if (at.id < 0 || at.id > (1 << 24) || at.content.empty()) throw Error(ErrorCode::kCorruptFile, "bad added token " + a.dump());
        t->added.push_back(at);
      }
    }
    read_post_processor(j.value("post_processor", nlohmann::json()), *t);
  } catch (const Error& e) {
    throw Error(e.code(), path + ": " + e.what());
  } catch (const nlohmann::json::exception& e) {
    throw Error(ErrorCode::kCorruptFile, path + ": malformed tokenizer: " + e.what());
  }

  // tokenizer_config.json: bos/eos, chat_template, and add_bos_token / add_eos_token which
  // (as in transformers' LlamaTokenizerFast.update_post_processor) override the template.
  const fs::path cfg_path = fs::path(path).parent_path() / "tokenizer_config.json";
  std::optional<bool> add_bos, add_eos;
  std::string bos_text, eos_text;
  if (fs::exists(cfg_path)) {
    const auto c = read_json_file(cfg_path.string());
    if (c.is_object()) {
      if (c.contains("bos_token")) bos_text = special_content(c["bos_token"]);
      if (c.contains("eos_token")) eos_text = special_content(c["eos_token"]);
      // Only the Llama-style tokenizer classes rebuild their post-processor from these flags;
      // others (PreTrainedTokenizerFast, Qwen2Tokenizer) keep tokenizer.json's.
      const std::string cls = c.value("tokenizer_class", "");
      const bool flags_apply = cls.empty() || cls.find("Llama") != std::string::npos || cls.find("Gemma") != std::string::npos;
      if (flags_apply && c.contains("add_bos_token") && c["add_bos_token"].is_boolean()) add_bos = c["add_bos_token"].get<bool>();
      if (flags_apply && c.contains("add_eos_token") && c["add_eos_token"].is_boolean()) add_eos = c["add_eos_token"].get<bool>();
      if (c.contains("chat_template") && c["chat_template"].is_string()) t->chat_template = c["chat_template"].get<std::string>();
    }
  }
  t->finish();
  if (!bos_text.empty())
    if (auto id = t->lookup(bos_text)) t->bos = *id;
  if (!eos_text.empty())
    if (auto id = t->lookup(eos_text)) t->eos = *id;
  if (add_bos) {
    t->prefix_ids.clear();
    if (*add_bos && t->bos >= 0) t->prefix_ids.push_back(t->bos);
  }
  if (add_eos) {
    t->suffix_ids.clear();
    if (*add_eos && t->eos >= 0) t->suffix_ids.push_back(t->eos);
  }
  return t;
}

}  // namespace wick
