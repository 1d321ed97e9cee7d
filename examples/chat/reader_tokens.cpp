#include "examples/chat/reader_tokens.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <fstream>
#include <jwt/jwt.hpp>
#include <sstream>
#include <stdexcept>

#include "transport/auth.hpp"

namespace bookmcp::chat {

namespace {

constexpr const char* issuer = "bookmcp-chat";
constexpr const char* access_audience = "bookmcp-chat:access";
constexpr const char* refresh_audience = "bookmcp-chat:refresh";

std::string sign(const std::string& algorithm, const std::string& key, const std::string& subject,
                 const std::string& audience, std::chrono::seconds lifetime) {
  const auto now = std::chrono::system_clock::now();
  jwt::jwt_object token{jwt::params::algorithm(algorithm), jwt::params::secret(key)};
  token.add_claim("iss", issuer)
      .add_claim("sub", subject)
      .add_claim("iat", now)
      .add_claim("exp", now + lifetime)
      .add_claim("jti", random_id("t_"));
  if (!audience.empty()) token.add_claim("aud", audience);
  return token.signature();
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read the " + std::string(what) + " file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string random_id(std::string_view prefix) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) throw std::runtime_error("no random bytes");
  static constexpr char digits[] = "0123456789abcdef";
  std::string id(prefix);
  for (unsigned char b : bytes) {
    id += digits[b >> 4];
    id += digits[b & 15];
  }
  return id;
}

reader_tokens::reader_tokens(std::string secret, std::chrono::seconds access_lifetime,
                             std::chrono::seconds refresh_lifetime)
    : secret_(std::move(secret)),
      access_lifetime_(access_lifetime),
      refresh_lifetime_(refresh_lifetime) {
  if (secret_.size() < 32) {
    throw std::invalid_argument(
        "CHAT_SECRET_KEY must be at least 32 bytes (e.g. openssl rand -hex 32)");
  }
  transport::jwt_options options;
  options.key = secret_;
  options.issuer = issuer;
  options.leeway = std::chrono::seconds(5);
  options.audience = access_audience;
  access_check_ = transport::make_jwt_authenticator(options);
  options.audience = refresh_audience;
  refresh_check_ = transport::make_jwt_authenticator(options);
}

reader_tokens::~reader_tokens() = default;

reader_session reader_tokens::issue(const std::string& reader_id) const {
  return {reader_id, sign("HS256", secret_, reader_id, access_audience, access_lifetime_),
          sign("HS256", secret_, reader_id, refresh_audience, refresh_lifetime_),
          access_lifetime_};
}

reader_session reader_tokens::open_session() const {
  return issue(random_id("r_"));
}

std::optional<reader_session> reader_tokens::refresh(std::string_view refresh_token) const {
  auto reader = refresh_check_->authenticate(refresh_token);
  if (!reader) return std::nullopt;
  return issue(*reader);
}

std::optional<std::string> reader_tokens::reader_of(std::string_view access_token) const {
  return access_check_->authenticate(access_token);
}

mcp_token_minter::mcp_token_minter(std::string algorithm, std::string key,
                                   std::chrono::seconds lifetime)
    : algorithm_(std::move(algorithm)), key_(std::move(key)), lifetime_(lifetime) {}

mcp_token_minter mcp_token_minter::from_secret_file(const std::string& path) {
  std::string secret = transport::read_secret_file(path);
  if (secret.size() < 16) {
    throw std::runtime_error("the MCP JWT secret in " + path + " is under 16 bytes");
  }
  return mcp_token_minter("HS256", std::move(secret));
}

mcp_token_minter mcp_token_minter::from_private_key_file(const std::string& path) {
  std::string pem = read_file(path, "MCP JWT private key");
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* key = bio ? PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr) : nullptr;
  if (bio) BIO_free(bio);
  if (!key) throw std::runtime_error(path + " holds no PEM private key");
  const int type = EVP_PKEY_get_base_id(key);
  const int bits = EVP_PKEY_get_bits(key);
  EVP_PKEY_free(key);
  if (type == EVP_PKEY_RSA && bits >= 2048) return mcp_token_minter("RS256", std::move(pem));
  if (type == EVP_PKEY_EC && bits == 256) return mcp_token_minter("ES256", std::move(pem));
  throw std::runtime_error(path +
                           ": the key must be RSA of 2048 bits or more (RS256) or P-256 (ES256)");
}

std::string mcp_token_minter::token_for(std::string_view reader_id) const {
  return sign(algorithm_, key_, std::string(reader_id), "", lifetime_);
}

}  // namespace bookmcp::chat
