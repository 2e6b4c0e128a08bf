#include "runtime/prefix_index.h"

#include <algorithm>
#include <cstring>

namespace wick {
namespace {

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

PrefixIndex::PrefixIndex(int n_blocks, int block_size) : block_size_(block_size) {
  int bits = 1;
  while ((size_t{1} << bits) < static_cast<size_t>(n_blocks) * 2) ++bits;  // load factor <= 1/2
  shift_ = 64 - bits;
  slots_.assign(size_t{1} << bits, -1);
  hash_.assign(static_cast<size_t>(n_blocks), Entry{});
  tokens_.assign(static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size), 0);
  prev_.assign(static_cast<size_t>(n_blocks), -1);
  next_.assign(static_cast<size_t>(n_blocks), -1);
}

uint64_t PrefixIndex::chain(uint64_t parent, const int32_t* tokens, int n) {
  uint64_t h = mix(parent ^ 0x243f6a8885a308d3ull);
  for (int i = 0; i < n; ++i) h = mix(h ^ (static_cast<uint64_t>(static_cast<uint32_t>(tokens[i])) + 0x9e3779b97f4a7c15ull));
  return h;
}

int PrefixIndex::find(uint64_t hash, uint64_t parent, const int32_t* tokens) const {
  const size_t mask = slots_.size() - 1;
  for (size_t s = slot_of(hash);; s = (s + 1) & mask) {
    const int b = slots_[s];
    if (b < 0) return -1;
    const Entry& e = hash_[static_cast<size_t>(b)];
    if (e.hash == hash && e.parent == parent &&
        std::memcmp(&tokens_[static_cast<size_t>(b) * static_cast<size_t>(block_size_)], tokens,
                    sizeof(int32_t) * static_cast<size_t>(block_size_)) == 0)
      return b;
  }
}

bool PrefixIndex::insert(int block, uint64_t hash, uint64_t parent, const int32_t* tokens) {
  if (indexed(block)) return false;
  if (find(hash, parent, tokens) >= 0) return false;
  const size_t mask = slots_.size() - 1;
  size_t s = slot_of(hash);
  while (slots_[s] >= 0) s = (s + 1) & mask;  // never full: at most n_blocks of 2 * n_blocks slots
  slots_[s] = block;
  hash_[static_cast<size_t>(block)] = {hash, parent, true};
  std::copy(tokens, tokens + block_size_, &tokens_[static_cast<size_t>(block) * static_cast<size_t>(block_size_)]);
  return true;
}

void PrefixIndex::erase(int block) {
  Entry& e = hash_[static_cast<size_t>(block)];
  if (!e.valid) return;
  const size_t mask = slots_.size() - 1;
  size_t s = slot_of(e.hash);
  while (slots_[s] != block) s = (s + 1) & mask;
  // Backward-shift deletion keeps every probe chain unbroken without tombstones.
  for (size_t next = (s + 1) & mask;; next = (next + 1) & mask) {
    const int b = slots_[next];
    if (b < 0) break;
    const size_t home = slot_of(hash_[static_cast<size_t>(b)].hash);
    // Move b into the hole unless its home lies cyclically in (s, next].
    const bool stays = s <= next ? (home > s && home <= next) : (home > s || home <= next);
    if (!stays) {
      slots_[s] = b;
      s = next;
    }
  }
  slots_[s] = -1;
  e.valid = false;
}

void PrefixIndex::push_evictable(int block) {
  prev_[static_cast<size_t>(block)] = tail_;
  next_[static_cast<size_t>(block)] = -1;
  if (tail_ >= 0)
    next_[static_cast<size_t>(tail_)] = block;
  else
    head_ = block;
  tail_ = block;
  ++n_evictable_;
}

void PrefixIndex::remove_evictable(int block) {
  const int p = prev_[static_cast<size_t>(block)], n = next_[static_cast<size_t>(block)];
  if (p >= 0)
    next_[static_cast<size_t>(p)] = n;
  else
    head_ = n;
  if (n >= 0)
    prev_[static_cast<size_t>(n)] = p;
  else
    tail_ = p;
  prev_[static_cast<size_t>(block)] = next_[static_cast<size_t>(block)] = -1;
  --n_evictable_;
}

int PrefixIndex::pop_least_recent() {
  const int b = head_;
  if (b < 0) return -1;
  remove_evictable(b);
  erase(b);
  return b;
}

}  // namespace wick
