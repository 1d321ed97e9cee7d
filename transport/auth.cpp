#include "transport/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/sha.h>

#include <array>
#include <fstream>
#include <jwt/jwt.hpp>
#include <sstream>

namespace bookmcp::transport {

namespace {

using digest = std::array<unsigned char, SHA256_DIGEST_LENGTH>;

digest sha256(std::string_view data) {
  digest out{};
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out.data());
  return out;
}

std::optional<digest> parse_hex_digest(std::string_view hex) {
  if (hex.size() != SHA256_DIGEST_LENGTH * 2) return std::nullopt;
  digest out{};
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < out.size(); ++i) {
    const int high = nibble(hex[2 * i]);
    const int low = nibble(hex[2 * i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out[i] = static_cast<unsigned char>(high * 16 + low);
  }
  return out;
}

class api_key_authenticator final : public authenticator {
 public:
  struct entry {
    std::string subject;
    digest key_digest;
  };
  explicit api_key_authenticator(std::vector<entry> entries) : entries_(std::move(entries)) {}

  std::optional<std::string> authenticate(std::string_view token) const override {
    const digest presented = sha256(token);
    // Compare against every entry so that timing does not reveal which one matched.
    const entry* match = nullptr;
    for (const auto& item : entries_) {
      if (CRYPTO_memcmp(item.key_digest.data(), presented.data(), presented.size()) == 0) match = &item;
    }
    if (!match) return std::nullopt;
    return match->subject;
  }

 private:
  std::vector<entry> entries_;
};

// A compact JWS (RFC 7515 section 7.1): three parts of unpadded base64url (letters, digits,
// '-', '_') joined by dots. Checked before cpp-jwt sees a token: its decoder indexes a table
// with the token's chars, and a byte over 0x7f (a negative char) read before the table (found
// by tests/fuzz/auth_fuzz).
bool is_compact_jws(std::string_view token) {
  int dots = 0;
  for (const char c : token) {
    if (c == '.') {
      ++dots;
    } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_')) {
      return false;
    }
  }
  return dots == 2;
}

class jwt_authenticator final : public authenticator {
 public:
  explicit jwt_authenticator(jwt_options options) : options_(std::move(options)) {}

  std::optional<std::string> authenticate(std::string_view token) const override {
    // A token that is not three base64url parts is not a JWT; do not bother the library.
    if (!is_compact_jws(token)) return std::nullopt;
    try {
      std::error_code error;
      // The audience is checked here rather than by the library, which only accepts a string
      // "aud"; RFC 7519 section 4.1.3 also allows an array.
      const jwt::string_view text(token.data(), token.size());
      const auto leeway = jwt::params::leeway(static_cast<std::uint32_t>(options_.leeway.count()));
      jwt::jwt_object decoded =
          options_.issuer.empty()
              ? jwt::decode(text, jwt::params::algorithms({options_.algorithm}), error,
                            jwt::params::secret(options_.key), jwt::params::verify(true), leeway)
              : jwt::decode(text, jwt::params::algorithms({options_.algorithm}), error,
                            jwt::params::secret(options_.key), jwt::params::verify(true), leeway,
                            jwt::params::issuer(options_.issuer));
      if (error) return std::nullopt;
      // RFC 7515 section 4.1.11: a "crit" header lists extensions the recipient must
      // understand; this one understands none.
      if (decoded.header().create_json_obj().contains("crit")) return std::nullopt;
      const auto& payload = decoded.payload().create_json_obj();
      if (!options_.audience.empty()) {
        auto audience = payload.find("aud");
        if (audience == payload.end()) return std::nullopt;
        bool matched = audience->is_string() && audience->get<std::string>() == options_.audience;
        if (audience->is_array()) {
          for (const auto& item : *audience) matched = matched || (item.is_string() && item.get<std::string>() == options_.audience);
        }
        if (!matched) return std::nullopt;
      }
      auto subject = payload.find("sub");
      if (subject == payload.end() || !subject->is_string() || subject->get<std::string>().empty()) return std::nullopt;
      return subject->get<std::string>();
    } catch (const std::exception&) {
      return std::nullopt;
    }
  }

 private:
  jwt_options options_;
};

class combined_authenticator final : public authenticator {
 public:
  explicit combined_authenticator(std::vector<std::unique_ptr<authenticator>> parts) : parts_(std::move(parts)) {}
  std::optional<std::string> authenticate(std::string_view token) const override {
    for (const auto& part : parts_) {
      if (auto subject = part->authenticate(token)) return subject;
    }
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<authenticator>> parts_;
};

}  // namespace

std::string sha256_hex(std::string_view data) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : sha256(data)) {
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 15]);
  }
  return out;
}

std::unique_ptr<authenticator> load_api_keys(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw auth_config_error("auth-keys: cannot read " + path);
  std::vector<api_key_authenticator::entry> entries;
  std::string line;
  int number = 0;
  while (std::getline(file, line)) {
    ++number;
    // A comment starts with '#' at the start of the line or after white space: a '#' inside a
    // key is part of the key (cutting there silently shortened such keys).
    for (std::size_t hash = line.find('#'); hash != std::string::npos;
         hash = line.find('#', hash + 1)) {
      if (hash == 0 || line[hash - 1] == ' ' || line[hash - 1] == '\t') {
        line.resize(hash);
        break;
      }
    }
    std::istringstream fields(line);
    std::string subject, key, extra;
    if (!(fields >> subject)) continue;  // blank or comment
    if (!(fields >> key) || (fields >> extra)) {
      throw auth_config_error("auth-keys: " + path + " line " + std::to_string(number) +
                              ": expected \"SUBJECT KEY\" or \"SUBJECT sha256:HEX\"");
    }
    api_key_authenticator::entry entry{subject, {}};
    if (key.rfind("sha256:", 0) == 0) {
      auto parsed = parse_hex_digest(std::string_view(key).substr(7));
      if (!parsed) {
        throw auth_config_error("auth-keys: " + path + " line " + std::to_string(number) +
                                ": sha256: must be followed by 64 hex digits");
      }
      entry.key_digest = *parsed;
    } else {
      if (key.size() < 16) {
        throw auth_config_error("auth-keys: " + path + " line " + std::to_string(number) +
                                ": keys must be at least 16 characters");
      }
      entry.key_digest = sha256(key);
    }
    entries.push_back(std::move(entry));
  }
  if (entries.empty()) throw auth_config_error("auth-keys: " + path + " holds no keys");
  return std::make_unique<api_key_authenticator>(std::move(entries));
}

std::unique_ptr<authenticator> make_jwt_authenticator(jwt_options options) {
  if (options.algorithm == "HS256" && options.key.size() < 16)
    throw auth_config_error("jwt-secret-file: the secret must be at least 16 bytes");
  return std::make_unique<jwt_authenticator>(std::move(options));
}

jwt_public_key read_public_key_file(const std::string& path) {
  const auto problem = [&](const std::string& what) {
    return auth_config_error("jwt-public-key-file: " + path + ": " + what);
  };
  std::ifstream file(path, std::ios::binary);
  if (!file) throw auth_config_error("jwt-public-key-file: cannot read " + path);
  std::string pem((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
  if (!key) throw problem("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key.get()) < 2048)
        throw problem("an RSA key must have at least 2048 bits");
      return {std::move(pem), "RS256"};
    case EVP_PKEY_EC: {
      char curve[64] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_group_name(key.get(), curve, sizeof curve, &length) == 1) {
        const std::string_view name(curve, length);
        if (name == "prime256v1" || name == "P-256") return {std::move(pem), "ES256"};
        if (name == "secp384r1" || name == "P-384") return {std::move(pem), "ES384"};
        if (name == "secp521r1" || name == "P-521") return {std::move(pem), "ES512"};
      }
      throw problem("an EC key must be on curve P-256, P-384 or P-521");
    }
    default:
      throw problem("the key must be RSA (RS256) or EC (ES256, ES384, ES512)");
  }
}

std::string read_secret_file(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw auth_config_error("jwt-secret-file: cannot read " + path);
  std::string secret((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

std::unique_ptr<authenticator> combine(std::vector<std::unique_ptr<authenticator>> parts) {
  return std::make_unique<combined_authenticator>(std::move(parts));
}

}  // namespace bookmcp::transport
