#pragma once

// The inner product of two float arrays, the one sum behind every dense score: the HNSW graph's
// distance, the exact scan under a path prefix, and brute-force search in the benchmarks.
//
// The widest vector instructions the CPU offers are picked once, at run time (AVX-512, AVX2 with
// FMA, else a portable loop the compiler vectorises for the baseline), so one binary built for
// plain x86-64 runs everywhere and still uses the wide registers where they exist.

#include <cstddef>
#include <span>
#include <string_view>

namespace bookmcp::rag {

using dot_product_function = float (*)(const float* a, const float* b, std::size_t n) noexcept;

struct dot_product_implementation {
  std::string_view name;  // "avx512", "avx2", "portable"
  dot_product_function function;
};

// The implementation in use: the first of `dot_product_implementations()`.
const dot_product_implementation& best_dot_product() noexcept;

// Every implementation this CPU can run, widest first ("portable" always last).
std::span<const dot_product_implementation> dot_product_implementations() noexcept;

inline float dot_product(const float* a, const float* b, std::size_t n) noexcept {
  return best_dot_product().function(a, b, n);
}

}  // namespace bookmcp::rag
