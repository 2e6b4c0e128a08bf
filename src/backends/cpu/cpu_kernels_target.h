// Shared by the per-ISA kernel files (cpu_kernels_<isa>.cpp): the headers the kernels use, and
// the compiler target put around each ISA's copy of cpu_kernels.inc (its table's accessor is
// declared in cpu_isa.h). One file per ISA so the
// four copies compile in parallel (one translation unit with all four took ~15 minutes under
// the sanitizers).
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>
#include <utility>

#include "backends/cpu/cpu_isa.h"
#include "backends/cpu/packed_weights.h"
#include "core/dtype.h"
#include "wick/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The pragma is GCC's, or clang's equivalent (clang ignores GCC target pragmas).
#define WICK_PRAGMA(...) _Pragma(#__VA_ARGS__)
#if defined(__clang__)
#define WICK_TARGET_BEGIN(features) WICK_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define WICK_TARGET_END() WICK_PRAGMA(clang attribute pop)
#else
#define WICK_TARGET_BEGIN(features) WICK_PRAGMA(GCC push_options) WICK_PRAGMA(GCC target(features))
#define WICK_TARGET_END() WICK_PRAGMA(GCC pop_options)
#endif
