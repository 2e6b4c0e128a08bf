// The reference backend's arena: the memory that proves code above the Backend interface never
// reaches around it. Its addresses must fault when dereferenced, and every access the backend
// makes must stay inside one live allocation.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "backends/backend.h"
#include "backends/cpu/arena.h"
#include "wick/error.h"

namespace wick {
namespace {

TEST(Arena, AccessesStayInsideOneLiveAllocation) {
  Arena a;
  const BufferRef x = a.alloc(64), y = a.alloc(16);
  EXPECT_NE(x, y);
  EXPECT_EQ(a.live_bytes(), 80u);
  EXPECT_NE(a.at<float>(x, 16), nullptr);
  EXPECT_NE(a.at<float>(x.at<float>(15), 1), nullptr);
  EXPECT_THROW(a.at<float>(x, 17), Error) << "one float past the end";
  EXPECT_THROW(a.at<float>(x.at<float>(16), 1), Error);
  EXPECT_THROW(a.at<float>(y.at<float>(-1), 1), Error) << "before the start";
  float host = 1;
  EXPECT_THROW(a.at<float>({reinterpret_cast<uint64_t>(&host)}, 1), Error) << "a host pointer is not an arena address";
  a.free(x);
  EXPECT_THROW(a.at<float>(x, 1), Error) << "use after free";
  EXPECT_THROW(a.free(x), Error) << "double free";
  EXPECT_THROW(a.free(y + 4), Error) << "free of an interior address";
  EXPECT_EQ(a.live_bytes(), 16u);
  const BufferRef z = a.alloc(16);
  EXPECT_NE(z, x) << "ids are not reused: a stale address never reaches new memory";
}

TEST(Arena, FreshMemoryReadsAsNaN) {
  Arena a;
  const BufferRef x = a.alloc(8);
  const float* f = a.at<float>(x, 2);
  EXPECT_TRUE(std::isnan(f[0]) && std::isnan(f[1])) << "memory nobody wrote shows up as NaN in results";
}

TEST(Arena, HostDereferenceOfAnArenaAddressFaults) {
  auto be = make_reference_backend();
  BackendBuffer b(*be, 64);
  const float v = 2.5f;
  be->upload(b.ref(), &v, 4);
  float back = 0;
  be->download(&back, b.ref(), 4);
  EXPECT_EQ(back, 2.5f);
  EXPECT_DEATH(
      {
        volatile const float* p = reinterpret_cast<const float*>(b.ref().addr);
        std::printf("%f\n", *p);
      },
      "");
}

TEST(Arena, WeightsArePlacedAsArenaViews) {
  auto be = make_reference_backend();
  std::vector<float> w = {1, 2, 3, 4, 5, 6};
  Tensor host{.dtype = DType::F32, .ndim = 2, .shape = {2, 3, 0, 0}, .data = w.data()};
  std::vector<BackendBuffer> owned;
  const Tensor placed = be->place_weight(host, owned);
  EXPECT_NE(placed.data, host.data) << "uploaded, not the host memory";
  EXPECT_EQ(owned.size(), 1u);
  // The CPU reads host memory in place (the mapped file, no copy), but for the matrices its
  // panel kernels pack once (packed_weights.h): a vector stays where it is.
  auto cpu = make_cpu_backend(1);
  const Tensor vec{.dtype = DType::F32, .ndim = 1, .shape = {6, 0, 0, 0}, .data = w.data()};
  EXPECT_EQ(cpu->place_weight(vec, owned).data, vec.data);
  // An op given a host tensor on the reference backend refuses it.
  BackendBuffer x(*be, 3 * 4), y(*be, 2 * 4);
  EXPECT_THROW(be->matmul(y.ref(), x.ref(), 1, host, nullptr), Error);
  const std::vector<float> ones = {1, 1, 1};
  be->upload(x.ref(), ones.data(), 12);
  be->matmul(y.ref(), x.ref(), 1, placed, nullptr);
  std::vector<float> out(2);
  be->download(out.data(), y.ref(), 8);
  EXPECT_EQ(out, (std::vector<float>{6, 15}));
}

}  // namespace
}  // namespace wick
