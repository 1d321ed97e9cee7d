// An answer of an embeddings endpoint (OpenAI's format, floats or base64) as the client reads it.
//
// The first byte gives the number of inputs (1 to 8), the second the expected dimension (0: the
// first vector's), the rest is the body.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - an answer is refused only with embedding_error(bad_response);
//   - an accepted one has a vector per input, all of one length (the expected one when given),
//     every value finite, each of unit length or all zeros.

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "rag/embedder.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& body) {
  std::fprintf(stderr, "invariant broken: %s\nbody: %.2000s\n", what, body.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::rag;
  if (size < 2) return 0;
  const std::size_t count = 1 + data[0] % 8;
  const std::size_t dimensions = data[1] % 65;
  const std::string body(reinterpret_cast<const char*>(data + 2), size - 2);
  std::vector<std::vector<float>> vectors;
  try {
    vectors = read_embeddings_answer(body, count, dimensions);
  } catch (const embedding_error& error) {
    if (error.error_kind() != embedding_error::kind::bad_response)
      broken("a refusal that is not bad_response", body);
    return 0;
  }
  if (vectors.size() != count) broken("another number of vectors than inputs", body);
  const std::size_t length = vectors.front().size();
  if (length == 0 || (dimensions != 0 && length != dimensions)) broken("a wrong length", body);
  for (const auto& vector : vectors) {
    if (vector.size() != length) broken("vectors of different lengths", body);
    double norm = 0;
    for (float value : vector) {
      if (!std::isfinite(value)) broken("a value that is not finite", body);
      norm += double(value) * value;
    }
    if (norm != 0 && std::fabs(norm - 1.0) > 1e-3) broken("a vector not of unit length", body);
  }
  return 0;
}
