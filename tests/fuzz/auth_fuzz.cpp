// A bearer token (any bytes) against the verifiers a network listener uses: an HS256 JWT
// verifier with a known secret, and an API keys file.
//
// Invariants beyond "no crash, no leak, no undefined behaviour":
//   - authenticate() answers (a subject or nothing) and never throws;
//   - a JWT is accepted only when, checked here independently with OpenSSL: it has three
//     base64url parts, its header's alg is HS256, its signature is the HMAC-SHA256 of the first
//     two parts under the secret, its payload's "sub" is the subject returned and its "exp" has
//     not passed;
//   - an API key is accepted exactly when it is the key of the file, as that key's subject.

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "transport/auth.hpp"

namespace {

using json = nlohmann::json;

const std::string secret = "fuzz-secret-0123456789-abcdef";
const std::string api_key = "fuzz-key-0123456789-abcdefghij";

[[noreturn]] void broken(const char* what, const std::string& token) {
  std::fprintf(stderr, "invariant broken: %s\ntoken: %.2000s\n", what, token.c_str());
  std::abort();
}

std::optional<std::string> base64url(std::string text) {
  for (char& c : text) {
    if (c == '-') c = '+';
    else if (c == '_') c = '/';
    else if (c == '+' || c == '/' || c == '=') return std::nullopt;
  }
  const std::size_t padding = (4 - text.size() % 4) % 4;
  if (padding == 3) return std::nullopt;
  text.append(padding, '=');
  std::string out(text.size() / 4 * 3, '\0');
  const int written = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                      reinterpret_cast<const unsigned char*>(text.data()),
                                      static_cast<int>(text.size()));
  if (written < 0) return std::nullopt;
  out.resize(static_cast<std::size_t>(written) - padding);
  return out;
}

// Whether `token` is a current HS256 JWT for `subject`, signed with the secret.
bool genuine(const std::string& token, const std::string& subject) {
  const auto first = token.find('.');
  const auto second = first == std::string::npos ? first : token.find('.', first + 1);
  if (second == std::string::npos || token.find('.', second + 1) != std::string::npos) return false;
  const auto header = base64url(token.substr(0, first));
  const auto payload = base64url(token.substr(first + 1, second - first - 1));
  const auto signature = base64url(token.substr(second + 1));
  if (!header || !payload || !signature) return false;
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  const std::string signed_part = token.substr(0, second);
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac,
       &mac_size);
  if (*signature != std::string(reinterpret_cast<const char*>(mac), mac_size)) return false;
  const json head = json::parse(*header, nullptr, false);
  const json claims = json::parse(*payload, nullptr, false);
  if (!head.is_object() || head.value("alg", json()) != "HS256") return false;
  if (!claims.is_object() || claims.value("sub", json()) != subject) return false;
  const auto exp = claims.find("exp");
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return exp != claims.end() && exp->is_number() && exp->get<double>() > double(now - 60);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace bookmcp::transport;
  static const auto jwt = make_jwt_authenticator({.key = secret});
  static const auto keys = [] {
    const auto path = std::filesystem::temp_directory_path() /
                      ("bookmcp-fuzz-keys-" + std::to_string(::getpid()));
    std::ofstream(path) << "# fuzz\nalice " << api_key << "\n";
    auto loaded = load_api_keys(path.string());
    std::filesystem::remove(path);
    return loaded;
  }();
  const std::string token(reinterpret_cast<const char*>(data), size);

  std::optional<std::string> subject;
  try {
    subject = jwt->authenticate(token);
  } catch (...) {
    broken("the JWT verifier threw", token);
  }
  if (subject && !genuine(token, *subject)) broken("a JWT accepted that is not genuine", token);

  std::optional<std::string> key_subject;
  try {
    key_subject = keys->authenticate(token);
  } catch (...) {
    broken("the API keys threw", token);
  }
  if (key_subject.has_value() != (token == api_key) || (key_subject && *key_subject != "alice"))
    broken("an API key answer that is not the file's", token);
  return 0;
}
