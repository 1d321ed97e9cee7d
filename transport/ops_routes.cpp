// The ops routes beside /mcp: /healthz, /readyz (the readiness probes), /metrics
// (Prometheus text) and /.well-known/oauth-protected-resource (RFC 9728 metadata).

#include "transport/detail/http_impl.hpp"

namespace bookmcp::transport {

http_server::impl::response http_server::impl::ops_route(const http::request<http::string_body>& request,
                                                         bool& handled) {
  handled = true;
  const std::string_view path = path_of(request.target());
  if (path == "/healthz") return make_response(request, http::status::ok, R"({"status":"ok"})");
  if (path == "/readyz") {
    json report = {{"status", "ready"}, {"dependencies", json::object()}};
    bool ready = !stopping;
    bool degraded = false;  // an optional dependency is down: ready, with less to offer
    for (const auto& check : options.readiness) {
      std::string problem;
      try {
        problem = check.probe();
      } catch (const std::exception& error) {
        problem = error.what();
      }
      report["dependencies"][check.name] =
          problem.empty() ? json{{"status", "up"}}
                          : json{{"status", "down"}, {"reason", problem}, {"required", check.required}};
      if (check.required) {
        ready = ready && problem.empty();
      } else if (!problem.empty()) {
        degraded = true;
      }
    }
    if (stopping) report["reason"] = "shutting down";
    if (degraded) report["status"] = "degraded";
    if (!ready) report["status"] = "not ready";
    return make_response(request, ready ? http::status::ok : http::status::service_unavailable, report.dump());
  }
  if (path == "/metrics" && options.metrics) {
    return make_response(request, http::status::ok, options.metrics->render(server.stats().calls_in_flight),
                         "text/plain; version=0.0.4; charset=utf-8");
  }
  if ((path == "/.well-known/oauth-protected-resource" || path == "/.well-known/oauth-protected-resource/mcp") &&
      !options.authorization_server.empty()) {
    json metadata = {{"resource", public_url()},
                     {"authorization_servers", {options.authorization_server}},
                     {"bearer_methods_supported", {"header"}}};
    return make_response(request, http::status::ok, metadata.dump());
  }
  handled = false;
  return make_response(request, http::status::not_found, R"({"error":"not found"})");
}

}  // namespace bookmcp::transport
