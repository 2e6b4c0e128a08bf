// The content index of the KV cache's prefix caching: full blocks keyed by the hash of the
// whole token prefix they end (a chain: hash(block i) = H(hash(block i-1), tokens of block i)),
// so a later sequence that starts with the same tokens finds and shares them instead of
// recomputing them (the same proof-search prompt header, the same chat system prompt). This is
// vLLM's automatic prefix caching (hash of prefix + block tokens); every hit is verified
// against the stored tokens and parent hash, so a hash collision cannot serve wrong keys.
//
// Blocks nobody references but that hold indexed content are *evictable*: they stay in the
// index, in least-recently-used order, until the pool needs room. All storage is allocated by
// the constructor; nothing here allocates afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace wick {

class PrefixIndex {
 public:
  PrefixIndex(int n_blocks, int block_size);

  static constexpr uint64_t kRootHash = 0x6a09e667f3bcc909ull;  // the empty prefix
  // Hash of a prefix ending with `tokens` [block_size] whose first part hashed to `parent`.
  static uint64_t chain(uint64_t parent, const int32_t* tokens, int n);

  // The indexed block holding exactly `tokens` after the prefix `parent`, or -1.
  int find(uint64_t hash, uint64_t parent, const int32_t* tokens) const;
  // Indexes `block` under `hash`. Returns false (and changes nothing) when another block
  // already holds this content.
  bool insert(int block, uint64_t hash, uint64_t parent, const int32_t* tokens);
  void erase(int block);
  bool indexed(int block) const { return hash_[static_cast<size_t>(block)].valid; }
  uint64_t hash_of(int block) const { return hash_[static_cast<size_t>(block)].hash; }

  // Evictable blocks (indexed, unreferenced) in least-recently-used order.
  void push_evictable(int block);    // as the most recently used
  void remove_evictable(int block);  // it is referenced again
  int pop_least_recent();            // -1 if none; the block is also erased from the index
  int evictable() const { return n_evictable_; }

 private:
  struct Entry {
    uint64_t hash = 0;
    uint64_t parent = 0;
    bool valid = false;
  };
  size_t slot_of(uint64_t hash) const { return static_cast<size_t>(hash * 0x9e3779b97f4a7c15ull >> shift_); }

  int block_size_;
  int shift_;
  std::vector<int32_t> slots_;        // open addressing, linear probing: block id or -1
  std::vector<Entry> hash_;           // [n_blocks]
  std::vector<int32_t> tokens_;       // [n_blocks * block_size] the tokens of each indexed block
  std::vector<int32_t> prev_, next_;  // [n_blocks] the LRU list of evictable blocks
  int head_ = -1, tail_ = -1;         // least / most recently used
  int n_evictable_ = 0;
};

}  // namespace wick
