#include "rag/dot_product.hpp"

#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define BOOKMCP_X86_DISPATCH 1
#include <immintrin.h>
#endif

namespace bookmcp::rag {

namespace {

// Eight running sums, so that the compiler may keep them in vector registers (one sum would
// serialise every addition, as floating-point addition may not be reordered).
float dot_portable(const float* a, const float* b, std::size_t n) noexcept {
  float sums[8] = {};
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (std::size_t k = 0; k < 8; ++k) sums[k] += a[i + k] * b[i + k];
  }
  float sum = 0;
  for (; i < n; ++i) sum += a[i] * b[i];
  for (float partial : sums) sum += partial;
  return sum;
}

#ifdef BOOKMCP_X86_DISPATCH

__attribute__((target("avx"))) inline float horizontal_sum(__m256 lanes) noexcept {
  __m128 half = _mm_add_ps(_mm256_castps256_ps128(lanes), _mm256_extractf128_ps(lanes, 1));
  half = _mm_add_ps(half, _mm_movehl_ps(half, half));
  half = _mm_add_ss(half, _mm_movehdup_ps(half));
  return _mm_cvtss_f32(half);
}

// Two accumulators of eight lanes each hide the latency of the fused multiply-add.
__attribute__((target("avx2,fma"))) float dot_avx2(const float* a, const float* b,
                                                   std::size_t n) noexcept {
  __m256 first = _mm256_setzero_ps();
  __m256 second = _mm256_setzero_ps();
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    first = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), first);
    second = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), second);
  }
  if (i + 8 <= n) {
    first = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), first);
    i += 8;
  }
  float sum = horizontal_sum(_mm256_add_ps(first, second));
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

// Sixteen lanes; the last partial block is read with a mask, never past the arrays.
__attribute__((target("avx512f"))) float dot_avx512(const float* a, const float* b,
                                                    std::size_t n) noexcept {
  __m512 first = _mm512_setzero_ps();
  __m512 second = _mm512_setzero_ps();
  std::size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    first = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), first);
    second = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), second);
  }
  for (; i + 16 <= n; i += 16)
    first = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), first);
  if (i < n) {
    const auto mask = static_cast<__mmask16>((1u << (n - i)) - 1);
    second = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(mask, a + i),
                             _mm512_maskz_loadu_ps(mask, b + i), second);
  }
  // Through memory rather than _mm512_reduce_add_ps, which GCC 12 warns about (a false
  // "used uninitialized" inside its own header).
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, _mm512_add_ps(first, second));
  return horizontal_sum(_mm256_add_ps(_mm256_load_ps(lanes), _mm256_load_ps(lanes + 8)));
}

#endif

std::vector<dot_product_implementation> detect() {
  std::vector<dot_product_implementation> found;
#ifdef BOOKMCP_X86_DISPATCH
  // libgcc's checks include the operating system's support for the wider registers (XCR0).
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) found.push_back({"avx512", &dot_avx512});
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    found.push_back({"avx2", &dot_avx2});
#endif
  found.push_back({"portable", &dot_portable});
  return found;
}

const std::vector<dot_product_implementation>& implementations() {
  static const std::vector<dot_product_implementation> found = detect();
  return found;
}

}  // namespace

const dot_product_implementation& best_dot_product() noexcept {
  static const dot_product_implementation& best = implementations().front();
  return best;
}

std::span<const dot_product_implementation> dot_product_implementations() noexcept {
  return implementations();
}

}  // namespace bookmcp::rag
