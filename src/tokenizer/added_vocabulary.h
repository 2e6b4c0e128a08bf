// Added tokens (special or not) are split out of the text before the model runs, as
// tokenizers' AddedVocabulary does (tokenizers/src/tokenizer/added_vocabulary.rs):
// tokens with normalized=false are found in the raw text, tokens with normalized=true in
// each remaining segment after normalization. Matching is leftmost-longest through a byte
// trie, so its cost does not grow with the number of added tokens.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace wick {

struct AddedToken {
  int id = -1;
  std::string content;
  bool special = false;
  bool lstrip = false;       // swallow whitespace on the left of the match
  bool rstrip = false;       // swallow whitespace on the right of the match
  bool single_word = false;  // only match when not inside a word
  bool normalized = false;   // match in normalized text instead of raw text
};

// A piece of text after splitting: either an added token (id >= 0) or plain text to tokenize
// (id == -1), with its byte offset in the string that was split.
struct Segment {
  int id = -1;
  std::string_view text;
  size_t offset = 0;
};

class AddedTokenMatcher {
 public:
  void add(const AddedToken& token);
  bool empty() const { return tokens_.empty(); }
  // Splits s into plain and added-token segments (plain segments may be empty: callers skip them).
  void split(std::string_view s, std::vector<Segment>& out) const;

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int>> next;  // sorted by byte
    int token = -1;                                   // index into tokens_ when a token ends here
  };
  int child(int node, unsigned char c) const;
  std::vector<Node> nodes_{Node{}};
  std::vector<AddedToken> tokens_;
  bool first_byte_[256] = {};
};

}  // namespace wick
