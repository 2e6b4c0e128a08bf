// The KV cache in fixed-size blocks, as in PagedAttention (Kwon et al., "Efficient Memory
// Management for Large Language Model Serving with PagedAttention", SOSP 2023): a sequence owns
// a block table instead of one contiguous [ctx, kv_dim] slab, so sequences of any length share
// one pool, a prompt's blocks can be shared by many continuations (reference counts), and a
// finished sequence returns its blocks at once.
//
// Memory: per layer, K and V are each one array of n_blocks blocks of block_size positions x
// kv_dim values, F32 or F16, in the backend's memory; logical position j of a sequence is slot
// table[j / block_size] * block_size + j % block_size, and where a slot's heads lie within its
// block is the backends' KvLayout (backends/backend.h; the cache only moves whole blocks). The
// pool is allocated once and never grows (on the CPU, pages are only touched when a block is
// used); copy-on-write is a copy within the backend. Block tables and reference counts are host
// bookkeeping.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "backends/backend.h"
#include "core/dtype.h"
#include "runtime/prefix_index.h"

namespace wick {

// One sequence's view of the cache: its blocks in order and how many positions are filled.
struct SequenceBlocks {
  std::vector<int32_t> table;  // block ids, capacity reserved for the longest sequence
  int length = 0;              // positions 0 .. length-1 hold keys/values
  // With prefix caching: the tokens at positions 0 .. length-1 and the chain hash of every
  // full block (capacity reserved by KvCache::reserve_history, so steps never allocate).
  std::vector<int32_t> tokens;
  std::vector<uint64_t> hashes;
};

class KvCache {
 public:
  // dtype: F32, or F16 (half the memory; keys and values rounded to half precision).
  // prefix_cache: full blocks stay findable by their token prefix after their sequences end
  // (see PrefixIndex); they are evicted least-recently-used when the pool needs room.
  KvCache(Backend& backend, int n_layers, int64_t kv_dim, int block_size, int n_blocks, DType dtype = DType::F32,
          bool prefix_cache = false);

  int block_size() const { return block_size_; }
  int n_blocks() const { return n_blocks_; }
  // Blocks a sequence can take: never used, or holding an evictable cached prefix.
  int free_blocks() const { return static_cast<int>(free_.size()) + cached_blocks(); }
  int used_blocks() const { return n_blocks_ - free_blocks(); }           // referenced by a sequence
  int cached_blocks() const { return index_ ? index_->evictable() : 0; }  // unreferenced, kept for reuse
  bool prefix_cache() const { return index_ != nullptr; }
  int refcount(int block) const { return refs_[static_cast<size_t>(block)]; }
  int64_t kv_dim() const { return kv_dim_; }

  DType dtype() const { return dtype_; }
  BufferRef k(int layer) const {
    return storage_.ref(static_cast<int64_t>(2 * layer) * layer_bytes());
  }  // n_blocks blocks of block_size x kv_dim values of dtype()
  BufferRef v(int layer) const { return storage_.ref(static_cast<int64_t>(2 * layer + 1) * layer_bytes()); }

  // Makes room for positions seq.length .. new_length-1: appends fresh blocks, and first gives
  // the sequence its own copy of a partially filled last block that other sequences share
  // (copy-on-write), so writing never changes another sequence's keys. Throws kInvalidArgument
  // when the pool has too few free blocks (nothing is changed then).
  void reserve(SequenceBlocks& seq, int new_length);
  // Blocks needed by reserve(seq, new_length), to check capacity before scheduling.
  int blocks_needed(const SequenceBlocks& seq, int new_length) const;
  // child becomes a copy of parent sharing all its blocks (reference counts + 1).
  void fork(const SequenceBlocks& parent, SequenceBlocks& child);
  // Keeps positions 0 .. length-1 (length <= seq.length) and releases the blocks past them. A
  // kept, now partial last block that other sequences share or the prefix cache indexes is
  // copied before the next write to it (reserve), so neither sees the new keys.
  void truncate(SequenceBlocks& seq, int length);
  // Drops the sequence's references; blocks nobody references return to the free list.
  void release(SequenceBlocks& seq);
  // Prefix caching: gives `seq` room for a token history of max_tokens (call once per
  // sequence slot, at set-up).
  void reserve_history(SequenceBlocks& seq, int max_tokens) const;
  // Tokens of `tokens` [n] that cached full blocks already hold, at most max_tokens (whole
  // blocks only; 0 without prefix caching).
  int cached_prefix(const int32_t* tokens, int n, int max_tokens) const;
  // Attaches those blocks to the empty sequence `seq` (shared, nothing copied) and returns
  // its new length.
  int attach_prefix(SequenceBlocks& seq, const int32_t* tokens, int n, int max_tokens);
  // Records that positions seq.length .. +n-1 now hold `tokens` (their keys/values written)
  // and indexes the blocks this fills.
  void advance(SequenceBlocks& seq, const int32_t* tokens, int n);

  // Slot of position `pos` of a sequence in the per-layer arrays (block * block_size + offset).
  int64_t slot(const SequenceBlocks& seq, int pos) const {
    return static_cast<int64_t>(seq.table[static_cast<size_t>(pos / block_size_)]) * block_size_ + pos % block_size_;
  }

 private:
  int take_block();
  bool copy_before_write(int block) const;
  void drop_block(int block);
  int64_t block_bytes() const { return static_cast<int64_t>(block_size_) * kv_dim_ * static_cast<int64_t>(elem_bytes_); }
  int64_t layer_bytes() const { return block_bytes() * n_blocks_; }

  Backend& backend_;
  int n_layers_;
  int64_t kv_dim_;
  int block_size_;
  int n_blocks_;
  DType dtype_;
  size_t elem_bytes_;
  BackendBuffer storage_;  // per layer: K then V, layer_bytes() each
  std::vector<int32_t> refs_;
  std::vector<int32_t> free_;           // a stack of free block ids
  std::unique_ptr<PrefixIndex> index_;  // null without prefix caching
};

}  // namespace wick
