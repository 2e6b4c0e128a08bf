#include "tokenizer/bpe.h"

#include <cstdio>
#include <queue>

#include "tokenizer/unicode.h"
#include "wick/error.h"

namespace wick {

BpeModel::BpeModel(const nlohmann::json& m) {
  const auto& vocab = m.at("vocab");
  if (!vocab.is_object()) throw Error(ErrorCode::kCorruptFile, "tokenizer: model.vocab is not an object");
  int max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer()) throw Error(ErrorCode::kCorruptFile, "tokenizer: vocab entry '" + it.key() + "' has no integer id");
    const int id = it.value().get<int>();
    if (id < 0 || id > (1 << 24)) throw Error(ErrorCode::kCorruptFile, "tokenizer: vocab id " + std::to_string(id) + " out of range");
    vocab_[it.key()] = id;
    max_id = std::max(max_id, id);
  }
  id_to_token_.resize(static_cast<size_t>(max_id + 1));
  for (const auto& [tok, id] : vocab_) id_to_token_[static_cast<size_t>(id)] = tok;

  auto opt_string = [&](const char* key) {
    return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string();
  };
  prefix_ = opt_string("continuing_subword_prefix");
  suffix_ = opt_string("end_of_word_suffix");
  byte_fallback_ = m.value("byte_fallback", false);
  fuse_unk_ = m.value("fuse_unk", false);
  ignore_merges_ = m.value("ignore_merges", false);
  const std::string unk = opt_string("unk_token");
  if (!unk.empty()) {
    auto it = vocab_.find(unk);
    if (it == vocab_.end()) throw Error(ErrorCode::kCorruptFile, "tokenizer: unk_token '" + unk + "' is not in the vocab");
    unk_id_ = it->second;
  }
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    auto it = vocab_.find(name);
    byte_ids_[b] = it == vocab_.end() ? -1 : it->second;
  }

  const auto& merges = m.at("merges");
  int rank = 0;
  for (const auto& entry : merges) {
    std::string a, b;
    if (entry.is_string()) {  // "a b"
      const std::string s = entry.get<std::string>();
      const auto sp = s.find(' ', 1);
      if (sp == std::string::npos) throw Error(ErrorCode::kCorruptFile, "tokenizer: merge '" + s + "' is not 'a b'");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (entry.is_array() && entry.size() == 2 && entry[0].is_string() && entry[1].is_string()) {
      a = entry[0].get<std::string>();
      b = entry[1].get<std::string>();
    } else {
      throw Error(ErrorCode::kCorruptFile, "tokenizer: malformed merge " + entry.dump());
    }
    const std::string merged = a + (prefix_.empty() || b.compare(0, prefix_.size(), prefix_) != 0 ? b : b.substr(prefix_.size()));
    auto ia = vocab_.find(a), ib = vocab_.find(b), im = vocab_.find(merged);
    if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end())
      throw Error(ErrorCode::kCorruptFile, "tokenizer: merge '" + a + " " + b + "' uses a token that is not in the vocab");
    const uint64_t key = (static_cast<uint64_t>(ia->second) << 32) | static_cast<uint32_t>(ib->second);
    merges_.emplace(key, Merge{rank++, im->second});
  }
}

void BpeModel::encode_word(const std::string& word, std::vector<int>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto it = vocab_.find(word); it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  // Initial symbols: one per character (or per byte with byte fallback, or unk).
  struct Sym { int id; int prev; int next; };
  std::vector<Sym> syms;
  bool last_unk = false;
  for (size_t i = 0; i < word.size();) {
    const size_t n = std::min(static_cast<size_t>(utf8_len(static_cast<unsigned char>(word[i]))), word.size() - i);
    std::string piece = word.substr(i, n);
    if (i > 0 && !prefix_.empty()) piece = prefix_ + piece;
    if (i + n == word.size() && !suffix_.empty()) piece += suffix_;
    auto it = vocab_.find(piece);
    if (it != vocab_.end()) {
      syms.push_back({it->second, 0, 0});
      last_unk = false;
    } else {
      bool all_bytes = byte_fallback_;
      for (size_t k = 0; all_bytes && k < n; ++k) all_bytes = byte_ids_[static_cast<unsigned char>(word[i + k])] >= 0;
      if (all_bytes) {
        for (size_t k = 0; k < n; ++k) syms.push_back({byte_ids_[static_cast<unsigned char>(word[i + k])], 0, 0});
        last_unk = false;
      } else if (unk_id_ >= 0) {
        if (!(fuse_unk_ && last_unk)) syms.push_back({unk_id_, 0, 0});
        last_unk = true;
      } else {
        throw Error(ErrorCode::kInvalidArgument, "tokenizer: character '" + word.substr(i, n) +
                                                     "' is not in the vocabulary and there is no unknown token");
      }
    }
    i += n;
  }
  const int count = static_cast<int>(syms.size());
  for (int i = 0; i < count; ++i) {
    syms[static_cast<size_t>(i)].prev = i - 1;
    syms[static_cast<size_t>(i)].next = i + 1 < count ? i + 1 : -1;
  }
  // Merge the lowest-ranked adjacent pair first (leftmost on ties), as word.rs merge_all does.
  struct Cand { int rank; int pos; int right; int id; };
  auto cmp = [](const Cand& x, const Cand& y) { return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(cmp)> queue(cmp);
  auto push = [&](int pos) {
    if (pos < 0) return;
    const int nxt = syms[static_cast<size_t>(pos)].next;
    if (nxt < 0) return;
    const uint64_t key = (static_cast<uint64_t>(syms[static_cast<size_t>(pos)].id) << 32) |
                         static_cast<uint32_t>(syms[static_cast<size_t>(nxt)].id);
    auto it = merges_.find(key);
    if (it != merges_.end()) queue.push({it->second.rank, pos, nxt, it->second.id});
  };
  std::vector<bool> dead(syms.size(), false);
  for (int i = 0; i < count; ++i) push(i);
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    Sym& s = syms[static_cast<size_t>(c.pos)];
    if (dead[static_cast<size_t>(c.pos)] || s.next != c.right || dead[static_cast<size_t>(c.right)]) continue;
    const uint64_t key = (static_cast<uint64_t>(s.id) << 32) | static_cast<uint32_t>(syms[static_cast<size_t>(c.right)].id);
    auto it = merges_.find(key);
    if (it == merges_.end() || it->second.id != c.id) continue;  // stale entry
    s.id = c.id;
    dead[static_cast<size_t>(c.right)] = true;
    s.next = syms[static_cast<size_t>(c.right)].next;
    if (s.next >= 0) syms[static_cast<size_t>(s.next)].prev = c.pos;
    push(s.prev);
    push(c.pos);
  }
  for (int i = 0; i >= 0 && i < count; i = syms[static_cast<size_t>(i)].next) out.push_back(syms[static_cast<size_t>(i)].id);
}

}  // namespace wick
