#include "backends/backend.h"

namespace wick {

Tensor Backend::place_weight(const Tensor& host, std::vector<BackendBuffer>& owned) {
  if (host.empty()) return host;
  const size_t bytes = host.nbytes();
  BackendBuffer& buf = owned.emplace_back(*this, bytes);
  upload(buf.ref(), host.data, bytes);
  Tensor placed = host;
  placed.data = reinterpret_cast<const void*>(buf.ref().addr);  // a backend address, never dereferenced outside it
  return placed;
}

}  // namespace wick
