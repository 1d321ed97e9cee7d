#pragma once
// Bearer authentication for the network transports: static API keys and JWTs signed with a
// shared secret (HS256) or verified with a public key (RS256, ES256/384/512).
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

// API keys from a file of lines "SUBJECT KEY" or "SUBJECT sha256:HEX" ('#' at the start of a
// line or after white space starts a comment; inside a key it is part of the key).
// Keys are compared in constant time (plain keys are hashed on load, so every comparison is
// between SHA-256 digests). Throws auth_config_error naming the file and line.
std::unique_ptr<authenticator> load_api_keys(const std::string& path);

struct jwt_options {
  std::string key;                  // HS256: the shared secret; otherwise a PEM public key
  std::string algorithm = "HS256";  // the only "alg" accepted
  std::string issuer;               // checked when not empty
  std::string audience;             // checked when not empty
  std::chrono::seconds leeway{30};
};
// JWTs of one algorithm: checks the signature, exp, nbf, and iss/aud when configured;
// subject = "sub". Tokens of any other "alg" are refused (an HS256 token "signed" with a
// public key as its secret among them). Throws auth_config_error for a secret under 16 bytes.
std::unique_ptr<authenticator> make_jwt_authenticator(jwt_options options);
// Reads the secret from a file (trailing newline stripped).
std::string read_secret_file(const std::string& path);

struct jwt_public_key {
  std::string pem;
  std::string algorithm;  // RS256 (RSA, 2048 bits or more); ES256, ES384, ES512 (P-256/384/521)
};
// Reads a PEM public key ("-----BEGIN PUBLIC KEY-----", as an issuer publishes it) and picks
// its algorithm from the key. Throws auth_config_error naming the file and the problem.
jwt_public_key read_public_key_file(const std::string& path);

// Tries each authenticator in order.
std::unique_ptr<authenticator> combine(std::vector<std::unique_ptr<authenticator>> parts);

// SHA-256 of `data` as lowercase hex.
std::string sha256_hex(std::string_view data);

}  // namespace bookmcp::transport
