#pragma once
// Resources and prompts as servers declare them, and completion providers.

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

class tool_context;

// One item of resources/read "contents": text or base64 blob.
struct resource_contents {
  std::string uri;
  std::string mime_type;
  std::optional<std::string> text;
  std::optional<std::string> blob_base64;
  json to_json() const;
};

// Thrown by read handlers for a URI that does not exist (answered with -32002).
class resource_not_found : public std::runtime_error {
 public:
  explicit resource_not_found(const std::string& uri)
      : std::runtime_error("Resource not found: " + uri), uri_(uri) {}
  const std::string& uri() const { return uri_; }

 private:
  std::string uri_;
};

struct resource_definition {
  std::string uri;
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
  std::optional<std::size_t> size;
  std::function<std::vector<resource_contents>(const std::string& uri)> read;
};

// A parameterised resource (RFC 6570 level-1 template: {var} expands to one path segment,
// {+var} or a trailing {var*} may contain '/'). The handler gets the variables.
struct resource_template_definition {
  std::string uri_template;
  std::string name;
  std::string title;
  std::string description;
  std::string mime_type;
  std::function<std::vector<resource_contents>(const std::string& uri,
                                               const std::map<std::string, std::string>& vars)>
      read;
  // Optional completion of one template variable given a prefix and the other arguments.
  std::function<std::vector<std::string>(const std::string& variable, const std::string& prefix,
                                         const std::map<std::string, std::string>& context)>
      complete;
};

// The longest URI that resources/read, subscribe and template matching accept.
inline constexpr std::size_t max_uri_length = 8192;

// Matches `uri` against `uri_template`; returns the variables when it matches (never for a
// URI longer than max_uri_length).
std::optional<std::map<std::string, std::string>> match_uri_template(
    const std::string& uri_template, const std::string& uri);

struct prompt_argument {
  std::string name;
  std::string title;
  std::string description;
  bool required = false;
};

struct prompt_definition {
  std::string name;
  std::string title;
  std::string description;
  std::vector<prompt_argument> arguments;
  // Returns the prompts/get result: {"description"?, "messages": [...]}. Required arguments
  // are checked before it runs. Throws rpc_error(invalid_params) for bad values.
  std::function<json(const std::map<std::string, std::string>& arguments)> get;
  // Instead of `get`, for a prompt that may ask the client for input (tool_context's
  // request_client and client_supports; the other members are for tools).
  std::function<json(const tool_context& context, const std::map<std::string, std::string>& arguments)>
      get_with_context;
  std::function<std::vector<std::string>(const std::string& argument, const std::string& prefix,
                                         const std::map<std::string, std::string>& context)>
      complete;
};

}  // namespace bookmcp::mcp
