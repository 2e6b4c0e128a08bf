#include "runtime/kv_cache.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "wick/error.h"

namespace wick {

KvCache::KvCache(Backend& backend, int n_layers, int64_t kv_dim, int block_size, int n_blocks, DType dtype, bool prefix_cache)
    : backend_(backend),
      n_layers_(n_layers),
      kv_dim_(kv_dim),
      block_size_(block_size),
      n_blocks_(n_blocks),
      dtype_(dtype),
      elem_bytes_(dtype == DType::F16 ? 2 : 4) {
  if (dtype != DType::F32 && dtype != DType::F16)
    throw Error(ErrorCode::kInvalidArgument, std::string("KV cache: dtype ") + dtype_name(dtype) + " is not supported (F32, F16)");
  if (n_layers <= 0 || kv_dim <= 0 || block_size <= 0 || n_blocks <= 0)
    throw Error(ErrorCode::kInvalidArgument, "KV cache: layers, kv_dim, block size and block count must be positive (block size " +
                                                 std::to_string(block_size) + ", blocks " + std::to_string(n_blocks) + ")");
  // Attention reads one KV head's rows of a block, then the same head's of the next block.
  const BufferAccess runs{.run_stride = block_bytes()};
  storage_ = BackendBuffer(backend, static_cast<size_t>(layer_bytes()) * 2 * static_cast<size_t>(n_layers), runs);
  refs_.assign(static_cast<size_t>(n_blocks), 0);
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 is handed out first
  if (prefix_cache) index_ = std::make_unique<PrefixIndex>(n_blocks, block_size);
}

int KvCache::take_block() {
  int b = -1;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (index_) {
    b = index_->pop_least_recent();  // evicts the least recently used cached prefix block
  }
  if (b < 0) throw Error(ErrorCode::kInternal, "KV cache: no free block");
  refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void KvCache::drop_block(int block) {
  int32_t& r = refs_[static_cast<size_t>(block)];
  if (r <= 0) throw Error(ErrorCode::kInternal, "KV cache: block " + std::to_string(block) + " released twice");
  if (--r > 0) return;
  if (index_ && index_->indexed(block))
    index_->push_evictable(block);  // kept for a later prefix hit
  else
    free_.push_back(block);
}

// Whether writing to `block` needs a copy first: other sequences reference it, or the prefix
// index holds its content (a full block made partial by truncate).
bool KvCache::copy_before_write(int block) const { return refs_[static_cast<size_t>(block)] > 1 || (index_ && index_->indexed(block)); }

int KvCache::blocks_needed(const SequenceBlocks& seq, int new_length) const {
  const int have = static_cast<int>(seq.table.size());
  const int want = (new_length + block_size_ - 1) / block_size_;
  int need = want > have ? want - have : 0;
  const bool shared_partial_tail = new_length > seq.length && seq.length % block_size_ != 0 &&
                                   copy_before_write(seq.table[static_cast<size_t>(seq.length / block_size_)]);
  return need + (shared_partial_tail ? 1 : 0);
}

void KvCache::reserve(SequenceBlocks& seq, int new_length) {
  if (new_length <= seq.length) return;
  const int need = blocks_needed(seq, new_length);
  if (need > free_blocks())
    throw Error(ErrorCode::kInvalidArgument, "KV cache full: " + std::to_string(need) + " more blocks of " + std::to_string(block_size_) +
                                                 " tokens needed, " + std::to_string(free_blocks()) + " of " + std::to_string(n_blocks_) +
                                                 " free");
  if (seq.length % block_size_ != 0) {
    const size_t tail = static_cast<size_t>(seq.length / block_size_);
    const int old = seq.table[tail];
    if (copy_before_write(old)) {  // copy-on-write of the shared partial block
      const int fresh = take_block();
      // The whole block: each head's filled rows lie at the start of its run (KvLayout).
      const size_t bytes = static_cast<size_t>(block_bytes());
      const int64_t src = old * block_bytes(), dst = fresh * block_bytes();
      for (int l = 0; l < n_layers_; ++l) {
        backend_.copy(k(l) + dst, k(l) + src, bytes);
        backend_.copy(v(l) + dst, v(l) + src, bytes);
      }
      drop_block(old);
      seq.table[tail] = fresh;
    }
  }
  const size_t want = static_cast<size_t>((new_length + block_size_ - 1) / block_size_);
  while (seq.table.size() < want) seq.table.push_back(take_block());
}

void KvCache::fork(const SequenceBlocks& parent, SequenceBlocks& child) {
  release(child);
  child.table.assign(parent.table.begin(), parent.table.end());
  child.length = parent.length;
  for (int32_t b : child.table) ++refs_[static_cast<size_t>(b)];
  if (index_) {
    child.tokens.assign(parent.tokens.begin(), parent.tokens.end());
    child.hashes.assign(parent.hashes.begin(), parent.hashes.end());
  }
}

void KvCache::release(SequenceBlocks& seq) {
  for (int32_t b : seq.table) drop_block(b);
  seq.table.clear();  // keeps the capacity
  seq.tokens.clear();
  seq.hashes.clear();
  seq.length = 0;
}

void KvCache::truncate(SequenceBlocks& seq, int length) {
  if (length < 0 || length > seq.length)
    throw Error(ErrorCode::kInvalidArgument,
                "truncate: length " + std::to_string(length) + " outside the sequence's 0 .. " + std::to_string(seq.length));
  const size_t keep = static_cast<size_t>((length + block_size_ - 1) / block_size_);
  for (size_t b = keep; b < seq.table.size(); ++b) drop_block(seq.table[b]);
  seq.table.resize(keep);  // keeps the capacity
  seq.length = length;
  if (index_) {
    seq.tokens.resize(static_cast<size_t>(length));
    seq.hashes.resize(static_cast<size_t>(length / block_size_));  // the full blocks' chain hashes
  }
}

void KvCache::reserve_history(SequenceBlocks& seq, int max_tokens) const {
  if (!index_) return;
  seq.tokens.reserve(static_cast<size_t>(max_tokens));
  seq.hashes.reserve(static_cast<size_t>(max_tokens / block_size_ + 1));
}

int KvCache::cached_prefix(const int32_t* tokens, int n, int max_tokens) const {
  if (!index_) return 0;
  const int blocks = std::min(n, max_tokens) / block_size_;
  uint64_t parent = PrefixIndex::kRootHash;
  int b = 0;
  for (; b < blocks; ++b) {
    const int32_t* t = tokens + static_cast<ptrdiff_t>(b) * block_size_;
    const uint64_t h = PrefixIndex::chain(parent, t, block_size_);
    if (index_->find(h, parent, t) < 0) break;
    parent = h;
  }
  return b * block_size_;
}

int KvCache::attach_prefix(SequenceBlocks& seq, const int32_t* tokens, int n, int max_tokens) {
  if (seq.length != 0 || !seq.table.empty()) throw Error(ErrorCode::kInternal, "KV cache: attach_prefix needs an empty sequence");
  if (!index_) return 0;
  const int blocks = std::min(n, max_tokens) / block_size_;
  uint64_t parent = PrefixIndex::kRootHash;
  for (int b = 0; b < blocks; ++b) {
    const int32_t* t = tokens + static_cast<ptrdiff_t>(b) * block_size_;
    const uint64_t h = PrefixIndex::chain(parent, t, block_size_);
    const int block = index_->find(h, parent, t);
    if (block < 0) break;
    if (refs_[static_cast<size_t>(block)]++ == 0) index_->remove_evictable(block);
    seq.table.push_back(block);
    seq.hashes.push_back(h);
    seq.tokens.insert(seq.tokens.end(), t, t + block_size_);
    seq.length += block_size_;
    parent = h;
  }
  return seq.length;
}

void KvCache::advance(SequenceBlocks& seq, const int32_t* tokens, int n) {
  const int old = seq.length;
  seq.length += n;
  if (!index_) return;
  seq.tokens.insert(seq.tokens.end(), tokens, tokens + n);
  for (int b = old / block_size_; b < seq.length / block_size_; ++b) {  // blocks this fills
    const uint64_t parent = b == 0 ? PrefixIndex::kRootHash : seq.hashes[static_cast<size_t>(b - 1)];
    const int32_t* t = seq.tokens.data() + static_cast<ptrdiff_t>(b) * block_size_;
    const uint64_t h = PrefixIndex::chain(parent, t, block_size_);
    seq.hashes.push_back(h);
    // Another sequence may have computed the same content into its own block at the same
    // time: the first one indexed stays, this one is freed normally when released.
    index_->insert(seq.table[static_cast<size_t>(b)], h, parent, t);
  }
}

}  // namespace wick
