// Catalog: opening, names of states, collections and statistics. Documents, chunks and
// embeddings, jobs and search live in the other catalog_*.cpp files.
#include "cloister/storage/catalog.h"

#include <array>
#include <utility>

#include "catalog_rows.h"
#include "chunk_filter.h"
#include "cloister/storage/schema.h"

namespace cloister::storage {
namespace {

constexpr std::array<std::pair<DocumentStatus, std::string_view>, 4> kDocumentStatusNames = {{
    {DocumentStatus::kQueued, "queued"},
    {DocumentStatus::kReady, "ready"},
    {DocumentStatus::kPartial, "partial"},
    {DocumentStatus::kFailed, "failed"},
}};

constexpr std::array<std::pair<JobState, std::string_view>, 6> kJobStateNames = {{
    {JobState::kQueued, "queued"},
    {JobState::kExtracting, "extracting"},
    {JobState::kChunking, "chunking"},
    {JobState::kEmbedding, "embedding"},
    {JobState::kDone, "done"},
    {JobState::kFailed, "failed"},
}};

template <typename Enum, size_t N>
std::string_view NameOf(const std::array<std::pair<Enum, std::string_view>, N>& names, Enum e) {
  for (const auto& [value, name] : names) {
    if (value == e) return name;
  }
  return "unknown";
}

template <typename Enum, size_t N>
std::optional<Enum> Parse(const std::array<std::pair<Enum, std::string_view>, N>& names,
                          std::string_view text) {
  for (const auto& [value, name] : names) {
    if (name == text) return value;
  }
  return std::nullopt;
}

// The collections a count covers: every one (nullopt) or these.
using Scope = std::optional<std::vector<int64_t>>;

// Runs "SELECT key, count(*) ... GROUP BY key" (its ?1 the scope, as IdInList reads it) and calls
// `add(key, count)` per row.
template <typename Add>
Status CountGroups(const Database& db, const std::string& sql, const Scope& scope, Add add) {
  CLOISTER_ASSIGN_OR_RETURN(Statement statement, db.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(internal::BindIdList(statement, 1, scope));
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
    if (!has_row) return Status::Ok();
    CLOISTER_RETURN_IF_ERROR(add(statement.ColumnText(0), statement.ColumnInt64(1)));
  }
}

Status CountDocuments(const Database& db, const Scope& scope, CatalogStats* stats) {
  for (const auto& [status, name] : kDocumentStatusNames) stats->documents[status] = 0;
  auto add = [stats](const std::string& name, int64_t count) -> Status {
    std::optional<DocumentStatus> status = ParseDocumentStatus(name);
    if (!status) return DataLoss("documents hold unknown status '" + name + "'");
    stats->documents[*status] = count;
    return Status::Ok();
  };
  return CountGroups(db, "SELECT status, count(*) FROM documents WHERE " +
                     internal::IdInList("collection_id", 1) + " GROUP BY status", scope, add);
}

Status CountJobs(const Database& db, const Scope& scope, CatalogStats* stats) {
  for (const auto& [state, name] : kJobStateNames) stats->jobs[state] = 0;
  auto add = [stats](const std::string& name, int64_t count) -> Status {
    std::optional<JobState> state = ParseJobState(name);
    if (!state) return DataLoss("jobs hold unknown state '" + name + "'");
    stats->jobs[*state] = count;
    return Status::Ok();
  };
  return CountGroups(db, "SELECT state, count(*) FROM jobs WHERE " +
                     internal::IdInList("collection_id", 1) + " GROUP BY state", scope, add);
}

Status CountEmbeddings(const Database& db, const Scope& scope, CatalogStats* stats) {
  auto add = [stats](const std::string& model, int64_t count) -> Status {
    stats->embeddings_by_model[model] = count;
    stats->embeddings += count;
    return Status::Ok();
  };
  if (!scope) {
    return CountGroups(db, "SELECT model_id, count(*) FROM embeddings WHERE ?1 IS NULL GROUP BY model_id",
                       scope, add);
  }
  return CountGroups(db, "SELECT e.model_id, count(*) FROM embeddings AS e JOIN chunks AS c ON c.id = e.chunk_id"
                     " JOIN documents AS d ON d.id = c.document_id WHERE " +
                     internal::IdInList("d.collection_id", 1) + " GROUP BY e.model_id", scope, add);
}

Result<CatalogStats> ScopedStats(const Database& db, const Scope& scope) {
  CatalogStats stats;
  if (scope) {
    stats.collections = static_cast<int64_t>(scope->size());
    CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare(
        "SELECT count(*) FROM chunks AS c JOIN documents AS d ON d.id = c.document_id WHERE " +
        internal::IdInList("d.collection_id", 1)));
    CLOISTER_RETURN_IF_ERROR(internal::BindIdList(st, 1, scope));
    CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
    stats.chunks = row ? st.ColumnInt64(0) : 0;
  } else {
    CLOISTER_ASSIGN_OR_RETURN(stats.collections, db.QueryInt64("SELECT count(*) FROM collections"));
    CLOISTER_ASSIGN_OR_RETURN(stats.chunks, db.QueryInt64("SELECT count(*) FROM chunks"));
  }
  CLOISTER_RETURN_IF_ERROR(CountDocuments(db, scope, &stats));
  CLOISTER_RETURN_IF_ERROR(CountJobs(db, scope, &stats));
  CLOISTER_RETURN_IF_ERROR(CountEmbeddings(db, scope, &stats));
  return stats;
}

}  // namespace

std::string_view DocumentStatusName(DocumentStatus status) {
  return NameOf(kDocumentStatusNames, status);
}
std::optional<DocumentStatus> ParseDocumentStatus(std::string_view name) {
  return Parse(kDocumentStatusNames, name);
}
std::string_view JobStateName(JobState state) { return NameOf(kJobStateNames, state); }
std::optional<JobState> ParseJobState(std::string_view name) { return Parse(kJobStateNames, name); }

Result<Catalog> Catalog::Open(const std::filesystem::path& path, const OpenOptions& options) {
  CLOISTER_ASSIGN_OR_RETURN(Database db, Database::Open(path, options));
  if (options.read_only) {
    CLOISTER_RETURN_IF_ERROR(CheckSchemaCurrent(db));
  } else {
    CLOISTER_RETURN_IF_ERROR(Migrate(db));
  }
  // FTS5's term index as a table, for document frequencies (lexical_search.cpp): one b-tree
  // lookup per word. A temp table exists per connection and never in the file, so read-only
  // connections get it too.
  CLOISTER_RETURN_IF_ERROR(
      db.Exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, row)"));
  return Catalog(std::move(db));
}

Status Catalog::Check(const std::filesystem::path& path) {
  CLOISTER_ASSIGN_OR_RETURN(Database db, Database::Open(path, {.read_only = true}));
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db.Prepare("PRAGMA integrity_check(10)"));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  std::string verdict = row ? st.ColumnText(0) : "no answer";
  if (verdict != "ok") return DataLoss(path.string() + " is damaged: " + verdict);
  CLOISTER_ASSIGN_OR_RETURN(int64_t version, db.QueryInt64("PRAGMA user_version"));
  if (version > kSchemaVersion) {
    return FailedPrecondition(path.string() + " was written by a newer Cloister (schema " +
                              std::to_string(version) + ", this one reads up to " +
                              std::to_string(kSchemaVersion) + ")");
  }
  return Status::Ok();
}

Result<int64_t> Catalog::EnsureCollection(std::string_view name, std::string_view folder) {
  if (name.empty()) return InvalidArgument("collection name is empty; give it a name");
  CLOISTER_ASSIGN_OR_RETURN(Statement statement,
                            db_.Prepare("INSERT INTO collections (name, folder, created_at) "
                                        "VALUES (?1, ?2, ?3) ON CONFLICT (name) DO UPDATE "
                                        "SET folder = excluded.folder RETURNING id"));
  CLOISTER_RETURN_IF_ERROR(statement.Bind(1, name));
  CLOISTER_RETURN_IF_ERROR(statement.Bind(2, folder));
  CLOISTER_RETURN_IF_ERROR(statement.Bind(3, internal::NowSeconds()));
  CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
  if (!has_row) return Internal("upserting collection '" + std::string(name) + "' returned no id");
  return statement.ColumnInt64(0);
}

Result<std::vector<Collection>> Catalog::ListCollections() const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement statement,
      db_.Prepare("SELECT id, name, folder, created_at FROM collections ORDER BY id"));
  return internal::ReadAll<Collection>(statement, [](const Statement& row) {
    return Collection{row.ColumnInt64(0), row.ColumnText(1), row.ColumnText(2), row.ColumnInt64(3)};
  });
}

Result<CatalogStats> Catalog::Stats() const { return ScopedStats(db_, std::nullopt); }

Result<CatalogStats> Catalog::StatsOf(const std::vector<int64_t>& collection_ids) const {
  return ScopedStats(db_, collection_ids);
}

}  // namespace cloister::storage
