// Block accounting of the paged KV cache: allocation, sharing by fork, copy-on-write of a
// shared partial block, release, and a full pool.
#include <gtest/gtest.h>

#include <array>
#include <vector>

#include "backends/backend.h"
#include "runtime/kv_cache.h"
#include "wick/error.h"

namespace wick {
namespace {

std::unique_ptr<Backend> cpu() { return make_cpu_backend(1); }

// Copy-on-write goes through the backend: on the CPU and on the reference backend, whose arena
// memory only its own copy can reach.
class KvCacheOnBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(KvCacheOnBackend, ReserveForkCopyOnWriteAndRelease) {
  auto be = GetParam() == "cpu" ? make_cpu_backend(1) : make_reference_backend();
  // 2 KV heads of 3: a block holds head 0's 4 rows, then head 1's (KvLayout), so a copy of the
  // filled rows alone would miss head 1's.
  const KvLayout layout{.block_size = 4, .n_kv_heads = 2, .head_dim = 3};
  KvCache kv(*be, /*layers=*/2, /*kv_dim=*/6, /*block_size=*/4, /*blocks=*/8);
  auto key = [&](int l, const SequenceBlocks& s, int p) {  // position p's keys of layer l, both heads, read back
    std::array<float, 6> r;
    for (int h = 0; h < 2; ++h) be->download(r.data() + 3 * h, kv.k(l).at<float>(layout.offset(kv.slot(s, p), h)), 3 * sizeof(float));
    return r;
  };
  SequenceBlocks a;
  EXPECT_EQ(kv.blocks_needed(a, 6), 2);
  kv.reserve(a, 6);
  a.length = 6;
  EXPECT_EQ(kv.used_blocks(), 2);
  for (int l = 0; l < 2; ++l)
    for (int p = 0; p < 6; ++p) {
      std::array<float, 6> r;
      for (int c = 0; c < 6; ++c) r[static_cast<size_t>(c)] = static_cast<float>(100 * l + 10 * p + c);
      for (int h = 0; h < 2; ++h) be->upload(kv.k(l).at<float>(layout.offset(kv.slot(a, p), h)), r.data() + 3 * h, 3 * sizeof(float));
    }

  SequenceBlocks b;
  kv.fork(a, b);
  EXPECT_EQ(kv.used_blocks(), 2) << "a fork shares every block";
  EXPECT_EQ(kv.refcount(a.table[0]), 2);
  EXPECT_EQ(kv.blocks_needed(b, 7), 1) << "the shared partial block must be copied before b writes";
  kv.reserve(b, 7);
  EXPECT_EQ(kv.used_blocks(), 3);
  EXPECT_EQ(b.table[0], a.table[0]) << "full blocks stay shared";
  EXPECT_NE(b.table[1], a.table[1]);
  EXPECT_EQ(kv.refcount(a.table[1]), 1);
  for (int l = 0; l < 2; ++l)
    for (int p = 0; p < 6; ++p) {
      EXPECT_EQ(key(l, b, p), key(l, a, p)) << "shared or copied rows";
      for (int c = 0; c < 6; ++c) EXPECT_EQ(key(l, b, p)[static_cast<size_t>(c)], static_cast<float>(100 * l + 10 * p + c));
    }
  // a is now the only owner of its partial block: it writes in place.
  EXPECT_EQ(kv.blocks_needed(a, 8), 0);
  kv.reserve(a, 8);
  EXPECT_EQ(kv.used_blocks(), 3);

  kv.release(a);
  EXPECT_EQ(kv.used_blocks(), 2) << "b still holds the shared first block and its own copy";
  kv.release(b);
  EXPECT_EQ(kv.used_blocks(), 0);
  EXPECT_EQ(kv.free_blocks(), 8);
}

INSTANTIATE_TEST_SUITE_P(CpuAndReference, KvCacheOnBackend, ::testing::Values("cpu", "reference"),
                         [](const auto& info) { return info.param; });

// Truncation releases the blocks past the cut; a kept partial block still shared with a fork, or
// indexed by the prefix cache, is copied before the next write, so neither ever sees new keys.
TEST(KvCache, TruncateReleasesTheTailAndCopiesSharedOrCachedBlocksBeforeWriting) {
  auto be = cpu();
  KvCache kv(*be, 1, 1, /*block_size=*/4, /*blocks=*/8, DType::F32, /*prefix_cache=*/true);
  const std::vector<int32_t> p = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto key = [&](const SequenceBlocks& s, int pos) {
    float v;
    be->download(&v, kv.k(0).at<float>(kv.slot(s, pos)), sizeof v);
    return v;
  };
  auto write = [&](SequenceBlocks& s, const std::vector<int32_t>& toks) {  // key = the token
    kv.reserve(s, s.length + static_cast<int>(toks.size()));
    for (size_t i = 0; i < toks.size(); ++i) {
      const float v = static_cast<float>(toks[i]);
      be->upload(kv.k(0).at<float>(kv.slot(s, s.length + static_cast<int>(i))), &v, sizeof v);
    }
    kv.advance(s, toks.data(), static_cast<int>(toks.size()));
  };
  SequenceBlocks a, b;
  kv.reserve_history(a, 64);
  kv.reserve_history(b, 64);
  write(a, p);  // blocks: [1..4] [5..8] indexed, [9, 10] partial
  kv.fork(a, b);
  EXPECT_THROW(kv.truncate(a, 11), Error);
  kv.truncate(a, 6);
  EXPECT_EQ(a.length, 6);
  EXPECT_EQ(a.table.size(), 2u);
  EXPECT_EQ(a.hashes.size(), 1u) << "one full block left";
  EXPECT_EQ(kv.used_blocks(), 3) << "b still holds all three";
  EXPECT_EQ(kv.blocks_needed(a, 7), 1) << "the kept partial block is shared: copied first";
  write(a, {60, 70});
  EXPECT_EQ(key(a, 6), 60.0f);
  EXPECT_EQ(key(b, 6), 7.0f) << "the fork keeps its keys";
  EXPECT_EQ(a.hashes.size(), 2u);
  kv.release(b);
  // Only the prefix cache holds [5..8] now; cut a inside its own copy, then inside the cached
  // first block: writing there copies it first, and the cached prefix still serves [1..4].
  kv.truncate(a, 2);
  EXPECT_EQ(kv.blocks_needed(a, 3), 1) << "block [1..4] is indexed: copied before writing";
  write(a, {30});
  EXPECT_EQ(key(a, 2), 30.0f);
  kv.release(a);
  EXPECT_EQ(kv.cached_prefix(p.data(), 10, 10), 8);
  SequenceBlocks c;
  kv.reserve_history(c, 64);
  EXPECT_EQ(kv.attach_prefix(c, p.data(), 10, 10), 8);
  for (int pos = 0; pos < 8; ++pos) EXPECT_EQ(key(c, pos), static_cast<float>(pos + 1)) << "position " << pos;
  kv.truncate(c, 0);
  EXPECT_EQ(kv.used_blocks(), 0);
}

TEST(KvCache, FullPoolIsAnErrorThatChangesNothing) {
  auto be = cpu();
  KvCache kv(*be, 1, 2, 4, 3);
  SequenceBlocks a;
  kv.reserve(a, 12);
  a.length = 12;
  SequenceBlocks b;
  try {
    kv.reserve(b, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("KV cache full"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(b.table.empty());
  EXPECT_EQ(kv.used_blocks(), 3);
  EXPECT_THROW(KvCache(*be, 1, 2, 0, 3), Error);
}

// Prefix caching: full blocks stay indexed after release, a later sequence with the same
// leading tokens attaches them (whole blocks only, verified token by token), and the pool
// evicts them least-recently-used when it needs room.
TEST(KvCache, PrefixCachingReusesEvictsAndNeverServesOtherTokens) {
  auto be = cpu();
  KvCache kv(*be, 1, 2, /*block_size=*/4, /*blocks=*/6, DType::F32, /*prefix_cache=*/true);
  auto fill = [&](SequenceBlocks& s, const std::vector<int32_t>& toks) {
    kv.reserve_history(s, 64);
    kv.reserve(s, s.length + static_cast<int>(toks.size()));
    kv.advance(s, toks.data(), static_cast<int>(toks.size()));
  };
  const std::vector<int32_t> p = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};  // two full blocks + 2
  SequenceBlocks a;
  fill(a, p);
  EXPECT_EQ(kv.used_blocks(), 3);
  const int32_t a0 = a.table[0], a1 = a.table[1];
  kv.release(a);
  EXPECT_EQ(kv.used_blocks(), 0);
  EXPECT_EQ(kv.cached_blocks(), 2) << "the two full blocks stay cached, the partial one is freed";
  EXPECT_EQ(kv.free_blocks(), 6) << "cached blocks still count as available";

  EXPECT_EQ(kv.cached_prefix(p.data(), 10, 10), 8);
  EXPECT_EQ(kv.cached_prefix(p.data(), 10, 7), 4) << "whole blocks within max_tokens only";
  std::vector<int32_t> q = {1, 2, 3, 4, 5, 6, 7, 99, 9};
  EXPECT_EQ(kv.cached_prefix(q.data(), 9, 9), 4) << "the second block differs in one token";
  std::vector<int32_t> other = {2, 2, 3, 4};
  EXPECT_EQ(kv.cached_prefix(other.data(), 4, 4), 0);

  SequenceBlocks b;
  kv.reserve_history(b, 64);
  EXPECT_EQ(kv.attach_prefix(b, p.data(), 10, 9), 8);
  EXPECT_EQ(b.length, 8);
  EXPECT_EQ(b.table[0], a0);
  EXPECT_EQ(b.table[1], a1);
  EXPECT_EQ(kv.cached_blocks(), 0);
  EXPECT_EQ(kv.used_blocks(), 2);
  // A fork shares the attached blocks; a second attach shares them too.
  SequenceBlocks c;
  kv.reserve_history(c, 64);
  EXPECT_EQ(kv.attach_prefix(c, p.data(), 10, 9), 8);
  EXPECT_EQ(kv.refcount(a0), 2);
  kv.release(c);
  kv.release(b);
  EXPECT_EQ(kv.cached_blocks(), 2);

  // Fill the pool with other content: the cached blocks are evicted (oldest first) and the
  // prefix is gone from the index.
  SequenceBlocks d;
  std::vector<int32_t> big(20);
  for (int i = 0; i < 20; ++i) big[static_cast<size_t>(i)] = 100 + i;
  kv.reserve_history(d, 64);
  kv.reserve(d, 20);
  kv.advance(d, big.data(), 20);
  EXPECT_EQ(kv.used_blocks(), 5);
  EXPECT_EQ(kv.cached_blocks() + static_cast<int>(kv.free_blocks() - kv.cached_blocks()), 1);
  SequenceBlocks e;
  kv.reserve_history(e, 64);
  kv.reserve(e, 4);  // takes the last block: evicts a cached one if no free block is left
  std::vector<int32_t> four = {7, 7, 7, 7};
  kv.advance(e, four.data(), 4);
  EXPECT_EQ(kv.free_blocks(), 0);
  EXPECT_EQ(kv.cached_prefix(p.data(), 10, 10), 0) << "evicted blocks are no longer found";
  kv.release(d);
  kv.release(e);
  EXPECT_EQ(kv.used_blocks(), 0);
}

TEST(PrefixIndex, InsertFindEraseUnderCollisionsAndLruOrder) {
  PrefixIndex idx(64, 2);
  // Many entries in a small table: probe chains overlap; erasing from their middle keeps every
  // other entry findable (backward-shift deletion).
  std::vector<std::array<int32_t, 2>> toks(64);
  std::vector<uint64_t> hashes(64);
  for (int b = 0; b < 64; ++b) {
    toks[static_cast<size_t>(b)] = {b, b * 3};
    hashes[static_cast<size_t>(b)] = PrefixIndex::chain(PrefixIndex::kRootHash, toks[static_cast<size_t>(b)].data(), 2);
    ASSERT_TRUE(idx.insert(b, hashes[static_cast<size_t>(b)], PrefixIndex::kRootHash, toks[static_cast<size_t>(b)].data()));
  }
  EXPECT_FALSE(idx.insert(5, hashes[5], PrefixIndex::kRootHash, toks[5].data())) << "already indexed";
  for (int b = 0; b < 64; b += 3) idx.erase(b);
  for (int b = 0; b < 64; ++b) {
    const int found = idx.find(hashes[static_cast<size_t>(b)], PrefixIndex::kRootHash, toks[static_cast<size_t>(b)].data());
    EXPECT_EQ(found, b % 3 == 0 ? -1 : b) << "block " << b;
  }
  const int32_t wrong[2] = {1, 4};
  EXPECT_EQ(idx.find(hashes[1], PrefixIndex::kRootHash, wrong), -1) << "same hash, other tokens: no hit";
  EXPECT_EQ(idx.find(hashes[1], 12345, toks[1].data()), -1) << "same tokens after another prefix: no hit";
  idx.push_evictable(1);
  idx.push_evictable(2);
  idx.push_evictable(4);
  idx.remove_evictable(2);
  idx.push_evictable(2);
  EXPECT_EQ(idx.evictable(), 3);
  EXPECT_EQ(idx.pop_least_recent(), 1);
  EXPECT_EQ(idx.pop_least_recent(), 4);
  EXPECT_EQ(idx.pop_least_recent(), 2);
  EXPECT_EQ(idx.pop_least_recent(), -1);
  EXPECT_FALSE(idx.indexed(1)) << "an evicted block leaves the index";
}

}  // namespace
}  // namespace wick
