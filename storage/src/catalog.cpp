// Catalog: opening, names of states, collections and statistics. Documents, chunks and
// embeddings, jobs and search live in the other catalog_*.cpp files.
#include "cloister/storage/catalog.h"

#include <array>
#include <utility>

#include "catalog_rows.h"
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

// Runs "SELECT key, count(*) ... GROUP BY key" and calls `add(key, count)` per row.
template <typename Add>
Status CountGroups(const Database& db, std::string_view sql, Add add) {
  CLOISTER_ASSIGN_OR_RETURN(Statement statement, db.Prepare(sql));
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
    if (!has_row) return Status::Ok();
    CLOISTER_RETURN_IF_ERROR(add(statement.ColumnText(0), statement.ColumnInt64(1)));
  }
}

Status CountDocuments(const Database& db, CatalogStats* stats) {
  for (const auto& [status, name] : kDocumentStatusNames) stats->documents[status] = 0;
  auto add = [stats](const std::string& name, int64_t count) -> Status {
    std::optional<DocumentStatus> status = ParseDocumentStatus(name);
    if (!status) return DataLoss("documents hold unknown status '" + name + "'");
    stats->documents[*status] = count;
    return Status::Ok();
  };
  return CountGroups(db, "SELECT status, count(*) FROM documents GROUP BY status", add);
}

Status CountJobs(const Database& db, CatalogStats* stats) {
  for (const auto& [state, name] : kJobStateNames) stats->jobs[state] = 0;
  auto add = [stats](const std::string& name, int64_t count) -> Status {
    std::optional<JobState> state = ParseJobState(name);
    if (!state) return DataLoss("jobs hold unknown state '" + name + "'");
    stats->jobs[*state] = count;
    return Status::Ok();
  };
  return CountGroups(db, "SELECT state, count(*) FROM jobs GROUP BY state", add);
}

Status CountEmbeddings(const Database& db, CatalogStats* stats) {
  auto add = [stats](const std::string& model, int64_t count) -> Status {
    stats->embeddings_by_model[model] = count;
    stats->embeddings += count;
    return Status::Ok();
  };
  return CountGroups(db, "SELECT model_id, count(*) FROM embeddings GROUP BY model_id", add);
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

Result<CatalogStats> Catalog::Stats() const {
  CatalogStats stats;
  CLOISTER_ASSIGN_OR_RETURN(stats.collections, db_.QueryInt64("SELECT count(*) FROM collections"));
  CLOISTER_ASSIGN_OR_RETURN(stats.chunks, db_.QueryInt64("SELECT count(*) FROM chunks"));
  CLOISTER_RETURN_IF_ERROR(CountDocuments(db_, &stats));
  CLOISTER_RETURN_IF_ERROR(CountJobs(db_, &stats));
  CLOISTER_RETURN_IF_ERROR(CountEmbeddings(db_, &stats));
  return stats;
}

}  // namespace cloister::storage
