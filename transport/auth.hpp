#pragma once
// Bearer authentication for the network transports: static API keys and HS256 JWTs.
//
// authenticate() maps a bearer token to a subject (the identity todos are scoped by). It is
// thread-safe and never logs credentials.

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace bookmcp::transport {

class auth_config_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class authenticator {
 public:
  virtual ~authenticator() = default;
  // The subject of a valid token, or nullopt.
  virtual std::optional<std::string> authenticate(std::string_view token) const = 0;
};

// API keys from a file of lines "SUBJECT KEY" or "SUBJECT sha256:HEX" ('#' starts a comment).
// Keys are compared in constant time (plain keys are hashed on load, so every comparison is
// between SHA-256 digests). Throws auth_config_error naming the file and line.
std::unique_ptr<authenticator> load_api_keys(const std::string& path);

struct jwt_options {
  std::string secret;    // HS256 key
  std::string issuer;    // checked when not empty
  std::string audience;  // checked when not empty
  std::chrono::seconds leeway{30};
};
// HS256 JWTs: checks the signature, exp, nbf, and iss/aud when configured; subject = "sub".
std::unique_ptr<authenticator> make_jwt_authenticator(jwt_options options);
// Reads the secret from a file (trailing newline stripped).
std::string read_secret_file(const std::string& path);

// Tries each authenticator in order.
std::unique_ptr<authenticator> combine(std::vector<std::unique_ptr<authenticator>> parts);

// SHA-256 of `data` as lowercase hex.
std::string sha256_hex(std::string_view data);

}  // namespace bookmcp::transport
