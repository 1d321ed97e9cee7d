#pragma once
// The requestState of a multi-round request (2026-07-28, input_required): what the server
// needs to carry from one round to the next, sealed so that the client can neither read nor
// change it, and so that any replica holding the same key can open it (no server memory).
//
// Sealed with AES-256-GCM: base64url(nonce[12] | ciphertext | tag[16]). A tampered, truncated
// or foreign (other key) state does not open.

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

class request_state_codec {
 public:
  static constexpr std::size_t key_size = 32;
  using key_type = std::array<unsigned char, key_size>;

  explicit request_state_codec(const key_type& key);
  // A codec with a random key: states open only in this process.
  static request_state_codec with_random_key();
  // A key from its configured text: 64 hex digits or 43/44 base64 characters (32 bytes).
  // Throws std::invalid_argument for anything else.
  static key_type parse_key(std::string_view text);

  std::string seal(const json& payload) const;
  // The payload, or nullopt when the state is not one this key sealed unchanged.
  std::optional<json> open(std::string_view sealed) const;

 private:
  key_type key_;
};

}  // namespace bookmcp::mcp
