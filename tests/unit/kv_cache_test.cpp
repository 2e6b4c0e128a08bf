// Block accounting of the paged KV cache: allocation, sharing by fork, copy-on-write of a
// shared partial block, release, and a full pool.
#include <gtest/gtest.h>

#include "runtime/kv_cache.h"
#include "wick/error.h"

namespace wick {
namespace {

TEST(KvCache, ReserveForkCopyOnWriteAndRelease) {
  KvCache kv(/*layers=*/2, /*kv_dim=*/3, /*block_size=*/4, /*blocks=*/8);
  SequenceBlocks a;
  EXPECT_EQ(kv.blocks_needed(a, 6), 2);
  kv.reserve(a, 6);
  a.length = 6;
  EXPECT_EQ(kv.used_blocks(), 2);
  for (int l = 0; l < 2; ++l)
    for (int p = 0; p < 6; ++p)
      for (int c = 0; c < 3; ++c) static_cast<float*>(kv.k(l))[kv.row(a, p) * 3 + c] = static_cast<float>(100 * l + 10 * p + c);

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
    for (int p = 4; p < 6; ++p)
      for (int c = 0; c < 3; ++c) {
        const float* k = static_cast<const float*>(kv.k(l));
        EXPECT_EQ(k[kv.row(b, p) * 3 + c], k[kv.row(a, p) * 3 + c]) << "copied rows";
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

TEST(KvCache, FullPoolIsAnErrorThatChangesNothing) {
  KvCache kv(1, 2, 4, 3);
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
  EXPECT_THROW(KvCache(1, 2, 0, 3), Error);
}

}  // namespace
}  // namespace wick
