#include "mcp/request_state.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <memory>
#include <stdexcept>

#include "mcp/base64.hpp"

namespace bookmcp::mcp {

namespace {

constexpr std::size_t nonce_size = 12;
constexpr std::size_t tag_size = 16;

using cipher_context = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

cipher_context new_context() {
  cipher_context context(EVP_CIPHER_CTX_new(), &EVP_CIPHER_CTX_free);
  if (!context) throw std::runtime_error("request state: out of memory");
  return context;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// base64url without padding: the state travels in JSON and, on HTTP, may be logged by proxies.
std::string to_base64url(std::string_view bytes) {
  std::string out = base64_encode(bytes);
  while (!out.empty() && out.back() == '=') out.pop_back();
  for (char& c : out) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return out;
}

std::optional<std::string> from_base64url(std::string_view text) {
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/' || c == '=') {
      return std::nullopt;
    }
  }
  while (standard.size() % 4 != 0) standard.push_back('=');
  return base64_decode(standard);
}

}  // namespace

request_state_codec::request_state_codec(const key_type& key) : key_(key) {}

request_state_codec request_state_codec::with_random_key() {
  key_type key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
    throw std::runtime_error("request state: no random key from OpenSSL");
  return request_state_codec(key);
}

request_state_codec::key_type request_state_codec::parse_key(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.remove_suffix(1);
  key_type key{};
  if (text.size() == 2 * key_size) {
    for (std::size_t i = 0; i < key_size; ++i) {
      const int high = hex_value(text[2 * i]);
      const int low = hex_value(text[2 * i + 1]);
      if (high < 0 || low < 0) throw std::invalid_argument("the request-state key is not hex");
      key[i] = static_cast<unsigned char>(high * 16 + low);
    }
    return key;
  }
  std::optional<std::string> raw = base64_decode(text);
  if (!raw) raw = from_base64url(text);
  if (!raw || raw->size() != key_size) {
    throw std::invalid_argument(
        "the request-state key must be 32 bytes: 64 hex digits or 44 base64 characters "
        "(e.g. the output of `openssl rand -hex 32`)");
  }
  std::copy(raw->begin(), raw->end(), key.begin());
  return key;
}

std::string request_state_codec::seal(const json& payload) const {
  const std::string plain = dump_json(payload);
  std::string out(nonce_size + plain.size() + tag_size, '\0');
  auto* bytes = reinterpret_cast<unsigned char*>(out.data());
  if (RAND_bytes(bytes, nonce_size) != 1) throw std::runtime_error("request state: no random nonce");
  auto context = new_context();
  int written = 0;
  if (EVP_EncryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key_.data(), bytes) != 1 ||
      EVP_EncryptUpdate(context.get(), bytes + nonce_size, &written,
                        reinterpret_cast<const unsigned char*>(plain.data()),
                        static_cast<int>(plain.size())) != 1) {
    throw std::runtime_error("request state: encryption failed");
  }
  int final_bytes = 0;
  if (EVP_EncryptFinal_ex(context.get(), bytes + nonce_size + written, &final_bytes) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_GET_TAG, tag_size,
                          bytes + nonce_size + plain.size()) != 1) {
    throw std::runtime_error("request state: encryption failed");
  }
  return to_base64url(out);
}

std::optional<json> request_state_codec::open(std::string_view sealed) const {
  if (sealed.size() > 1024 * 1024) return std::nullopt;
  const auto raw = from_base64url(sealed);
  if (!raw || raw->size() < nonce_size + tag_size) return std::nullopt;
  const auto* bytes = reinterpret_cast<const unsigned char*>(raw->data());
  const std::size_t cipher_size = raw->size() - nonce_size - tag_size;
  std::string plain(cipher_size, '\0');
  auto context = new_context();
  int written = 0;
  if (EVP_DecryptInit_ex(context.get(), EVP_aes_256_gcm(), nullptr, key_.data(), bytes) != 1 ||
      EVP_DecryptUpdate(context.get(), reinterpret_cast<unsigned char*>(plain.data()), &written,
                        bytes + nonce_size, static_cast<int>(cipher_size)) != 1 ||
      EVP_CIPHER_CTX_ctrl(context.get(), EVP_CTRL_GCM_SET_TAG, tag_size,
                          const_cast<unsigned char*>(bytes + nonce_size + cipher_size)) != 1) {
    return std::nullopt;
  }
  int final_bytes = 0;
  if (EVP_DecryptFinal_ex(context.get(), reinterpret_cast<unsigned char*>(plain.data()) + written,
                          &final_bytes) != 1) {
    return std::nullopt;  // the tag does not match: changed, or sealed with another key
  }
  auto payload = parse_json_text(plain);
  if (!payload || !payload->is_object()) return std::nullopt;
  return payload;
}

}  // namespace bookmcp::mcp
