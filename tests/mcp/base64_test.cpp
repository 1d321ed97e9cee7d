#include <string>

#include <gtest/gtest.h>

#include "mcp/base64.hpp"

namespace bookmcp::mcp {
namespace {

TEST(Base64, Rfc4648Vectors) {
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64_encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64_decode("Zm9vYmE="), "fooba");
  EXPECT_EQ(base64_decode(""), "");
}

TEST(Base64, RoundTripsEveryByteAndLength) {
  std::string all;
  for (int byte = 0; byte < 256; ++byte) all.push_back(static_cast<char>(byte));
  for (std::size_t length = 0; length <= all.size(); ++length) {
    const std::string bytes = all.substr(all.size() - length);
    const std::string encoded = base64_encode(bytes);
    EXPECT_EQ(encoded.size() % 4, 0u);
    const auto decoded = base64_decode(encoded);
    ASSERT_TRUE(decoded) << "length " << length;
    EXPECT_EQ(*decoded, bytes) << "length " << length;
  }
  EXPECT_EQ(base64_encode("\xfb\xff"), "+/8=");
}

TEST(Base64, InvalidInputIsRejected) {
  for (const char* text : {"Zg", "Zg=", "Zm9", "Z===", "====", "Zg==Zg==", "Zm=v", "Zm9v!A==", "Zm9v YQ==",
                           "Zm9v\nYQ==", "Zm-_", "=Zm9"}) {
    EXPECT_FALSE(base64_decode(text)) << '"' << text << '"';
  }
}

}  // namespace
}  // namespace bookmcp::mcp
