// Bearer token verification (transport/auth) on tokens no issuer would send.

#include "transport/auth.hpp"

#include <gtest/gtest.h>

#include <string>

namespace bookmcp::transport {
namespace {

// A JWT of alg "none" whose header has the byte 0xef where a letter was: cpp-jwt's decoder
// indexed its table with that (negative) char and read before it. Found by tests/fuzz/auth_fuzz
// (its regression input is in tests/fuzz/regressions/auth); under UBSan the read aborts.
TEST(JwtAuthenticator, TokensWithBytesOutsideBase64urlAreRefusedBeforeDecoding) {
  jwt_options options;
  options.key = "a-secret-of-twenty-four-b";
  auto verifier = make_jwt_authenticator(options);
  const std::string token =
      "eyJhbGciOiJub25lIiwidHlwIj\xefiSldUIn0.eyJxdWIiOiJ4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.";
  EXPECT_FALSE(verifier->authenticate(token));
  const std::string bad_tokens[] = {"a.b.c=", "a.b.c d", "a+b.c.d", "a/b.c.d",
                                    std::string("a.b\0.c", 6), "a.b.c.d", "a.b",
                                    "\x80.\x80.\x80"};
  for (const auto& bad : bad_tokens)
    EXPECT_FALSE(verifier->authenticate(bad)) << bad;
}

}  // namespace
}  // namespace bookmcp::transport
