#include "rag/dot_product.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

using namespace bookmcp;

namespace {

double reference(const std::vector<float>& a, const std::vector<float>& b, std::size_t offset) {
  double sum = 0;
  for (std::size_t i = offset; i < a.size(); ++i) sum += double(a[i]) * double(b[i]);
  return sum;
}

}  // namespace

TEST(DotProduct, EveryImplementationThisCpuRunsAgreesWithADoublePrecisionSum) {
  const auto implementations = rag::dot_product_implementations();
  ASSERT_FALSE(implementations.empty());
  EXPECT_EQ(implementations.back().name, "portable");
  EXPECT_EQ(rag::best_dot_product().name, implementations.front().name);
  std::mt19937 random(7);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  // Every tail length of each block size, the common embedding sizes, and arrays that start
  // off a vector boundary (offset 1). Arrays are exactly as long as the sum reads, so a read past
  // them would show under the sanitizers.
  std::vector<std::size_t> lengths;
  for (std::size_t n = 0; n <= 70; ++n) lengths.push_back(n);
  for (std::size_t n : {255u, 384u, 768u, 1024u, 1536u, 3072u}) lengths.push_back(n);
  for (const auto& implementation : implementations) {
    for (std::size_t n : lengths) {
      for (std::size_t offset : {0u, 1u}) {
        std::vector<float> a(n + offset), b(n + offset);
        for (auto& x : a) x = value(random);
        for (auto& x : b) x = value(random);
        const double expected = reference(a, b, offset);
        const float got = implementation.function(a.data() + offset, b.data() + offset, n);
        EXPECT_NEAR(got, expected, 1e-5 * (1.0 + double(n)))
            << implementation.name << " n=" << n << " offset=" << offset;
      }
    }
  }
}

TEST(DotProduct, AUnitVectorWithItselfIsOne) {
  std::vector<float> v(384);
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = float(i % 7) - 3.0f;
  double norm = 0;
  for (float x : v) norm += double(x) * x;
  for (auto& x : v) x = float(x / std::sqrt(norm));
  for (const auto& implementation : rag::dot_product_implementations())
    EXPECT_NEAR(implementation.function(v.data(), v.data(), v.size()), 1.0f, 1e-6)
        << implementation.name;
}
