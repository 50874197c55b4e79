// Catalog: embeddings, stored as float32 little-endian BLOBs whatever the host's byte order.
#include <algorithm>
#include <bit>
#include <cstring>
#include <string>

#include "catalog_rows.h"
#include "cloister/storage/catalog.h"

namespace cloister::storage {
namespace {

std::string EncodeVector(std::span<const float> vector) {
  std::string bytes(vector.size() * 4, '\0');
  for (size_t i = 0; i < vector.size(); ++i) {
    uint32_t bits = std::bit_cast<uint32_t>(vector[i]);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  return bytes;
}

// Decodes into `out` (reused between rows); kDataLoss when the size disagrees with `dim`.
Status DecodeVector(std::string_view bytes, int64_t dim, int64_t chunk_id,
                    std::vector<float>* out) {
  if (dim < 1 || bytes.size() != static_cast<size_t>(dim) * 4) {
    return DataLoss("embedding of chunk " + std::to_string(chunk_id) + " holds " +
                    std::to_string(bytes.size()) + " bytes for dimension " + std::to_string(dim) +
                    "; re-embed the collection");
  }
  out->resize(static_cast<size_t>(dim));
  for (size_t i = 0; i < out->size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b) {
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    }
    (*out)[i] = std::bit_cast<float>(bits);
  }
  return Status::Ok();
}

// The batch's common dimension; kInvalidArgument for an empty model id or ragged vectors.
Result<size_t> BatchDimension(std::string_view model_id, const std::vector<Embedding>& batch) {
  if (model_id.empty()) return InvalidArgument("embedding model id is empty; name the model");
  size_t dim = batch.empty() ? 0 : batch.front().vector.size();
  for (const Embedding& e : batch) {
    if (e.vector.empty() || e.vector.size() != dim) {
      return InvalidArgument("embedding of chunk " + std::to_string(e.chunk_id) + " for model " +
                             std::string(model_id) + " has " + std::to_string(e.vector.size()) +
                             " values where the batch has " + std::to_string(dim) +
                             "; every vector must be non-empty and of one length");
    }
  }
  return dim;
}

Status CheckStoredDimension(const Database& db, std::string_view model_id, size_t dim) {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db.Prepare("SELECT dim FROM embeddings WHERE model_id = ?1 AND dim != ?2 "
                               "LIMIT 1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, model_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, dim));
  CLOISTER_ASSIGN_OR_RETURN(bool differs, st.Step());
  if (!differs) return Status::Ok();
  return FailedPrecondition("model " + std::string(model_id) +
                            " already has vectors of dimension " +
                            std::to_string(st.ColumnInt64(0)) + ", not " + std::to_string(dim) +
                            "; a different model needs a different model id");
}

Status InsertEmbedding(Statement& insert, std::string_view model_id, const Embedding& e) {
  insert.Reset();
  CLOISTER_RETURN_IF_ERROR(insert.Bind(1, e.chunk_id));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(2, model_id));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(3, e.vector.size()));
  CLOISTER_RETURN_IF_ERROR(insert.Bind(4, Blob(EncodeVector(e.vector))));
  Status status = internal::RunToEnd(insert);
  // The only reference an embedding has is its chunk.
  if (status.code() == StatusCode::kFailedPrecondition) {
    return NotFound("chunk " + std::to_string(e.chunk_id) +
                    " does not exist, so it cannot have an embedding (" + status.message() + ")");
  }
  return status.WithContext("storing the embedding of chunk " + std::to_string(e.chunk_id));
}

}  // namespace

Status Catalog::PutEmbeddings(std::string_view model_id, const std::vector<Embedding>& embeddings) {
  CLOISTER_ASSIGN_OR_RETURN(size_t dim, BatchDimension(model_id, embeddings));
  if (embeddings.empty()) return Status::Ok();
  CLOISTER_ASSIGN_OR_RETURN(Transaction tx, Transaction::Begin(db_));
  CLOISTER_RETURN_IF_ERROR(CheckStoredDimension(db_, model_id, dim));
  CLOISTER_ASSIGN_OR_RETURN(
      Statement insert, db_.Prepare("INSERT INTO embeddings (chunk_id, model_id, dim, vector) "
                                    "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (chunk_id, model_id) "
                                    "DO UPDATE SET dim = excluded.dim, vector = excluded.vector"));
  for (const Embedding& e : embeddings) {
    CLOISTER_RETURN_IF_ERROR(InsertEmbedding(insert, model_id, e));
  }
  return tx.Commit();
}

Result<std::vector<float>> Catalog::GetEmbedding(int64_t chunk_id,
                                                 std::string_view model_id) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("SELECT dim, vector FROM embeddings WHERE chunk_id = ?1 AND model_id = ?2"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, chunk_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, model_id));
  CLOISTER_ASSIGN_OR_RETURN(bool found, st.Step());
  if (!found) {
    return NotFound("chunk " + std::to_string(chunk_id) + " has no embedding for model " +
                    std::string(model_id));
  }
  std::vector<float> vector;
  CLOISTER_RETURN_IF_ERROR(DecodeVector(st.ColumnBlob(1), st.ColumnInt64(0), chunk_id, &vector));
  return vector;
}

Status Catalog::ForEachEmbedding(
    std::string_view model_id,
    const std::function<Status(int64_t chunk_id, std::span<const float>)>& fn) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT chunk_id, dim, vector FROM embeddings "
                                        "WHERE model_id = ?1 ORDER BY chunk_id"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, model_id));
  std::vector<float> vector;
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool has_row, st.Step());
    if (!has_row) return Status::Ok();
    int64_t chunk_id = st.ColumnInt64(0);
    CLOISTER_RETURN_IF_ERROR(DecodeVector(st.ColumnBlob(2), st.ColumnInt64(1), chunk_id, &vector));
    CLOISTER_RETURN_IF_ERROR(fn(chunk_id, vector));
  }
}

Result<std::vector<Embedding>> Catalog::EmbeddingsAfter(std::string_view model_id, int64_t after_id,
                                                        int limit) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("SELECT chunk_id, dim, vector FROM embeddings WHERE model_id = ?1 "
                                        "AND chunk_id > ?2 ORDER BY chunk_id LIMIT ?3"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, model_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, after_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, static_cast<int64_t>(std::max(limit, 0))));
  std::vector<Embedding> page;
  for (;;) {
    CLOISTER_ASSIGN_OR_RETURN(bool has_row, st.Step());
    if (!has_row) return page;
    Embedding e;
    e.chunk_id = st.ColumnInt64(0);
    CLOISTER_RETURN_IF_ERROR(DecodeVector(st.ColumnBlob(2), st.ColumnInt64(1), e.chunk_id, &e.vector));
    page.push_back(std::move(e));
  }
}

Result<std::vector<Chunk>> Catalog::ChunksMissingEmbedding(std::string_view model_id,
                                                           int64_t after_id, int limit) const {
  // NOT EXISTS probes the (chunk_id, model_id) primary key once per chunk.
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st,
      db_.Prepare("SELECT " + std::string(internal::kChunkColumns) +
                  " FROM chunks WHERE id > ?1 AND NOT EXISTS (SELECT 1 FROM embeddings AS e "
                  "WHERE e.chunk_id = chunks.id AND e.model_id = ?2) ORDER BY id LIMIT ?3"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, after_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, model_id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, static_cast<int64_t>(std::max(limit, 0))));
  return internal::ReadAll<Chunk>(st, internal::ReadChunk);
}

Result<int64_t> Catalog::CountChunksMissingEmbedding(std::string_view model_id) const {
  CLOISTER_ASSIGN_OR_RETURN(
      Statement st, db_.Prepare("SELECT count(*) FROM chunks WHERE NOT EXISTS (SELECT 1 FROM "
                                "embeddings AS e WHERE e.chunk_id = chunks.id AND e.model_id = ?1)"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, model_id));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  return row ? st.ColumnInt64(0) : 0;
}

Result<int64_t> Catalog::DeleteEmbeddingsExcept(std::string_view keep_model_id) {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("DELETE FROM embeddings WHERE model_id != ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, keep_model_id));
  CLOISTER_RETURN_IF_ERROR(internal::RunToEnd(st));
  return static_cast<int64_t>(db_.Changes());
}

Result<std::optional<std::string>> Catalog::GetSetting(std::string_view key) const {
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT value FROM settings WHERE key = ?1"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, key));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(std::string(st.ColumnText(0)));
}

Status Catalog::SetSetting(std::string_view key, std::string_view value) {
  if (key.empty()) return InvalidArgument("a setting needs a key");
  CLOISTER_ASSIGN_OR_RETURN(Statement st,
                            db_.Prepare("INSERT INTO settings (key, value) VALUES (?1, ?2) "
                                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value"));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, key));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, value));
  return internal::RunToEnd(st).WithContext("storing setting " + std::string(key));
}

}  // namespace cloister::storage
