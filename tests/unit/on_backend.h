// Test data in a backend's memory: op tests upload their host inputs, run the op on BufferRefs
// and read the results back, for every backend alike (the reference backend's arena addresses
// cannot be dereferenced, so a test that skipped this would crash, not pass).
#pragma once

#include <cstring>
#include <vector>

#include "backends/backend.h"

namespace wick::test {

template <typename T>
class OnBackend {
 public:
  OnBackend(Backend& be, const std::vector<T>& host) : be_(&be), n_(host.size()), buf_(be, bytes(host.size())) { set(host); }
  // n values of `fill`.
  OnBackend(Backend& be, size_t n, T fill = T{}) : OnBackend(be, std::vector<T>(n, fill)) {}

  BufferRef ref(int64_t i = 0) const { return buf_.ref().at<T>(i); }
  BufferRef operator()(int64_t i = 0) const { return ref(i); }
  size_t size() const { return n_; }
  void set(const std::vector<T>& host) {
    n_ = host.size();
    if (n_ > 0) be_->upload(buf_.ref(), host.data(), n_ * sizeof(T));
  }
  std::vector<T> host() const {
    std::vector<T> out(n_);
    if (n_ > 0) be_->download(out.data(), buf_.ref(), n_ * sizeof(T));
    return out;
  }

 private:
  static size_t bytes(size_t n) { return n == 0 ? 1 : n * sizeof(T); }
  Backend* be_;
  size_t n_;
  BackendBuffer buf_;
};

// A weight placed on a backend (a view of host memory for the CPU, an upload for others).
struct PlacedTensor {
  std::vector<BackendBuffer> owned;
  Tensor t;
  PlacedTensor(Backend& be, const Tensor& host) { t = be.place_weight(host, owned); }
};

}  // namespace wick::test
