#pragma once
// One numbered schema migration. Versions start at 1 and increase by one; each migration's
// SQL is constant text applied in one transaction together with its schema_migrations row.
// Internal to store/.

namespace bookmcp::store::internal {

struct migration {
  int version;
  const char* name;
  const char* sql;  // one or more statements, no parameters
};

}  // namespace bookmcp::store::internal
