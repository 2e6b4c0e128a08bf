#include "tokenizer/added_vocabulary.h"

#include <algorithm>

#include "tokenizer/unicode.h"

namespace wick {
namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
// Word characters for single_word: ASCII alphanumerics, '_' and any non-ASCII byte (letters
// of other scripts), an approximation of Rust's char::is_alphanumeric that HF uses.
bool is_word(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

}  // namespace

int AddedTokenMatcher::child(int node, unsigned char c) const {
  const auto& nx = nodes_[static_cast<size_t>(node)].next;
  auto it = std::lower_bound(nx.begin(), nx.end(), std::make_pair(c, 0), [](const auto& a, const auto& b) { return a.first < b.first; });
  return it != nx.end() && it->first == c ? it->second : -1;
}

void AddedTokenMatcher::add(const AddedToken& token) {
  if (token.content.empty()) return;
  int node = 0;
  for (unsigned char c : token.content) {
    int nxt = child(node, c);
    if (nxt < 0) {
      nxt = static_cast<int>(nodes_.size());
      nodes_.push_back(Node{});
      auto& v = nodes_[static_cast<size_t>(node)].next;
      v.insert(std::upper_bound(v.begin(), v.end(), std::make_pair(c, 0), [](const auto& a, const auto& b) { return a.first < b.first; }),
               {c, nxt});
    }
    node = nxt;
  }
  auto& slot = nodes_[static_cast<size_t>(node)].token;
  if (slot >= 0) {
    tokens_[static_cast<size_t>(slot)] = token;  // same content twice: the later entry wins
  } else {
    slot = static_cast<int>(tokens_.size());
    tokens_.push_back(token);
  }
  first_byte_[static_cast<unsigned char>(token.content[0])] = true;
}

void AddedTokenMatcher::split(std::string_view s, std::vector<Segment>& out) const {
  size_t plain_begin = 0;
  size_t i = 0;
  while (i < s.size()) {
    if (!first_byte_[static_cast<unsigned char>(s[i])]) {
      ++i;
      continue;
    }
    // Longest token starting at i.
    int node = 0, best = -1;
    size_t best_end = 0;
    for (size_t j = i; j < s.size(); ++j) {
      node = child(node, static_cast<unsigned char>(s[j]));
      if (node < 0) break;
      if (nodes_[static_cast<size_t>(node)].token >= 0) {
        best = nodes_[static_cast<size_t>(node)].token;
        best_end = j + 1;
      }
    }
    if (best < 0) {
      ++i;
      continue;
    }
    const AddedToken& t = tokens_[static_cast<size_t>(best)];
    if (t.single_word && ((i > 0 && is_word(static_cast<unsigned char>(s[i - 1]))) ||
                          (best_end < s.size() && is_word(static_cast<unsigned char>(s[best_end]))))) {
      i = best_end;  // a discarded match is still consumed, as in the Aho-Corasick iteration HF uses
      continue;
    }
    size_t begin = i, end = best_end;
    if (t.lstrip)
      while (begin > plain_begin && is_space(static_cast<unsigned char>(s[begin - 1]))) --begin;
    if (t.rstrip)
      while (end < s.size() && is_space(static_cast<unsigned char>(s[end]))) ++end;
    out.push_back({-1, s.substr(plain_begin, begin - plain_begin), plain_begin});
    out.push_back({t.id, s.substr(begin, end - begin), begin});
    plain_begin = i = end;
  }
  out.push_back({-1, s.substr(plain_begin), plain_begin});
}

}  // namespace wick
