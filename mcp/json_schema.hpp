#pragma once
// JSON Schema checking for tool inputs and outputs, backed by valijson (draft 7 keywords,
// which cover what MCP tool schemas use in practice; `$schema` is accepted and ignored).
//
// A compiled_schema is immutable after construction and safe to share between threads.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "mcp/json_rpc.hpp"

namespace bookmcp::mcp {

// Thrown when a schema itself is malformed; the message names the problem.
class schema_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class compiled_schema {
 public:
  // Compiles `schema`. Throws schema_error when it is not a valid JSON Schema.
  explicit compiled_schema(json schema);
  ~compiled_schema();
  compiled_schema(const compiled_schema&) = delete;
  compiled_schema& operator=(const compiled_schema&) = delete;

  const json& source() const { return source_; }

  // Validates `value`; returns one readable message per violation ("/limit: ... "), empty
  // when valid. Never throws for any input value.
  std::vector<std::string> validate(const json& value) const;

  // Fills in `default` values of object properties that are absent, recursively through
  // nested object schemas (properties only; no defaults through combinators).
  void apply_defaults(json& value) const;

 private:
  struct impl;
  json source_;
  std::unique_ptr<impl> impl_;
};

}  // namespace bookmcp::mcp
