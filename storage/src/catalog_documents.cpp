// Catalog: documents.
#include <string>

#include "catalog_rows.h"
#include "chunk_filter.h"
#include "cloister/storage/catalog.h"

namespace cloister::storage {
namespace {

using internal::kDocumentColumns;

Status ValidateDocument(const Document& doc) {
  if (doc.path.empty()) return InvalidArgument("document path is empty; give the file's path");
  if (doc.size_bytes < 0 || doc.page_count < 0) {
    return InvalidArgument("document " + doc.path + " has a negative size (" +
                           std::to_string(doc.size_bytes) + " bytes) or page count (" +
                           std::to_string(doc.page_count) + ")");
  }
  return Status::Ok();
}

// Binds every stored field but id and created_at to parameters 1..14 (12 = updated_at).
Status BindDocumentFields(Statement& st, const Document& doc, int64_t now) {
  CLOISTER_RETURN_IF_ERROR(st.Bind(13, doc.job_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(14, doc.name));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, doc.collection_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, doc.parent_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, doc.path));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, doc.content_hash));
  CLOISTER_RETURN_IF_ERROR(st.Bind(5, doc.type));
  CLOISTER_RETURN_IF_ERROR(st.Bind(6, doc.title));
  CLOISTER_RETURN_IF_ERROR(st.Bind(7, doc.metadata));
  CLOISTER_RETURN_IF_ERROR(st.Bind(8, DocumentStatusName(doc.status)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(9, doc.error));
  CLOISTER_RETURN_IF_ERROR(st.Bind(10, doc.size_bytes));
  CLOISTER_RETURN_IF_ERROR(st.Bind(11, doc.page_count));
  return st.Bind(12, now);
}

std::string References(const Document& doc) {
  std::string text = "document " + doc.path + " in collection " + std::to_string(doc.collection_id);
  if (doc.parent_id) text += " with parent document " + std::to_string(*doc.parent_id);
  if (doc.job_id) text += " for job " + std::to_string(*doc.job_id);
  return text;
}

// The first row of `statement` as a document, or nullopt when it returns none.
Result<std::optional<Document>> FirstDocument(Statement& statement) {
  CLOISTER_ASSIGN_OR_RETURN(bool has_row, statement.Step());
  if (!has_row) return std::optional<Document>();
  CLOISTER_ASSIGN_OR_RETURN(Document doc, internal::ReadDocument(statement));
  return std::optional<Document>(std::move(doc));
}

Status NoSuchDocument(int64_t id) {
  return NotFound("document " + std::to_string(id) + " does not exist");
}

}  // namespace

Result<int64_t> internal::InsertDocument(const Database& db, const Document& document) {
  CLOISTER_RETURN_IF_ERROR(ValidateDocument(document));
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db.Prepare("INSERT INTO documents (collection_id, parent_id, path, content_hash, type, "
                 "title, metadata, status, error, size_bytes, page_count, updated_at, "
                 "created_at, job_id, name) "
                 "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13, ?14)"));
  CLOISTER_RETURN_IF_ERROR(BindDocumentFields(st, document, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st).WithContext("adding " + References(document)));
  return db.LastInsertRowId();
}

Result<int64_t> Catalog::AddDocument(const Document& document) {
  return internal::InsertDocument(db_, document);
}

Status Catalog::UpdateDocument(const Document& document) {
  CLOISTER_RETURN_IF_ERROR(ValidateDocument(document));
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("UPDATE documents SET collection_id = ?1, parent_id = ?2, path = ?3, "
                  "content_hash = ?4, type = ?5, title = ?6, metadata = ?7, status = ?8, "
                  "error = ?9, size_bytes = ?10, page_count = ?11, updated_at = ?12, "
                  "job_id = ?13, name = ?14 WHERE id = ?15"));
  CLOISTER_RETURN_IF_ERROR(BindDocumentFields(st, document, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(st.Bind(15, document.id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st).WithContext("updating " + References(document)));
  if (db_.Changes() == 0) return NoSuchDocument(document.id);
  return Status::Ok();
}

Result<Document> Catalog::GetDocument(int64_t id) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT " + std::string(kDocumentColumns) +
                                                      " FROM documents WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, id));
  CLOISTER_ASSIGN_OR_RETURN(std::optional<Document> doc, FirstDocument(st));
  if (!doc) return NoSuchDocument(id);
  return std::move(*doc);
}

Result<std::optional<Document>> Catalog::FindDocumentByHash(int64_t collection_id,
                                                            std::string_view content_hash) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT " + std::string(kDocumentColumns) +
                                " FROM documents WHERE collection_id = ?1 AND content_hash = ?2 "
                                "ORDER BY parent_id IS NOT NULL, id LIMIT 1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, collection_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, content_hash));
  return FirstDocument(st);
}

Result<std::optional<Document>> Catalog::FindDocumentByPath(std::string_view path) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT " + std::string(kDocumentColumns) +
                                        " FROM documents WHERE path = ?1 "
                                        "ORDER BY parent_id IS NOT NULL, id LIMIT 1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
  return FirstDocument(st);
}

Result<std::vector<Document>> Catalog::ListDocuments(int64_t offset, int64_t limit) const {
  if (offset < 0 || limit < 1) {
    return InvalidArgument("listing documents needs offset >= 0 and limit >= 1, got offset " +
                           std::to_string(offset) + " and limit " + std::to_string(limit));
  }
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT " + std::string(kDocumentColumns) +
                                        " FROM documents ORDER BY id LIMIT ?1 OFFSET ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, limit));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, offset));
  return internal::ReadAll<Document>(st, internal::ReadDocument);
}

Result<DocumentListing> Catalog::ListLibrary(int64_t offset, int64_t limit,
                                             const std::optional<std::vector<int64_t>>& collections) const {
  if (offset < 0 || limit < 1) {
    return InvalidArgument("listing documents needs offset >= 0 and limit >= 1, got offset " +
                           std::to_string(offset) + " and limit " + std::to_string(limit));
  }
  DocumentListing out;
  const std::string readable = internal::IdInList("d.collection_id", 3);
  {
    CLOISTER_ASSIGN_OR_RETURN(
        Statement count, db_.Prepare("SELECT count(*) FROM documents AS d WHERE d.parent_id IS NULL"
                                     " AND d.status != 'queued' AND " + readable));
    CLOISTER_RETURN_IF_ERROR(internal::BindIdList(count, 3, collections));
    CLOISTER_ASSIGN_OR_RETURN(bool row, count.Step());
    out.total = row ? count.ColumnInt64(0) : 0;
  }
  // kDocumentColumns qualified with the table (the subqueries have columns of the same names).
  std::string columns;
  int n = 0;
  for (std::string_view rest = kDocumentColumns; !rest.empty(); ++n) {
    size_t comma = rest.find(',');
    std::string_view col = rest.substr(0, comma);
    while (!col.empty() && col.front() == ' ') col.remove_prefix(1);
    columns += (columns.empty() ? "d." : ", d.") + std::string(col);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("SELECT " + columns +
                  ", (SELECT count(*) FROM chunks AS c WHERE c.document_id = d.id)"
                  ", (SELECT count(*) FROM documents AS a WHERE a.parent_id = d.id)"
                  ", coalesce(json_extract(d.metadata, '$.from'), '')"
                  ", coalesce(json_extract(d.metadata, '$.date'), '')"
                  ", coalesce(json_extract(d.metadata, '$.subject'), '')"
                  " FROM documents AS d WHERE d.parent_id IS NULL AND d.status != 'queued'"
                  " AND " + readable + " ORDER BY d.id DESC LIMIT ?1 OFFSET ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, limit));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, offset));
  CLOISTER_RETURN_IF_ERROR(internal::BindIdList(st, 3, collections));
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return out;
    LibraryEntry e;
    CLOISTER_ASSIGN_OR_RETURN(e.document, internal::ReadDocument(st));
    e.chunks = st.ColumnInt64(n);
    e.attachments = st.ColumnInt64(n + 1);
    e.from = st.ColumnText(n + 2);
    e.date = st.ColumnText(n + 3);
    e.subject = st.ColumnText(n + 4);
    out.entries.push_back(std::move(e));
  }
}

Status Catalog::UpdateDocumentStatus(int64_t id, DocumentStatus status, std::string_view error) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("UPDATE documents SET status = ?1, error = ?2, updated_at = ?3 WHERE id = ?4"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, DocumentStatusName(status)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, error));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, internal::NowSeconds()));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  if (db_.Changes() == 0) return NoSuchDocument(id);
  return Status::Ok();
}

Status Catalog::DeleteDocument(int64_t id) {
  // One statement, so atomic: foreign keys cascade to attachments, chunks and embeddings, and
  // the chunk triggers remove the FTS entries.
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("DELETE FROM documents WHERE id = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, id));
  CLOISTER_RETURN_IF_ERROR(
      internal::RunToEnd(st).WithContext("deleting document " + std::to_string(id)));
  if (db_.Changes() == 0) return NoSuchDocument(id);
  return Status::Ok();
}

Result<std::vector<Document>> Catalog::DocumentsWithHash(int64_t collection_id,
                                                         std::string_view content_hash) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT " + std::string(kDocumentColumns) +
                                " FROM documents WHERE collection_id = ?1 AND content_hash = ?2 "
                                "AND parent_id IS NULL ORDER BY id"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, collection_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, content_hash));
  return internal::ReadAll<Document>(st, internal::ReadDocument);
}

Result<std::vector<Document>> Catalog::DocumentsAtPath(std::string_view path) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT " + std::string(kDocumentColumns) +
                                        " FROM documents WHERE path = ?1 AND parent_id IS NULL "
                                        "ORDER BY id"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, path));
  return internal::ReadAll<Document>(st, internal::ReadDocument);
}

}  // namespace cloister::storage
