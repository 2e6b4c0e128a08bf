#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <queue>

#include "tokenizer/unicode.h"
#include "wick/error.h"

namespace wick {

void PairMap::reserve(size_t n) {
  size_t cap = 16;
  while (cap < n * 2) cap *= 2;
  if (cap <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(cap, Slot{});
  mask_ = cap - 1;
  size_ = 0;
  for (const Slot& s : old)
    if (s.key != kEmpty) insert(s.key, s.value);
}

void PairMap::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

void PairMap::insert(uint64_t key, Value v) {
  if ((size_ + 1) * 2 > slots_.size()) grow();
  for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
    Slot& s = slots_[i];
    if (s.key == key) return;
    if (s.key == kEmpty) {
      s.key = key;
      s.value = v;
      ++size_;
      return;
    }
  }
}

BpeModel::BpeModel(std::vector<std::string> id_to_token, BpeOptions opts) : id_to_token_(std::move(id_to_token)), opts_(std::move(opts)) {
  vocab_.reserve(id_to_token_.size());
  for (size_t id = 0; id < id_to_token_.size(); ++id)
    if (!id_to_token_[id].empty()) vocab_.emplace(id_to_token_[id], static_cast<int>(id));
  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = find(name);
  }
  // The tokens that are one character of the Basic Multilingual Plane, in id order so the first
  // id wins as in find(): one pass over the vocabulary rather than 65536 lookups.
  char_ids_.assign(0x10000, -1);
  std::string canonical;
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    const std::string& s = id_to_token_[id];
    if (s.empty() || s.size() > 3 || static_cast<size_t>(utf8_len(static_cast<unsigned char>(s[0]))) != s.size()) continue;
    const uint32_t cp = decode_utf8(s.data(), s.size());
    canonical.clear();
    append_utf8(canonical, cp);  // only the shortest encoding names the character
    if (cp < 0x10000 && (cp < 0xD800 || cp > 0xDFFF) && canonical == s && char_ids_[cp] < 0) char_ids_[cp] = static_cast<int>(id);
  }
  if (opts_.unk_id >= size()) throw Error(ErrorCode::kCorruptFile, "tokenizer: unknown-token id out of range");
}

std::unique_ptr<BpeModel> BpeModel::from_parts(const nlohmann::json& m, std::vector<std::string> id_to_token,
                                               const std::vector<std::string_view>& merges) {
  auto opt_string = [&](const char* key) { return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : std::string(); };
  BpeOptions o;
  o.prefix = opt_string("continuing_subword_prefix");
  o.suffix = opt_string("end_of_word_suffix");
  o.byte_fallback = m.value("byte_fallback", false);
  o.fuse_unk = m.value("fuse_unk", false);
  o.ignore_merges = m.value("ignore_merges", false);
  const std::string unk = opt_string("unk_token");
  auto model = std::make_unique<BpeModel>(std::move(id_to_token), o);
  if (!unk.empty()) {
    model->opts_.unk_id = model->find(unk);
    if (model->opts_.unk_id < 0) throw Error(ErrorCode::kCorruptFile, "tokenizer: unk_token '" + unk + "' is not in the vocab");
  }
  model->add_merges(merges);
  return model;
}

void BpeModel::add_merge(int left, int right, int rank, int merged) {
  merges_.insert(pair_key(left, right), Merge{rank, merged});  // a repeated pair keeps its first (best) rank
}

void BpeModel::add_merges(const std::vector<std::string_view>& merges) {
  merges_.reserve(merges_.size() + merges.size());
  int rank = 0;
  for (std::string_view s : merges) {
    // Split at the first space after the first character ("Ġ Ġ" -> "Ġ", "Ġ").
    const size_t sp = s.find(' ', 1);
    if (sp == std::string_view::npos) throw Error(ErrorCode::kCorruptFile, "tokenizer: merge '" + std::string(s) + "' is not 'a b'");
    const std::string_view a = s.substr(0, sp), b = s.substr(sp + 1);
    const std::string_view b_core =
        !opts_.prefix.empty() && b.substr(0, opts_.prefix.size()) == opts_.prefix ? b.substr(opts_.prefix.size()) : b;
    const std::string merged = std::string(a) + std::string(b_core);
    const int ia = find(a), ib = find(b), im = find(merged);
    if (ia < 0 || ib < 0 || im < 0)
      throw Error(ErrorCode::kCorruptFile, "tokenizer: merge '" + std::string(s) + "' uses a token that is not in the vocab");
    add_merge(ia, ib, rank++, im);
  }
}

void BpeModel::add_merges_from_scores(const std::vector<float>& scores, const std::vector<bool>& mergeable) {
  // Dense rank by descending score: equal scores share a rank so the leftmost pair merges
  // first, as in sentencepiece's priority queue (score, then position).
  std::vector<float> distinct;
  for (size_t id = 0; id < id_to_token_.size(); ++id)
    if (mergeable[id]) distinct.push_back(scores[id]);
  std::sort(distinct.begin(), distinct.end(), std::greater<>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  for (size_t id = 0; id < id_to_token_.size(); ++id) {
    if (!mergeable[id]) continue;
    const std::string& piece = id_to_token_[id];
    if (find(piece) != static_cast<int>(id)) continue;  // a duplicate string: the first id owns it
    const int rank = static_cast<int>(std::lower_bound(distinct.begin(), distinct.end(), scores[id], std::greater<>()) - distinct.begin());
    for (size_t k = static_cast<size_t>(utf8_len(static_cast<unsigned char>(piece[0]))); k < piece.size();
         k += static_cast<size_t>(utf8_len(static_cast<unsigned char>(piece[k])))) {
      const int l = find(std::string_view(piece).substr(0, k)), r = find(std::string_view(piece).substr(k));
      if (l >= 0 && r >= 0) add_merge(l, r, rank, static_cast<int>(id));
    }
  }
}

void BpeModel::initial_symbols(std::string_view word, std::vector<int>& ids) const {
  bool last_unk = false;
  const bool affixes = !opts_.prefix.empty() || !opts_.suffix.empty();
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    const size_t n = std::min(static_cast<size_t>(utf8_len(static_cast<unsigned char>(word[i]))), word.size() - i);
    int id;
    if (affixes) {
      piece.assign(word.substr(i, n));
      if (i > 0) piece = opts_.prefix + piece;
      if (i + n == word.size()) piece += opts_.suffix;
      id = find(piece);
    } else if (n < 4) {  // below U+10000: the table (the text was validated as UTF-8)
      id = char_ids_[decode_utf8(word.data() + i, n)];
    } else {
      id = find(word.substr(i, n));
    }
    if (id >= 0) {
      ids.push_back(id);
      last_unk = false;
    } else {
      bool all_bytes = opts_.byte_fallback;
      for (size_t k = 0; all_bytes && k < n; ++k) all_bytes = byte_ids_[static_cast<unsigned char>(word[i + k])] >= 0;
      if (all_bytes) {
        for (size_t k = 0; k < n; ++k) ids.push_back(byte_ids_[static_cast<unsigned char>(word[i + k])]);
        last_unk = false;
      } else if (opts_.unk_id >= 0) {
        if (!(opts_.fuse_unk && last_unk)) ids.push_back(opts_.unk_id);
        last_unk = true;
      } else {
        throw Error(ErrorCode::kInvalidArgument,
                    "tokenizer: character '" + std::string(word.substr(i, n)) + "' is not in the vocabulary and there is no unknown token");
      }
    }
    i += n;
  }
}

void BpeModel::merge_short_word(std::vector<int>& ids) const {
  // merge[i]: the merge of the pair (ids[i], ids[i + 1]), or null. Only the two pairs next to
  // a merge change, so each step is one linear scan and two lookups.
  constexpr size_t kMax = kShortWord;
  const Merge* merge[kMax];
  size_t n = ids.size();
  for (size_t i = 0; i + 1 < n; ++i) merge[i] = find_merge(ids[i], ids[i + 1]);
  while (n > 1) {
    size_t best = n;
    for (size_t i = 0; i + 1 < n; ++i)
      if (merge[i] && (best == n || merge[i]->rank < merge[best]->rank)) best = i;
    if (best == n) break;
    ids[best] = merge[best]->id;
    for (size_t i = best + 1; i + 1 < n; ++i) {
      ids[i] = ids[i + 1];
      merge[i] = merge[i + 1];
    }
    --n;
    if (best > 0) merge[best - 1] = find_merge(ids[best - 1], ids[best]);
    if (best + 1 < n) merge[best] = find_merge(ids[best], ids[best + 1]);
  }
  ids.resize(n);
}

bool BpeModel::whole_word(std::string_view word, std::vector<int>& out) const {
  if (word.empty()) return true;
  if (opts_.ignore_merges) {
    if (const int id = find(word); id >= 0) {
      out.push_back(id);
      return true;
    }
  }
  return false;
}

void BpeModel::encode_word_reference(std::string_view word, std::vector<int>& out) const {
  if (whole_word(word, out)) return;
  std::vector<int> ids;
  initial_symbols(word, ids);
  for (;;) {
    size_t best = ids.size();
    const Merge* best_merge = nullptr;
    for (size_t i = 0; i + 1 < ids.size(); ++i) {
      const Merge* m = find_merge(ids[i], ids[i + 1]);
      if (m && (!best_merge || m->rank < best_merge->rank)) {
        best = i;
        best_merge = m;
      }
    }
    if (!best_merge) break;
    ids[best] = best_merge->id;
    ids.erase(ids.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  out.insert(out.end(), ids.begin(), ids.end());
}

void BpeModel::encode_word(std::string_view word, std::vector<int>& out) const {
  if (whole_word(word, out)) return;
  thread_local std::vector<int> ids;  // reused: no allocation per word
  ids.clear();
  initial_symbols(word, ids);
  // Short words (almost all of them after pre-tokenization) are cheapest to merge by
  // rescanning a few pairs; long ones (SentencePiece-style inputs are one word per text) need
  // the priority queue to stay O(n log n).
  if (ids.size() <= kShortWord) {
    merge_short_word(ids);
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }
  // Long words: symbols in a doubly linked list.
  struct Sym {
    int id;
    int prev;
    int next;
  };
  std::vector<Sym> syms(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) syms[i].id = ids[i];
  const int count = static_cast<int>(syms.size());
  for (int i = 0; i < count; ++i) {
    syms[static_cast<size_t>(i)].prev = i - 1;
    syms[static_cast<size_t>(i)].next = i + 1 < count ? i + 1 : -1;
  }
  // Merge the lowest-ranked adjacent pair first (leftmost on ties), as word.rs merge_all does.
  // Stale queue entries are skipped when popped, so each merge costs O(log n).
  struct Cand {
    int rank;
    int pos;
    int right;
    int id;
  };
  auto cmp = [](const Cand& x, const Cand& y) { return x.rank != y.rank ? x.rank > y.rank : x.pos > y.pos; };
  std::priority_queue<Cand, std::vector<Cand>, decltype(cmp)> queue(cmp);
  auto push = [&](int pos) {
    if (pos < 0) return;
    const int nxt = syms[static_cast<size_t>(pos)].next;
    if (nxt < 0) return;
    if (const Merge* m = find_merge(syms[static_cast<size_t>(pos)].id, syms[static_cast<size_t>(nxt)].id))
      queue.push({m->rank, pos, nxt, m->id});
  };
  std::vector<bool> dead(syms.size(), false);
  for (int i = 0; i < count; ++i) push(i);
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    Sym& s = syms[static_cast<size_t>(c.pos)];
    if (dead[static_cast<size_t>(c.pos)] || s.next != c.right || dead[static_cast<size_t>(c.right)]) continue;
    const Merge* m = find_merge(s.id, syms[static_cast<size_t>(c.right)].id);
    if (!m || m->id != c.id) continue;  // stale entry
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
