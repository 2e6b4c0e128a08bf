#include "core/tensor.h"

namespace wick {

std::string shape_string(const int64_t* dims, int ndim) {
  std::string s = "[";
  for (int i = 0; i < ndim; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims[i]);
  }
  return s + "]";
}

std::string shape_string(const Tensor& t) { return shape_string(t.shape.data(), t.ndim); }

}  // namespace wick
