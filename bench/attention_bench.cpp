// Micro-benchmarks of attention over the block KV cache (blocks of 16 positions, laid out as
// the cache's KvLayout: each head's rows of a block side by side), one thread, the kernel alone
// (CpuKernels::attend_tile).
// - AttendDecode: one token's query heads of each KV head (a GQA group, one tile) against
//   `context` keys, layer after layer, as a decode step runs them. Bytes are the keys and values
//   read: context x head_dim x 2 rows x KV heads x layers. Args: context, head_dim, query heads
//   per KV head, KV heads, layers (enough layers, and the cache is larger than the last-level
//   cache, as in a model at depth).
// - AttendPrefill: a prompt's tile at depth (see BM_AttendPrefill).
//   build/release/bin/wick_bench --benchmark_filter=Attend
#include <benchmark/benchmark.h>

#include <cmath>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/cpu_isa.h"
#include "core/dtype.h"
#include "core/host_memory.h"

namespace wick {
namespace {

// Random keys and values in [-1, 1] (F32), or small halves (F16: 0x3000-0x3BFF is 0.125 .. ~1).
void fill_random(std::span<uint8_t> keys, std::span<uint8_t> values, DType kv_dtype, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  const size_t elem = kv_dtype == DType::F16 ? 2 : 4;
  for (size_t i = 0; i < keys.size() / elem; ++i) {
    if (kv_dtype == DType::F16) {
      reinterpret_cast<uint16_t*>(keys.data())[i] = static_cast<uint16_t>(0x3000 + rng() % 0xC00);
      reinterpret_cast<uint16_t*>(values.data())[i] = static_cast<uint16_t>(0x3000 + rng() % 0xC00);
    } else {
      reinterpret_cast<float*>(keys.data())[i] = u(rng);
      reinterpret_cast<float*>(values.data())[i] = u(rng);
    }
  }
}

// A tile of `tokens` consecutive tokens from position `first` on, each with `group` query heads
// (token i / group, head i % group: the backend's order), random queries, and a sequence's
// blocks 0 .. blocks - 1 in order.
struct BenchTile {
  std::vector<int32_t> table, lo, pos;
  std::vector<float> q, out;
  std::vector<const float*> qp;
  std::vector<float*> op;
  AttentionTile tile;
  BenchTile(int tokens, int group, int head_dim, int first, int blocks, std::mt19937& rng)
      : table(static_cast<size_t>(blocks)),
        lo(static_cast<size_t>(tokens * group), 0),
        pos(lo.size()),
        q(lo.size() * static_cast<size_t>(head_dim)),
        out(q.size()),
        qp(lo.size()),
        op(lo.size()) {
    for (size_t b = 0; b < table.size(); ++b) table[b] = static_cast<int32_t>(b);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    for (auto& x : q) x = u(rng);
    for (size_t i = 0; i < lo.size(); ++i) {
      qp[i] = q.data() + i * static_cast<size_t>(head_dim);
      op[i] = out.data() + i * static_cast<size_t>(head_dim);
      pos[i] = first + static_cast<int32_t>(i) / group;
    }
    tile = AttentionTile{
        .q = qp.data(), .out = op.data(), .lo = lo.data(), .pos = pos.data(), .n = static_cast<int>(lo.size()), .heads_per_kv = group};
  }
};

void BM_AttendDecode(benchmark::State& state, CpuIsa isa, DType kv_dtype) {
  const int context = static_cast<int>(state.range(0)), head_dim = static_cast<int>(state.range(1));
  const int group = static_cast<int>(state.range(2)), kv_heads = static_cast<int>(state.range(3));
  const int layers = static_cast<int>(state.range(4));
  constexpr int kBlock = 16;  // EngineOptions::kv_block_size
  const CpuKernels& k = cpu_kernels(isa);
  // Per layer [context / kBlock][kv_heads][kBlock][head_dim], the cache's KvLayout.
  const KvLayout layout{.block_size = kBlock, .n_kv_heads = kv_heads, .head_dim = head_dim};
  const size_t elem = kv_dtype == DType::F16 ? 2 : 4;
  const size_t layer_bytes = static_cast<size_t>(context) * static_cast<size_t>(kv_heads * head_dim) * elem;
  // Allocated as the CPU backend allocates a KV cache: on huge pages where a block is 32 KB or
  // more (core/host_memory.h).
  const size_t bytes = layer_bytes * static_cast<size_t>(layers);
  const bool huge_pages = runs_want_huge_pages(layout.block_values() * static_cast<int64_t>(elem));
  const std::unique_ptr<uint8_t, HostMemoryDeleter> key_memory(static_cast<uint8_t*>(allocate_host(bytes, huge_pages)));
  const std::unique_ptr<uint8_t, HostMemoryDeleter> value_memory(static_cast<uint8_t*>(allocate_host(bytes, huge_pages)));
  if (!key_memory || !value_memory) {
    state.SkipWithError("cannot allocate the KV cache");
    return;
  }
  const std::span<uint8_t> keys(key_memory.get(), bytes), values(value_memory.get(), bytes);
  std::mt19937 rng(1);
  fill_random(keys, values, kv_dtype, rng);
  const BenchTile t(1, group, head_dim, context - 1, (context + kBlock - 1) / kBlock, rng);  // one token, the last
  std::vector<float> scratch(static_cast<size_t>(k.attention_scratch(head_dim, group)));
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const KvHeadRows head_rows{.block_size = kBlock, .row_stride = head_dim, .block_stride = layout.block_values()};
  for (auto _ : state)
    for (int l = 0; l < layers; ++l)
      for (int h = 0; h < kv_heads; ++h) {
        const size_t off = static_cast<size_t>(l) * layer_bytes + static_cast<size_t>(layout.offset(0, h)) * elem;
        k.attend_tile(t.tile, keys.data() + off, values.data() + off, kv_dtype, t.table.data(), head_rows, head_dim, scale, 0.0f,
                      scratch.data());
        benchmark::DoNotOptimize(t.out.data());
      }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(2 * keys.size()));
}

// Prefill attention at depth: one tile as the CPU backend cuts a prompt (its tokens x the query
// heads of one KV head, up to 128 queries) at positions depth .. depth + tokens - 1, against one
// KV head's keys 0 .. its position, from L2 / L3 (a tile reads each key once for all its
// queries, so prefill attention is bound by arithmetic, not memory). Counter: GFLOP/s of the
// two products (scores and weighted values), 4 x head_dim per query and key.
// Args: depth, head_dim, query heads per KV head, tokens per tile.
void BM_AttendPrefill(benchmark::State& state, CpuIsa isa, DType kv_dtype) {
  const int depth = static_cast<int>(state.range(0)), head_dim = static_cast<int>(state.range(1));
  const int group = static_cast<int>(state.range(2)), tokens = static_cast<int>(state.range(3));
  const int context = depth + tokens, n = group * tokens;
  constexpr int kBlock = 16;
  const CpuKernels& k = cpu_kernels(isa);
  const KvLayout layout{.block_size = kBlock, .n_kv_heads = 1, .head_dim = head_dim};
  const size_t elem = kv_dtype == DType::F16 ? 2 : 4;
  const int blocks = (context + kBlock - 1) / kBlock;
  const size_t bytes = static_cast<size_t>(blocks) * static_cast<size_t>(layout.block_values()) * elem;
  std::vector<uint8_t> keys(bytes), values(bytes);
  std::mt19937 rng(1);
  fill_random(keys, values, kv_dtype, rng);
  const BenchTile t(tokens, group, head_dim, depth, blocks, rng);
  double flops = 0;
  for (const int32_t p : t.pos) flops += 4.0 * head_dim * (p + 1);
  std::vector<float> scratch(static_cast<size_t>(k.attention_scratch(head_dim, n)));
  const float scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
  const KvHeadRows head_rows{.block_size = kBlock, .row_stride = head_dim, .block_stride = layout.block_values()};
  for (auto _ : state) {
    k.attend_tile(t.tile, keys.data(), values.data(), kv_dtype, t.table.data(), head_rows, head_dim, scale, 0.0f, scratch.data());
    benchmark::DoNotOptimize(t.out.data());
  }
  state.counters["GFLOP"] = benchmark::Counter(flops * 1e-9 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

void register_all() {
  for (CpuIsa isa : supported_cpu_isas())
    for (DType kv : {DType::F32, DType::F16}) {
      const std::string name = std::string("AttendDecode/") + cpu_isa_name(isa) + "/" + dtype_name(kv);
      benchmark::RegisterBenchmark(name.c_str(), [isa, kv](benchmark::State& s) { BM_AttendDecode(s, isa, kv); })
          ->Args({4096, 64, 7, 2, 1})    // Qwen2.5-0.5B at depth 4096, one layer: 4 MB (F32), in L3
          ->Args({4096, 64, 7, 2, 24})   // all 24 layers: 96 MB, from memory
          ->Args({4096, 64, 8, 4, 22})   // TinyLlama-1.1B: 4 KV heads of 64, 8 query heads each
          ->Args({4096, 128, 1, 32, 1})  // DeepSeek-Prover-V2-7B (32 heads of 128, each its own KV head), one layer: 134 MB
          ->Args({2048, 128, 1, 1, 1})   // one MHA head from L3 (2 MB F32): the kernel's arithmetic
          ->UseRealTime();
      const std::string prefill = std::string("AttendPrefill/") + cpu_isa_name(isa) + "/" + dtype_name(kv);
      benchmark::RegisterBenchmark(prefill.c_str(), [isa, kv](benchmark::State& s) { BM_AttendPrefill(s, isa, kv); })
          ->Args({4096, 64, 7, 18})    // Qwen2.5-0.5B: GQA-7, heads of 64; 126-query tiles
          ->Args({4096, 64, 8, 16})    // TinyLlama-1.1B: GQA-8
          ->Args({4096, 128, 1, 128})  // DeepSeek-Prover-V2-7B: MHA, heads of 128
          ->UseRealTime();
    }
}

const int kRegistered = (register_all(), 0);

}  // namespace
}  // namespace wick
