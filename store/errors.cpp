#include "store/errors.hpp"

namespace bookmcp::store {

schema_too_new::schema_too_new(int database_version, int program_version)
    : store_error("the database schema is version " + std::to_string(database_version) +
                      ", newer than this program supports (version " +
                      std::to_string(program_version) +
                      "); upgrade bookmcp or use another database",
                  "schema_migrations records version " + std::to_string(database_version) +
                      " but the newest known migration is " + std::to_string(program_version)),
      database_version_(database_version),
      program_version_(program_version) {}

}  // namespace bookmcp::store
