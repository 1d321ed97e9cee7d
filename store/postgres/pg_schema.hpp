#pragma once
// The Postgres schema, as numbered migrations. Append only. Internal to store/.

#include <span>

#include "store/internal/migration.hpp"

namespace bookmcp::store::postgres {

std::span<const internal::migration> migrations();

}  // namespace bookmcp::store::postgres
