#include "store/sqlite/sqlite_schema.hpp"

#include <array>

namespace bookmcp::store::sqlite {

namespace {

constexpr std::array<internal::migration, 3> all_migrations{{
    {1, "todos", R"sql(
CREATE TABLE todos (
  id                 TEXT    NOT NULL PRIMARY KEY,
  owner              TEXT    NOT NULL,
  title              TEXT    NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
  notes              TEXT    NOT NULL DEFAULT '',
  -- A date-only due is a calendar date (ISO text); an instant is UTC milliseconds plus the
  -- offset it was written with. Never both.
  due_date           TEXT    CHECK (due_date IS NULL OR
                                    due_date GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
  due_at_ms          INTEGER,
  due_offset_minutes INTEGER,
  priority           INTEGER NOT NULL CHECK (priority IN (1, 2, 3)),
  tags               TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
  status             TEXT    NOT NULL CHECK (status IN ('open', 'done')),
  created_at_ms      INTEGER NOT NULL,
  updated_at_ms      INTEGER NOT NULL,
  completed_at_ms    INTEGER,
  client_request_id  TEXT,
  CHECK (due_date IS NULL OR due_at_ms IS NULL),
  UNIQUE (owner, client_request_id)
) STRICT;
CREATE INDEX todos_by_owner_created ON todos (owner, created_at_ms, id);
)sql"},
    {2, "document registry", R"sql(
CREATE TABLE documents (
  root             TEXT    NOT NULL,
  path             TEXT    NOT NULL,
  content_hash     TEXT    NOT NULL,
  chunker_version  INTEGER NOT NULL,
  chunk_ids        TEXT    NOT NULL DEFAULT '[]' CHECK (json_valid(chunk_ids)),
  indexed_at_ms    INTEGER NOT NULL,
  last_error       TEXT    NOT NULL DEFAULT '',
  title            TEXT    NOT NULL DEFAULT '',
  url              TEXT    NOT NULL DEFAULT '',
  sidebar_position REAL    NOT NULL DEFAULT 0,
  PRIMARY KEY (root, path)
) STRICT;
CREATE TABLE chunks (
  root          TEXT    NOT NULL,
  document_path TEXT    NOT NULL,
  position      INTEGER NOT NULL,
  id            TEXT    NOT NULL,
  heading_path  TEXT    NOT NULL CHECK (json_valid(heading_path)),
  anchor        TEXT    NOT NULL,
  url           TEXT    NOT NULL,
  title         TEXT    NOT NULL,
  text          TEXT    NOT NULL,
  PRIMARY KEY (root, document_path, position),
  FOREIGN KEY (root, document_path) REFERENCES documents (root, path) ON DELETE CASCADE
) STRICT;
CREATE INDEX chunks_in_order ON chunks (document_path, position);
CREATE TABLE registry_state (
  singleton  INTEGER NOT NULL PRIMARY KEY CHECK (singleton = 1),
  generation INTEGER NOT NULL
) STRICT;
INSERT INTO registry_state (singleton, generation) VALUES (1, 0);
)sql"},
    {3, "todo list indexes", R"sql(
-- One index per list order, so that a page is an index walk that stops after `limit` rows
-- (todos_by_owner_created serves the created order without a status filter). Status leads
-- where the list filters on it (open by default); the due order reads date-only and instant
-- dues apart (see the list statements).
CREATE INDEX todos_by_owner_status_created ON todos (owner, status, created_at_ms, id);
CREATE INDEX todos_by_owner_status_priority ON todos (owner, status, priority, id);
CREATE INDEX todos_by_owner_status_due_date ON todos (owner, status, due_date, id)
  WHERE due_date IS NOT NULL;
CREATE INDEX todos_by_owner_status_due_at ON todos (owner, status, due_at_ms, id)
  WHERE due_at_ms IS NOT NULL;
CREATE INDEX todos_by_owner_status_undated ON todos (owner, status, id)
  WHERE due_date IS NULL AND due_at_ms IS NULL;
)sql"},
}};

}  // namespace

std::span<const internal::migration> migrations() { return all_migrations; }

}  // namespace bookmcp::store::sqlite
