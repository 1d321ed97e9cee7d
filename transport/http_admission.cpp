// Admission to /mcp, for HTTP requests and WebSocket upgrades alike: the Origin and Host
// checks, CORS and the preflight, authentication (admit), the per-identity rate limit
// (limit_rate); and the responses every route builds (make_response, json_error).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "transport/detail/http_impl.hpp"

namespace bookmcp::transport {

namespace {

std::string jsonrpc_error_body(int code, const std::string& message) {
  return mcp::make_error(std::nullopt, mcp::rpc_error(code, message));
}

// The host part of an Origin ("http://host:port") or Host ("host:port") value.
std::string host_of(std::string_view value) {
  if (const auto scheme = value.find("://"); scheme != std::string_view::npos) value.remove_prefix(scheme + 3);
  if (const auto slash = value.find('/'); slash != std::string_view::npos) value = value.substr(0, slash);
  if (!value.empty() && value.front() == '[') {
    const auto close = value.find(']');
    return std::string(value.substr(0, close == std::string_view::npos ? value.size() : close + 1));
  }
  if (const auto colon = value.rfind(':'); colon != std::string_view::npos) value = value.substr(0, colon);
  return std::string(value);
}

}  // namespace

bool is_loopback_host(const std::string& host) {
  std::string bare = host;
  if (bare.size() >= 2 && bare.front() == '[' && bare.back() == ']') bare = bare.substr(1, bare.size() - 2);
  if (bare == "localhost" || bare == "::1") return true;
  boost::system::error_code error;
  const auto address = net::ip::make_address(bare, error);
  return !error && address.is_loopback();
}

// ---------------------------------------------------------------------------------------
// Responses and admission

http_server::impl::response http_server::impl::make_response(const http::request<http::string_body>& request,
                                                             http::status status, std::string body,
                                                             std::string_view content_type) {
  response out{status, request.version()};
  out.set(http::field::server, "bookmcp");
  out.set(http::field::content_type, content_type);
  out.keep_alive(request.keep_alive());
  out.body() = std::move(body);
  out.prepare_payload();
  return out;
}

http_server::impl::response http_server::impl::json_error(const http::request<http::string_body>& request,
                                                          http::status status, int code,
                                                          const std::string& message) {
  return make_response(request, status, jsonrpc_error_body(code, message));
}

bool http_server::impl::origin_allowed(const std::string& origin) const {
  if (options.allowed_origins.empty()) return is_loopback_host(host_of(origin));
  return origin_listed(origin);
}

bool http_server::impl::origin_listed(std::string_view origin) const {
  return std::any_of(options.allowed_origins.begin(), options.allowed_origins.end(),
                     [&](const std::string& item) { return item == origin || item == "*"; });
}

http_server::impl::response http_server::impl::preflight(
    const http::request<http::string_body>& request) {
  const auto origin = request.find(http::field::origin);
  if (origin != request.end() && !origin_listed(origin->value())) {
    reject("origin");
    spdlog::info("refused a request from origin {}", origin->value());
    return json_error(request, http::status::forbidden, -32000,
                      "Forbidden: origin " + std::string(origin->value()) +
                          " is not allowed; browsers may call /mcp only from the origins given "
                          "with --allowed-origin");
  }
  auto out = make_response(request, http::status::no_content, "");
  out.erase(http::field::content_type);
  out.set(http::field::allow, "GET, POST, DELETE, OPTIONS");
  if (origin != request.end()) {
    allow_cross_origin(request, out);
    out.set(http::field::access_control_allow_methods, "GET, POST, DELETE");
    out.set(http::field::access_control_allow_headers,
            "Authorization, Content-Type, Accept, Mcp-Session-Id, MCP-Protocol-Version, "
            "Last-Event-ID");
    out.set(http::field::access_control_max_age, "600");
  }
  return out;
}

std::optional<http_server::impl::response> http_server::impl::admit(
    const http::request<http::string_body>& request, std::string& identity) {
  // Origin: absent passes (non-browser clients); otherwise it must be allowed.
  if (auto origin = request.find(http::field::origin); origin != request.end()) {
    const std::string value(origin->value());
    if (!origin_allowed(value)) {
      reject("origin");
      spdlog::info("refused a request from origin {}", value);
      return json_error(request, http::status::forbidden, -32000, "Forbidden: origin " + value + " is not allowed");
    }
  }
  // DNS rebinding: a server bound to loopback only answers requests addressed to loopback.
  if (is_loopback_host(options.host)) {
    auto host = request.find(http::field::host);
    if (host == request.end() || !is_loopback_host(host_of(host->value()))) {
      reject("host");
      return json_error(request, http::status::forbidden, -32000, "Forbidden: invalid Host header");
    }
  }
  identity = "anonymous";
  if (options.auth) {
    std::string_view header;
    if (auto field = request.find(http::field::authorization); field != request.end()) header = field->value();
    std::optional<std::string> subject;
    std::string problem = "missing bearer token";
    bool presented = false;
    if (header.size() > 7 && beast::iequals(header.substr(0, 7), "Bearer ")) {
      subject = options.auth->authenticate(header.substr(7));
      problem = "invalid or expired bearer token";
      presented = true;
    }
    if (!subject) {
      reject("unauthorized");
      auto out = json_error(request, http::status::unauthorized, -32001, "Unauthorized: " + problem);
      // RFC 6750 section 3.1: no error code when the request carried no credentials.
      std::string challenge = "Bearer realm=\"bookmcp\"";
      if (presented) challenge += ", error=\"invalid_token\"";
      if (!options.authorization_server.empty()) {
        std::string base = public_url();
        if (const auto path = base.find("/mcp"); path != std::string::npos) base.resize(path);
        challenge += ", resource_metadata=\"" + base + "/.well-known/oauth-protected-resource\"";
      }
      out.set(http::field::www_authenticate, challenge);
      return out;
    }
    identity = *subject;
  }
  return std::nullopt;
}

std::optional<http_server::impl::response> http_server::impl::limit_rate(
    const http::request<http::string_body>& request, const std::string& identity, double cost,
    const std::optional<mcp::request_id>& id) {
  if (auto decision = limiter.acquire(identity, cost); !decision.allowed) {
    reject("rate_limited");
    if (decision.retry_after.count() == 0) {
      return json_error(request, http::status::too_many_requests, -32000,
                        batch_over_burst_message(cost, limiter.burst()));
    }
    auto out = make_response(
        request, http::status::too_many_requests,
        mcp::make_error(
            id, mcp::rpc_error(-32000, "Rate limit exceeded: at most " +
                                           fmt::format("{}", limiter.rate()) +
                                           " requests per second per identity; retry later")));
    out.set(http::field::retry_after, std::to_string(std::max<long long>(1, (decision.retry_after.count() + 999) / 1000)));
    return out;
  }
  return std::nullopt;
}

}  // namespace bookmcp::transport
