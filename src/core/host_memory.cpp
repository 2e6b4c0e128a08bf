#include "core/host_memory.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>

namespace wick {

void* allocate_host(size_t bytes, bool huge_pages) {
  const bool huge = huge_pages && bytes >= kHugePageBytes;
  const size_t align = huge ? kHugePageBytes : 64;
  const size_t rounded = (std::max<size_t>(bytes, 1) + align - 1) / align * align;  // aligned_alloc wants a multiple
  void* p = std::aligned_alloc(align, rounded);
#ifdef MADV_HUGEPAGE
  if (p && huge) madvise(p, rounded, MADV_HUGEPAGE);  // advice only: no error if THP is off
#endif
  return p;
}

void free_host(void* p) { std::free(p); }

}  // namespace wick
