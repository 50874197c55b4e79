// Catalog: what retrieval needs besides BM25 (chunks by id for vector hits, neighbours, the
// chunks of a job for the embedding step).
#include <string>

#include "catalog_rows.h"
#include "chunk_filter.h"
#include "cloister/storage/catalog.h"
#include "cloister/storage/json_text.h"

namespace cloister::storage {
namespace {

// The last three: the mail's sender, date and subject, an attachment's from its message.
#define CLOISTER_OWN_OR_PARENT(key)                                                            \
  "coalesce(json_extract(vd.metadata, '$." key "'), (SELECT json_extract(p.metadata, '$." key \
  "') FROM documents AS p WHERE p.id = vd.parent_id), '')"
constexpr std::string_view kRefColumns =
    "c.id, c.document_id, c.ordinal, c.text, c.page_start, c.page_end, vd.path, vd.title, vd.type, "
    "vd.name, vd.parent_id, vd.metadata, " CLOISTER_OWN_OR_PARENT("from") ", "
    CLOISTER_OWN_OR_PARENT("date") ", " CLOISTER_OWN_OR_PARENT("subject");
#undef CLOISTER_OWN_OR_PARENT

ChunkRef ReadRef(const Statement& row) {
  ChunkRef r;
  r.chunk_id = row.ColumnInt64(0);
  r.document_id = row.ColumnInt64(1);
  r.ordinal = static_cast<int>(row.ColumnInt64(2));
  r.text = row.ColumnText(3);
  if (!row.ColumnIsNull(4)) r.page_start = static_cast<int>(row.ColumnInt64(4));
  if (!row.ColumnIsNull(5)) r.page_end = static_cast<int>(row.ColumnInt64(5));
  r.path = row.ColumnText(6);
  r.title = row.ColumnText(7);
  r.type = row.ColumnText(8);
  r.name = row.ColumnText(9);
  if (!row.ColumnIsNull(10)) r.parent_id = row.ColumnInt64(10);
  r.metadata = row.ColumnText(11);
  r.from = row.ColumnText(12);
  r.date = row.ColumnText(13);
  r.subject = row.ColumnText(14);
  return r;
}

std::string IdsJson(const std::vector<int64_t>& ids) {
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  return out + "]";
}

}  // namespace

Result<std::vector<ChunkRef>> Catalog::VisibleChunks(const std::vector<int64_t>& chunk_ids,
                                                     const ChunkFilter& filter) const {
  if (chunk_ids.empty()) return std::vector<ChunkRef>();
  static const std::string sql =
      "WITH wanted(pos, id) AS (SELECT key, value FROM json_each(?1)) SELECT " + std::string(kRefColumns) +
      " FROM wanted JOIN chunks AS c ON c.id = wanted.id JOIN documents AS vd ON vd.id = c.document_id"
      " WHERE vd.status IN ('ready', 'partial') AND " + internal::FilterCondition("vd", 2) +
      " ORDER BY wanted.pos";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, IdsJson(chunk_ids)));
  CLOISTER_RETURN_IF_ERROR(internal::BindFilter(st, 2, filter));
  return internal::ReadAll<ChunkRef>(st, ReadRef);
}

Result<std::vector<int64_t>> Catalog::VisibleChunkIdsIn(const std::vector<int64_t>& collection_ids) const {
  if (collection_ids.empty()) return std::vector<int64_t>();
  static const std::string sql =
      "SELECT c.id FROM documents AS d JOIN chunks AS c ON c.document_id = d.id"
      " WHERE d.status IN ('ready', 'partial') AND " + internal::IdInList("d.collection_id", 1) +
      " ORDER BY c.id";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(internal::BindIdList(st, 1, collection_ids));
  return internal::ReadAll<int64_t>(st, [](const Statement& row) { return row.ColumnInt64(0); });
}

Result<std::optional<ChunkRef>> Catalog::ChunkAt(int64_t document_id, int ordinal) const {
  static const std::string sql = "SELECT " + std::string(kRefColumns) +
                                 " FROM chunks AS c JOIN documents AS vd ON vd.id = c.document_id"
                                 " WHERE c.document_id = ?1 AND c.ordinal = ?2";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, document_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, ordinal));
  CLOISTER_ASSIGN_OR_RETURN(std::vector<ChunkRef> rows, internal::ReadAll<ChunkRef>(st, ReadRef));
  if (rows.empty()) return std::optional<ChunkRef>();
  return std::optional<ChunkRef>(std::move(rows.front()));
}

Result<std::vector<int64_t>> Catalog::ChunkIdsOfDocument(int64_t document_id) const {
  static const std::string sql =
      "WITH RECURSIVE tree(id) AS (SELECT ?1 UNION ALL SELECT d.id FROM documents AS d JOIN tree"
      " ON d.parent_id = tree.id) SELECT c.id FROM chunks AS c JOIN tree ON c.document_id = tree.id"
      " ORDER BY c.id";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, document_id));
  return internal::ReadAll<int64_t>(st, [](const Statement& row) { return row.ColumnInt64(0); });
}

Result<std::vector<Chunk>> Catalog::ChunksOfJob(int64_t job_id) const {
  // kChunkColumns' order, qualified: documents has columns of the same names.
  static const std::string sql =
      "SELECT chunks.id, chunks.document_id, chunks.ordinal, chunks.text, chunks.page_start, "
      "chunks.page_end, chunks.heading, chunks.metadata"
      " FROM chunks JOIN documents AS d ON d.id = chunks.document_id"
                                 " WHERE d.job_id = ?1 AND d.status = 'queued' ORDER BY chunks.id";
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, job_id));
  return internal::ReadAll<Chunk>(st, internal::ReadChunk);
}

}  // namespace cloister::storage
