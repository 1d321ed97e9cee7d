#pragma once
// Identities in the chat backend.
//
// Readers are anonymous: POST /api/session gives each one an id and two HS256 tokens signed
// with CHAT_SECRET_KEY, an access token (30 minutes) and a refresh token (7 days). The two are
// told apart by their audience, so a refresh token is never accepted as an access token. They
// are checked by bookmcp's own JWT authenticator (the same checks, the same hardening).
//
// Towards bookmcp the backend acts as the reader: each MCP connection carries a short-lived JWT
// whose `sub` is the reader id, HS256 with the secret bookmcp trusts (--jwt-secret-file), or
// RS256/ES256 with a private key whose public half bookmcp has (--jwt-public-key-file).

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bookmcp::transport {
class authenticator;
}

namespace bookmcp::chat {

struct reader_session {
  std::string reader_id;
  std::string access_token;
  std::string refresh_token;
  std::chrono::seconds expires_in;
};

class reader_tokens {
 public:
  // Throws std::invalid_argument for a secret under 32 bytes.
  explicit reader_tokens(std::string secret,
                         std::chrono::seconds access_lifetime = std::chrono::minutes(30),
                         std::chrono::seconds refresh_lifetime = std::chrono::hours(24 * 7));
  ~reader_tokens();

  reader_session open_session() const;  // a new reader
  // A new pair for the reader of a valid refresh token; nullopt otherwise.
  std::optional<reader_session> refresh(std::string_view refresh_token) const;
  // The reader id of a valid access token; nullopt otherwise.
  std::optional<std::string> reader_of(std::string_view access_token) const;

 private:
  reader_session issue(const std::string& reader_id) const;

  std::string secret_;
  std::chrono::seconds access_lifetime_;
  std::chrono::seconds refresh_lifetime_;
  std::unique_ptr<transport::authenticator> access_check_;
  std::unique_ptr<transport::authenticator> refresh_check_;
};

// Mints the JWTs the backend presents to bookmcp.
class mcp_token_minter {
 public:
  // `algorithm` HS256 with a shared secret, or RS256/ES256 with a PEM private key.
  mcp_token_minter(std::string algorithm, std::string key,
                   std::chrono::seconds lifetime = std::chrono::minutes(10));
  // Reads a secret file (HS256) or a PEM private key file (RS256 for an RSA key, ES256 for a
  // P-256 key). Throws std::runtime_error naming the file.
  static mcp_token_minter from_secret_file(const std::string& path);
  static mcp_token_minter from_private_key_file(const std::string& path);

  std::string token_for(std::string_view reader_id) const;
  std::chrono::seconds lifetime() const { return lifetime_; }

 private:
  std::string algorithm_;
  std::string key_;
  std::chrono::seconds lifetime_;
};

// A random id with a prefix: "r_" + 32 hex digits (128 bits from the system's CSPRNG).
std::string random_id(std::string_view prefix);

}  // namespace bookmcp::chat
