#define VALIJSON_USE_EXCEPTIONS 1
#include "mcp/json_schema.hpp"

#include <valijson/adapters/nlohmann_json_adapter.hpp>
#include <valijson/schema.hpp>
#include <valijson/schema_parser.hpp>
#include <valijson/validation_results.hpp>
#include <valijson/validator.hpp>

namespace bookmcp::mcp {

struct compiled_schema::impl {
  valijson::Schema schema;
};

namespace {

// Keywords whose values valijson does not check itself when parsing; we reject the obvious
// mistakes so that a bad tool schema stops start-up instead of failing at call time.
void check_keyword_shapes(const json& schema, const std::string& where) {
  if (schema.is_boolean()) return;
  if (!schema.is_object()) throw schema_error(where + ": a schema must be an object or a boolean");
  if (const auto type = schema.find("type"); type != schema.end()) {
    static const std::vector<std::string> known = {"object", "array",  "string", "number",
                                                   "integer", "boolean", "null"};
    auto check = [&](const json& name) {
      if (!name.is_string() || std::find(known.begin(), known.end(), name.get<std::string>()) == known.end()) {
        throw schema_error(where + "/type: unknown type " + name.dump());
      }
    };
    if (type->is_array()) {
      for (const auto& name : *type) check(name);
    } else {
      check(*type);
    }
  }
  if (const auto props = schema.find("properties"); props != schema.end()) {
    if (!props->is_object()) throw schema_error(where + "/properties: must be an object");
    for (const auto& [name, sub] : props->items()) check_keyword_shapes(sub, where + "/properties/" + name);
  }
  if (const auto items = schema.find("items"); items != schema.end() && !items->is_array()) {
    check_keyword_shapes(*items, where + "/items");
  }
  if (const auto required = schema.find("required"); required != schema.end()) {
    if (!required->is_array()) throw schema_error(where + "/required: must be an array of strings");
    for (const auto& name : *required) {
      if (!name.is_string()) throw schema_error(where + "/required: must be an array of strings");
    }
  }
}

void apply_defaults_to(const json& schema, json& value) {
  if (!schema.is_object() || !value.is_object()) return;
  const auto props = schema.find("properties");
  if (props == schema.end() || !props->is_object()) return;
  for (const auto& [name, sub] : props->items()) {
    if (!sub.is_object()) continue;
    auto existing = value.find(name);
    if (existing == value.end()) {
      if (const auto fallback = sub.find("default"); fallback != sub.end()) value[name] = *fallback;
    } else if (existing->is_object()) {
      apply_defaults_to(sub, *existing);
    }
  }
}

std::string describe_path(const std::vector<std::string>& context) {
  // valijson context looks like {"<root>", "[limit]", "[0]"}; render as /limit/0.
  std::string path;
  for (std::size_t i = 1; i < context.size(); ++i) {
    std::string part = context[i];
    if (part.size() >= 2 && part.front() == '[' && part.back() == ']') {
      part = part.substr(1, part.size() - 2);
      if (part.size() >= 2 && part.front() == '"' && part.back() == '"') part = part.substr(1, part.size() - 2);
    }
    path += "/" + part;
  }
  return path.empty() ? "/" : path;
}

// The subschema at a value path like /items/0/priority, following properties and items.
const json* schema_at(const json& root, const std::string& path) {
  const json* node = &root;
  std::size_t start = 1;
  while (start < path.size()) {
    const std::size_t end = std::min(path.find('/', start), path.size());
    const std::string part = path.substr(start, end - start);
    start = end + 1;
    if (!node->is_object()) return nullptr;
    if (auto props = node->find("properties"); props != node->end() && props->contains(part)) {
      node = &(*props)[part];
    } else if (auto items = node->find("items"); items != node->end() && items->is_object()) {
      node = &*items;
    } else {
      return nullptr;
    }
  }
  return node;
}

// valijson's enum message does not say what is allowed; a model needs the list to fix its call.
std::string with_allowed_values(const json& root, const std::string& path, std::string message) {
  if (message.find("enum") == std::string::npos) return message;
  const json* node = schema_at(root, path);
  if (!node || !node->is_object() || !node->contains("enum")) return message;
  std::string allowed;
  for (const auto& value : (*node)["enum"]) allowed += (allowed.empty() ? "" : ", ") + value.dump();
  return message + " Allowed values: " + allowed + ".";
}

}  // namespace

compiled_schema::compiled_schema(json schema) : source_(std::move(schema)), impl_(std::make_unique<impl>()) {
  check_keyword_shapes(source_, "#");
  try {
    valijson::SchemaParser parser(valijson::SchemaParser::kDraft7);
    valijson::adapters::NlohmannJsonAdapter adapter(source_);
    parser.populateSchema(adapter, impl_->schema);
  } catch (const std::exception& error) {
    throw schema_error(std::string("invalid JSON Schema: ") + error.what());
  }
}

compiled_schema::~compiled_schema() = default;

std::vector<std::string> compiled_schema::validate(const json& value) const {
  valijson::Validator validator(valijson::Validator::kStrongTypes);
  valijson::ValidationResults results;
  valijson::adapters::NlohmannJsonAdapter adapter(value);
  std::vector<std::string> messages;
  try {
    if (validator.validate(impl_->schema, adapter, &results)) return messages;
  } catch (const std::exception& error) {
    messages.push_back(std::string("/: could not be validated: ") + error.what());
    return messages;
  }
  valijson::ValidationResults::Error error;
  // valijson reports the failing leaf and then each enclosing schema; the leaves are the
  // actionable part, so keep messages that are not merely "failed to validate against ...".
  std::vector<std::string> all;
  while (results.popError(error)) {
    const std::string path = describe_path(error.context);
    std::string line = path + ": " + with_allowed_values(source_, path, error.description);
    all.push_back(line);
    if (error.description.find("Failed to validate against") == std::string::npos &&
        error.description.find("Failed to validate item") == std::string::npos &&
        error.description.find("Failed to validate value for property") == std::string::npos) {
      messages.push_back(std::move(line));
    }
  }
  if (messages.empty()) messages = std::move(all);
  return messages;
}

void compiled_schema::apply_defaults(json& value) const { apply_defaults_to(source_, value); }

}  // namespace bookmcp::mcp
