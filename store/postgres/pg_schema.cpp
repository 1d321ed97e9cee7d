#include "store/postgres/pg_schema.hpp"

#include <array>

namespace bookmcp::store::postgres {

namespace {

constexpr std::array<internal::migration, 4> all_migrations{{
    {1, "todos", R"sql(
CREATE TABLE todos (
  id                 text        NOT NULL PRIMARY KEY,
  owner              text        NOT NULL,
  title              text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 500),
  notes              text        NOT NULL DEFAULT '',
  -- A date-only due is a date (no time zone); an instant is a timestamptz plus the offset it
  -- was written with. Never both.
  due_date           date,
  due_at             timestamptz,
  due_offset_minutes smallint,
  priority           smallint    NOT NULL CHECK (priority IN (1, 2, 3)),
  tags               jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(tags) = 'array'),
  status             text        NOT NULL CHECK (status IN ('open', 'done')),
  created_at         timestamptz NOT NULL,
  updated_at         timestamptz NOT NULL,
  completed_at       timestamptz,
  client_request_id  text,
  CHECK (due_date IS NULL OR due_at IS NULL),
  CONSTRAINT todos_owner_client_request_id UNIQUE (owner, client_request_id)
);
CREATE INDEX todos_by_owner_created ON todos (owner, created_at, id);
CREATE INDEX todos_tags ON todos USING gin (tags);
)sql"},
    {2, "document registry", R"sql(
CREATE TABLE documents (
  root             text             NOT NULL,
  path             text             NOT NULL,
  content_hash     text             NOT NULL,
  chunker_version  integer          NOT NULL,
  chunk_ids        jsonb            NOT NULL DEFAULT '[]',
  indexed_at_ms    bigint           NOT NULL,
  last_error       text             NOT NULL DEFAULT '',
  title            text             NOT NULL DEFAULT '',
  url              text             NOT NULL DEFAULT '',
  sidebar_position double precision NOT NULL DEFAULT 0,
  PRIMARY KEY (root, path)
);
CREATE TABLE chunks (
  root          text    NOT NULL,
  document_path text    NOT NULL,
  position      integer NOT NULL,
  id            text    NOT NULL,
  heading_path  jsonb   NOT NULL,
  anchor        text    NOT NULL,
  url           text    NOT NULL,
  title         text    NOT NULL,
  text          text    NOT NULL,
  PRIMARY KEY (root, document_path, position),
  FOREIGN KEY (root, document_path) REFERENCES documents (root, path) ON DELETE CASCADE
);
CREATE INDEX chunks_in_order ON chunks (document_path, position);
CREATE TABLE registry_state (
  singleton  integer NOT NULL PRIMARY KEY CHECK (singleton = 1),
  generation bigint  NOT NULL
);
INSERT INTO registry_state (singleton, generation) VALUES (1, 0);
)sql"},
    {3, "todo list indexes", R"sql(
-- One index per list order, so that a page is an index walk that stops after `limit` rows.
-- Ties are broken by id in bytewise order, hence COLLATE "C" on id (todos_by_owner_created
-- had the database's collation). Status leads where the list filters on it (open by
-- default); the due order reads date-only and instant dues apart (see the list statements).
DROP INDEX todos_by_owner_created;
CREATE INDEX todos_by_owner_created ON todos (owner, created_at, id COLLATE "C");
CREATE INDEX todos_by_owner_status_created ON todos (owner, status, created_at, id COLLATE "C");
CREATE INDEX todos_by_owner_status_priority ON todos (owner, status, priority, id COLLATE "C");
CREATE INDEX todos_by_owner_status_due_date ON todos (owner, status, due_date, id COLLATE "C")
  WHERE due_date IS NOT NULL;
CREATE INDEX todos_by_owner_status_due_at ON todos (owner, status, due_at, id COLLATE "C")
  WHERE due_at IS NOT NULL;
CREATE INDEX todos_by_owner_status_undated ON todos (owner, status, id COLLATE "C")
  WHERE due_date IS NULL AND due_at IS NULL;
)sql"},
    {4, "no index on tags alone", R"sql(
-- Every todo statement is scoped by owner, and the store's sessions use one generic plan per
-- statement: for a list filtered by tag, that plan combined the owner index with this one,
-- which holds every owner's rows with the tag (8 ms instead of 0.3 ms for a page with
-- 200,000 rows of other owners bearing the tag). The owner's own rows are few enough to
-- filter; and every insert no longer updates a GIN index.
DROP INDEX IF EXISTS todos_tags;
)sql"},
}};

}  // namespace

std::span<const internal::migration> migrations() { return all_migrations; }

}  // namespace bookmcp::store::postgres
