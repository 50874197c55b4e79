#include "migrations.h"

#include <array>

#include "cloister/storage/schema.h"

namespace cloister::storage::internal {
namespace {

// Chunk ids are FAISS ids, so chunks use AUTOINCREMENT: a deleted chunk's id is never handed to
// a new chunk, and a stale vector can never be mistaken for fresh text. Embeddings keep a rowid
// (not WITHOUT ROWID) because their vectors are far larger than a twentieth of a page.
constexpr std::string_view kV1Tables = R"sql(
CREATE TABLE collections (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
  folder TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
INSERT INTO collections (name, folder) VALUES ('default', '');

CREATE TABLE documents (
  id INTEGER PRIMARY KEY,
  collection_id INTEGER NOT NULL REFERENCES collections (id),
  parent_id INTEGER REFERENCES documents (id) ON DELETE CASCADE,
  path TEXT NOT NULL CHECK (length(path) > 0),
  content_hash TEXT NOT NULL DEFAULT '',
  type TEXT NOT NULL DEFAULT '',
  title TEXT NOT NULL DEFAULT '',
  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  status TEXT NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'ready', 'partial', 'failed')),
  error TEXT NOT NULL DEFAULT '',
  size_bytes INTEGER NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
  page_count INTEGER NOT NULL DEFAULT 0 CHECK (page_count >= 0),
  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX documents_collection_hash ON documents (collection_id, content_hash);
CREATE INDEX documents_path ON documents (path);
CREATE INDEX documents_parent ON documents (parent_id);
CREATE INDEX documents_status ON documents (status);

CREATE TABLE chunks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  ordinal INTEGER NOT NULL CHECK (ordinal >= 0),
  text TEXT NOT NULL,
  page_start INTEGER CHECK (page_start IS NULL OR page_start >= 1),
  page_end INTEGER CHECK (page_end IS NULL OR page_end >= page_start),
  heading TEXT,
  metadata TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(metadata)),
  UNIQUE (document_id, ordinal)
);

CREATE TABLE embeddings (
  chunk_id INTEGER NOT NULL REFERENCES chunks (id) ON DELETE CASCADE,
  model_id TEXT NOT NULL CHECK (length(model_id) > 0),
  dim INTEGER NOT NULL CHECK (dim > 0),
  vector BLOB NOT NULL CHECK (length(vector) = 4 * dim),
  PRIMARY KEY (chunk_id, model_id)
);
CREATE INDEX embeddings_model ON embeddings (model_id, chunk_id);

CREATE TABLE jobs (
  id INTEGER PRIMARY KEY,
  path TEXT NOT NULL CHECK (length(path) > 0),
  collection_id INTEGER NOT NULL REFERENCES collections (id),
  document_id INTEGER REFERENCES documents (id) ON DELETE SET NULL,
  state TEXT NOT NULL DEFAULT 'queued'
    CHECK (state IN ('queued', 'extracting', 'chunking', 'embedding', 'done', 'failed')),
  error TEXT NOT NULL DEFAULT '',
  attempts INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  created_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),
  updated_at INTEGER NOT NULL DEFAULT (CAST(strftime('%s', 'now') AS INTEGER))
);
CREATE INDEX jobs_state ON jobs (state);
CREATE INDEX jobs_document ON jobs (document_id);
)sql";

// External content: the text lives once, in chunks; the triggers keep the index in step,
// including deletes cascaded from documents. 'rebuild' indexes rows written before v2.
constexpr std::string_view kV2ChunksFts = R"sql(
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
  text,
  content = 'chunks',
  content_rowid = 'id',
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE TRIGGER chunks_fts_after_insert AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_fts_after_delete AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER chunks_fts_after_update AFTER UPDATE OF id, text ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');
)sql";

// ADD COLUMN with REFERENCES needs a NULL default while foreign keys are on; existing documents
// keep job_id NULL, which FinalizeJobDocuments treats as written before jobs were tracked.
constexpr std::string_view kV3DocumentJobs = R"sql(
ALTER TABLE documents ADD COLUMN job_id INTEGER REFERENCES jobs (id) ON DELETE SET NULL;
ALTER TABLE documents ADD COLUMN name TEXT NOT NULL DEFAULT '';
CREATE INDEX documents_job ON documents (job_id);
CREATE INDEX jobs_path ON jobs (path);
)sql";

// unicode61 cannot split Chinese, Japanese or Thai into words; cloister_icu (icu_tokenizer.h)
// can. Dropping the table leaves the triggers, which name it, so they are made anew with it;
// 'rebuild' re-indexes every existing chunk with the new tokenizer.
constexpr std::string_view kV4IcuChunksFts = R"sql(
DROP TRIGGER chunks_fts_after_insert;
DROP TRIGGER chunks_fts_after_delete;
DROP TRIGGER chunks_fts_after_update;
DROP TABLE chunks_fts;
CREATE VIRTUAL TABLE chunks_fts USING fts5 (
  text,
  content = 'chunks',
  content_rowid = 'id',
  tokenize = 'cloister_icu'
);
CREATE TRIGGER chunks_fts_after_insert AFTER INSERT ON chunks BEGIN
  INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER chunks_fts_after_delete AFTER DELETE ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER chunks_fts_after_update AFTER UPDATE OF id, text ON chunks BEGIN
  INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
  INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
END;
INSERT INTO chunks_fts (chunks_fts) VALUES ('rebuild');
)sql";

// Small facts about the catalog as a whole, such as the embedding model whose vectors the index
// serves (changing models re-embeds in the background; the setting says which side is live).
constexpr std::string_view kV5Settings = R"sql(
CREATE TABLE settings (
  key TEXT PRIMARY KEY CHECK (length(key) > 0),
  value TEXT NOT NULL
) WITHOUT ROWID;
)sql";

// Who may use the service, and how they prove it. Secrets are never stored: users keep an
// argon2id hash string (salt and parameters inside it), API keys and session tokens a SHA-256 of
// the random token (they have 256 bits of entropy, so a fast hash suffices), found by that hash.
// The CSRF token is not a secret on its own (useless without the session cookie). Deleting a
// user takes their keys, sessions and grants with it. user_collections holds grants for the
// permission checks that come with collections.
constexpr std::string_view kV6Accounts = R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE CHECK (length(name) > 0),
  role TEXT NOT NULL CHECK (role IN ('admin', 'user')),
  password_hash TEXT NOT NULL DEFAULT '',
  created_at INTEGER NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
);

CREATE TABLE api_keys (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  key_hash TEXT NOT NULL UNIQUE CHECK (length(key_hash) > 0),
  prefix TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER,
  last_used_at INTEGER
);
CREATE INDEX api_keys_user ON api_keys (user_id);

CREATE TABLE sessions (
  token_hash TEXT PRIMARY KEY CHECK (length(token_hash) > 0),
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  csrf_token TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE user_collections (
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  collection_id INTEGER NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
  PRIMARY KEY (user_id, collection_id)
) WITHOUT ROWID;
CREATE INDEX user_collections_collection ON user_collections (collection_id);
)sql";

constexpr std::array kMigrations = {
    Migration{1, "catalog tables", kV1Tables},
    Migration{2, "full-text index over chunks", kV2ChunksFts},
    Migration{3, "documents linked to their jobs", kV3DocumentJobs},
    Migration{4, "full-text index segmented by ICU for every language", kV4IcuChunksFts},
    Migration{5, "catalog settings", kV5Settings},
    Migration{6, "users, API keys, sessions and collection grants", kV6Accounts},
};
static_assert(kMigrations.size() == kSchemaVersion, "one migration per schema version");

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

}  // namespace cloister::storage::internal
