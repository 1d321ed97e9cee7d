// Todo list cursors: unpadded base64url of JSON, as a client hands them back (any text).
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - encoding any bytes and decoding the result gives the bytes back;
//   - text that decodes re-encodes to text that decodes to the same bytes;
//   - decoding refuses (nullopt) rather than throws.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "store/internal/todo_engine.hpp"

namespace {

[[noreturn]] void broken(const char* what, const std::string& input) {
  std::fprintf(stderr, "invariant broken: %s\ninput: %.2000s\n", what, input.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::store::internal;
  const std::string input(reinterpret_cast<const char*>(data), size);

  const auto round_trip = base64url_decode(base64url_encode(input));
  if (!round_trip || *round_trip != input) broken("encode then decode lost the bytes", input);

  if (const auto decoded = base64url_decode(input)) {
    const auto again = base64url_decode(base64url_encode(*decoded));
    if (!again || *again != *decoded) broken("a decoded cursor does not survive re-encoding", input);
  }
  return 0;
}
