#pragma once
// The SQLite schema, as numbered migrations. Append only: never edit a released migration;
// add a new one. Internal to store/.

#include <span>

#include "store/internal/migration.hpp"

namespace bookmcp::store::sqlite {

std::span<const internal::migration> migrations();

}  // namespace bookmcp::store::sqlite
