#include "runtime/kv_cache.h"

#include <cstring>
#include <string>

#include "wick/error.h"

namespace wick {

KvCache::KvCache(int n_layers, int64_t kv_dim, int block_size, int n_blocks, DType dtype)
    : n_layers_(n_layers), kv_dim_(kv_dim), block_size_(block_size), n_blocks_(n_blocks), dtype_(dtype),
      elem_bytes_(dtype == DType::F16 ? 2 : 4) {
  if (dtype != DType::F32 && dtype != DType::F16)
    throw Error(ErrorCode::kInvalidArgument, std::string("KV cache: dtype ") + dtype_name(dtype) + " is not supported (F32, F16)");
  if (n_layers <= 0 || kv_dim <= 0 || block_size <= 0 || n_blocks <= 0)
    throw Error(ErrorCode::kInvalidArgument, "KV cache: layers, kv_dim, block size and block count must be positive (block size " +
                                                 std::to_string(block_size) + ", blocks " + std::to_string(n_blocks) + ")");
  const size_t per_array = static_cast<size_t>(n_blocks) * static_cast<size_t>(block_size) * static_cast<size_t>(kv_dim) * elem_bytes_;
  storage_.reset(new uint8_t[per_array * 2 * static_cast<size_t>(n_layers)]);
  for (int l = 0; l < n_layers; ++l) {
    k_.push_back(storage_.get() + per_array * (2 * static_cast<size_t>(l)));
    v_.push_back(storage_.get() + per_array * (2 * static_cast<size_t>(l) + 1));
  }
  refs_.assign(static_cast<size_t>(n_blocks), 0);
  free_.reserve(static_cast<size_t>(n_blocks));
  for (int b = n_blocks - 1; b >= 0; --b) free_.push_back(b);  // block 0 is handed out first
}

int KvCache::take_block() {
  const int b = free_.back();
  free_.pop_back();
  refs_[static_cast<size_t>(b)] = 1;
  return b;
}

void KvCache::drop_block(int block) {
  int32_t& r = refs_[static_cast<size_t>(block)];
  if (r <= 0) throw Error(ErrorCode::kInternal, "KV cache: block " + std::to_string(block) + " released twice");
  if (--r == 0) free_.push_back(block);
}

int KvCache::blocks_needed(const SequenceBlocks& seq, int new_length) const {
  const int have = static_cast<int>(seq.table.size());
  const int want = (new_length + block_size_ - 1) / block_size_;
  int need = want > have ? want - have : 0;
  const bool shared_partial_tail = new_length > seq.length && seq.length % block_size_ != 0 &&
                                   refs_[static_cast<size_t>(seq.table[static_cast<size_t>(seq.length / block_size_)])] > 1;
  return need + (shared_partial_tail ? 1 : 0);
}

void KvCache::reserve(SequenceBlocks& seq, int new_length) {
  if (new_length <= seq.length) return;
  const int need = blocks_needed(seq, new_length);
  if (need > free_blocks())
    throw Error(ErrorCode::kInvalidArgument, "KV cache full: " + std::to_string(need) + " more blocks of " +
                                                 std::to_string(block_size_) + " tokens needed, " + std::to_string(free_blocks()) +
                                                 " of " + std::to_string(n_blocks_) + " free");
  if (seq.length % block_size_ != 0) {
    const size_t tail = static_cast<size_t>(seq.length / block_size_);
    const int old = seq.table[tail];
    if (refs_[static_cast<size_t>(old)] > 1) {  // copy-on-write of the shared partial block
      const int fresh = take_block();
      const size_t rows = static_cast<size_t>(seq.length % block_size_);
      const size_t bytes = rows * static_cast<size_t>(kv_dim_) * elem_bytes_;
      const size_t block_bytes = static_cast<size_t>(block_size_) * static_cast<size_t>(kv_dim_) * elem_bytes_;
      const size_t src = static_cast<size_t>(old) * block_bytes;
      const size_t dst = static_cast<size_t>(fresh) * block_bytes;
      for (int l = 0; l < n_layers_; ++l) {
        std::memcpy(k_[static_cast<size_t>(l)] + dst, k_[static_cast<size_t>(l)] + src, bytes);
        std::memcpy(v_[static_cast<size_t>(l)] + dst, v_[static_cast<size_t>(l)] + src, bytes);
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
}

void KvCache::release(SequenceBlocks& seq) {
  for (int32_t b : seq.table) drop_block(b);
  seq.table.clear();  // keeps the capacity
  seq.length = 0;
}

}  // namespace wick
