#include "job_runner.h"

#include <system_error>
#include <unistd.h>

#include "cloister/core/failpoint.h"
#include "cloister/core/files.h"
#include "cloister/core/log.h"
#include "cloister/ingest/format.h"
#include "cloister/ingest/hash.h"
#include "cloister/storage/json_text.h"

namespace cloister::app {
namespace fs = std::filesystem;
namespace {

using storage::DocumentStatus;
using storage::JobState;

// One word users can filter on, in front of the parser's message.
std::string FailureReason(const Status& st) {
  const std::string& m = st.message();
  auto has = [&](const char* w) { return m.find(w) != std::string::npos; };
  if (has("password") || has("encrypted")) return "encrypted";
  if (has("timed out")) return "timeout";
  if (has("memory")) return "out of memory";
  if (has("too large") || has("limit")) return "too large";
  if (has("unsupported")) return "unsupported";
  if (has("crashed")) return "crashed";
  if (st.code() == StatusCode::kNotFound) return "missing";
  if (st.code() == StatusCode::kInvalidArgument) return "corrupt";
  return "error";
}

std::string JoinWarnings(const std::vector<std::string>& warnings) {
  std::string out;
  for (const auto& w : warnings) out += (out.empty() ? "" : "; ") + w;
  return out;
}

std::string MetadataJson(const ingest::ParsedDocument& doc) {
  std::vector<std::pair<std::string, std::string>> fields;
  if (!doc.author.empty()) fields.emplace_back("author", doc.author);
  if (!doc.created.empty()) fields.emplace_back("created", doc.created);
  if (!doc.modified.empty()) fields.emplace_back("modified", doc.modified);
  for (const auto& kv : doc.metadata) fields.push_back(kv);
  return storage::JsonObjectText(fields);
}

std::vector<storage::Chunk> ToChunks(const ingest::ParsedDocument& doc, const RunnerContext& ctx) {
  std::vector<storage::Chunk> chunks;
  for (auto& c : ingest::ChunkDocument(doc, ctx.chunking)) {
    storage::Chunk chunk;
    chunk.ordinal = static_cast<int>(chunks.size());
    chunk.text = std::move(c.text);
    if (c.page_start > 0) chunk.page_start = c.page_start;
    if (c.page_end > 0) chunk.page_end = std::max(c.page_end, c.page_start);
    if (!c.heading.empty()) chunk.heading = std::move(c.heading);
    if (c.ocr) chunk.metadata = storage::JsonObjectText({}, {}, {{"ocr", true}});
    chunks.push_back(std::move(chunk));
  }
  return chunks;
}

struct Counts {
  int64_t documents = 0;
  int64_t chunks = 0;
  int64_t pages = 0;
};

storage::DocumentTree BuildTree(ingest::ParsedDocument& doc, const storage::Job& job,
                                const std::string& hash, uint64_t size, const RunnerContext& ctx,
                                Counts* counts) {
  for (auto& block : doc.blocks) block.text = ingest::NormalizeText(block.text);
  storage::DocumentTree tree;
  storage::Document& d = tree.document;
  d.collection_id = job.collection_id;
  d.path = job.path;
  d.name = doc.name;
  d.content_hash = hash;
  d.type = doc.format;
  d.title = doc.title.empty() ? doc.name : doc.title;
  d.metadata = MetadataJson(doc);
  d.status = DocumentStatus::kQueued;
  d.error = JoinWarnings(doc.warnings);
  d.size_bytes = static_cast<int64_t>(size);
  d.page_count = doc.page_count;
  d.job_id = job.id;
  tree.chunks = ToChunks(doc, ctx);
  counts->documents += 1;
  counts->chunks += static_cast<int64_t>(tree.chunks.size());
  counts->pages += doc.page_count;
  for (auto& child : doc.children) {
    tree.children.push_back(BuildTree(child, job, "", ingest::TextBytes(child), ctx, counts));
  }
  return tree;
}

// Keeps the original bytes, content-addressed, before anything parses them (STYLE.md: nothing
// lost). A hard link when the data folder shares the file system, a copy otherwise.
Status KeepOriginal(const fs::path& originals, const fs::path& file, const std::string& hash) {
  fs::path dir = originals / hash.substr(0, 2);
  fs::path target = dir / hash;
  std::error_code ec;
  if (fs::exists(target, ec)) return Status::Ok();
  CLOISTER_RETURN_IF_ERROR(EnsureDirectory(dir));
  fs::path tmp = target;
  tmp += ".tmp." + std::to_string(::getpid());
  fs::create_hard_link(file, tmp, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(file, tmp, fs::copy_options::overwrite_existing, ec);
  }
  if (!ec) fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return Internal("cannot keep a copy of " + file.string() + " in " + dir.string());
  }
  return Status::Ok();
}

// Chunk ids of `chunks`, for the vector index.
std::vector<int64_t> IdsOf(const std::vector<storage::Chunk>& chunks) {
  std::vector<int64_t> ids;
  for (const auto& c : chunks) ids.push_back(c.id);
  return ids;
}

// Removes the previous version of the file (and its vectors) and shows the new documents.
Status Finalize(storage::Catalog& catalog, const storage::Job& job, const RunnerContext& ctx) {
  if (ctx.forget) {
    CLOISTER_ASSIGN_OR_RETURN(auto replaced, catalog.ChunkIdsReplacedByJob(job.id, job.path));
    ctx.forget(replaced);
  }
  return catalog.FinalizeJobDocuments(job.id, job.path);
}

Status RecordFailure(storage::Catalog& catalog, const storage::Job& job, const std::string& hash,
                     const Status& failure, const RunnerContext& ctx, JobOutcome* out) {
  out->ok = false;
  out->error = FailureReason(failure) + ": " + failure.message();
  if (ctx.forget) {
    CLOISTER_ASSIGN_OR_RETURN(auto leftovers, catalog.ChunksOfJob(job.id));
    ctx.forget(IdsOf(leftovers));
  }
  CLOISTER_RETURN_IF_ERROR(catalog.DiscardJobDocuments(job.id).status());
  std::error_code ec;
  storage::DocumentTree tree;
  storage::Document& d = tree.document;
  d.collection_id = job.collection_id;
  d.path = job.path;
  d.name = fs::path(job.path).filename().string();
  d.title = d.name;
  d.content_hash = hash;
  d.status = DocumentStatus::kFailed;
  d.error = out->error;
  d.job_id = job.id;
  auto size = fs::file_size(job.path, ec);
  d.size_bytes = ec ? 0 : static_cast<int64_t>(size);
  std::string head;
  if (auto bytes = ReadFileHead(job.path, 4096); bytes.ok()) head = std::move(bytes).value();
  d.type = std::string(ingest::FormatName(ingest::DetectFormat(job.path, head)));
  if (fs::exists(job.path, ec)) CLOISTER_RETURN_IF_ERROR(catalog.AddDocumentTree(tree).status());
  CLOISTER_RETURN_IF_ERROR(Finalize(catalog, job, ctx));
  log::Warn("ingest", "file failed", {{"path", job.path}, {"error", out->error}});
  return catalog.SetJobState(job.id, JobState::kFailed, out->error);
}

// Same bytes already stored: unchanged, moved here, or a duplicate. True when handled.
Result<bool> HandleKnownContent(storage::Catalog& catalog, const storage::Job& job,
                                const std::string& hash, const RunnerContext& ctx, JobOutcome* out) {
  CLOISTER_ASSIGN_OR_RETURN(auto same, catalog.DocumentsWithHash(job.collection_id, hash));
  std::vector<const storage::Document*> live;
  for (const auto& doc : same) {
    if (doc.status == DocumentStatus::kReady || doc.status == DocumentStatus::kPartial) {
      live.push_back(&doc);
    }
  }
  if (live.empty()) return false;
  std::error_code ec;
  auto find = [&](auto pred) -> const storage::Document* {
    for (const auto* d : live) if (pred(*d)) return d;
    return nullptr;
  };
  const storage::Document* keep = find([&](const auto& d) { return d.path == job.path; });
  if (keep) {
    out->note = "unchanged";
  } else if ((keep = find([&](const auto& d) { return !fs::exists(d.path, ec); }))) {
    out->note = "renamed from " + keep->path;
    if (ctx.forget) {
      CLOISTER_ASSIGN_OR_RETURN(auto gone, catalog.ChunkIdsAtPath(job.path));
      ctx.forget(gone);
    }
    CLOISTER_RETURN_IF_ERROR(catalog.DeleteDocumentsAtPath(job.path).status());
    CLOISTER_RETURN_IF_ERROR(catalog.RenameDocuments(keep->path, job.path).status());
  } else {
    keep = live.front();
    out->note = "duplicate of " + keep->path;
    // The file at this path may have held other content before: that version goes.
    CLOISTER_RETURN_IF_ERROR(Finalize(catalog, job, ctx));
  }
  out->ok = true;
  out->document_ids.push_back(keep->id);
  CLOISTER_RETURN_IF_ERROR(catalog.SetJobDocument(job.id, keep->id));
  CLOISTER_RETURN_IF_ERROR(catalog.SetJobState(job.id, JobState::kDone));
  return true;
}

class HashGuard {
 public:
  HashGuard(HashLocks& locks, std::string hash) : locks_(locks), hash_(std::move(hash)) {
    locks_.Lock(hash_);
  }
  ~HashGuard() { locks_.Unlock(hash_); }

 private:
  HashLocks& locks_;
  std::string hash_;
};

}  // namespace

void HashLocks::Lock(const std::string& hash) {
  std::unique_lock lock(mu_);
  released_.wait(lock, [&] { return !held_.count(hash); });
  held_.insert(hash);
}

void HashLocks::Unlock(const std::string& hash) {
  {
    std::lock_guard lock(mu_);
    held_.erase(hash);
  }
  released_.notify_all();
}

RunnerContext MakeRunnerContext(const Config& config) {
  RunnerContext ctx;
  ctx.config = config;
  const IngestConfig& in = config.ingest;
  ctx.extract.max_file_bytes = in.max_file_bytes;
  ctx.extract.max_pages = in.max_pages;
  ctx.extract.ocr = in.ocr;
  ctx.extract.ocr_languages = in.ocr_languages;
  ctx.extract.pdf_passwords = in.pdf_passwords;
  ctx.extract.max_depth = in.max_depth;
  ctx.sandbox.timeout_seconds = in.timeout_seconds;
  ctx.sandbox.memory_bytes = in.memory_mb << 20;
  if (!in.worker_binary.empty()) ctx.sandbox.worker = in.worker_binary;
  ctx.chunking.target_tokens = in.chunk_tokens;
  ctx.chunking.overlap = in.chunk_overlap;
  return ctx;
}

Result<JobOutcome> RunJob(storage::Catalog& catalog, const storage::Job& job, const RunnerContext& ctx,
                          ingest::ExtractionWorker& extractor) {
  JobOutcome out;
  out.job_id = job.id;
  out.path = job.path;
  // A job interrupted after embedding (the process was killed) left invisible chunks whose
  // vectors the saved index may hold: out of the index with them, or they stay there orphaned.
  if (ctx.forget) {
    CLOISTER_ASSIGN_OR_RETURN(auto leftovers, catalog.ChunksOfJob(job.id));
    ctx.forget(IdsOf(leftovers));
  }
  CLOISTER_RETURN_IF_ERROR(catalog.DiscardJobDocuments(job.id).status());
  auto hash = ingest::HashFile(job.path);
  if (!hash.ok()) {
    CLOISTER_RETURN_IF_ERROR(RecordFailure(catalog, job, "", hash.status(), ctx, &out));
    return out;
  }
  HashGuard guard(*ctx.hash_locks, *hash);
  CLOISTER_ASSIGN_OR_RETURN(bool known, HandleKnownContent(catalog, job, *hash, ctx, &out));
  if (known) return out;
  Status kept = KeepOriginal(ctx.config.originals_dir(), job.path, *hash);
  if (!kept.ok()) log::Warn("ingest", "original not kept", {{"error", kept.message()}});

  std::error_code ec;
  uint64_t size = fs::file_size(job.path, ec);
  bool first = true;
  Counts counts;
  Status extracted = extractor.Extract(job.path, ctx.extract, [&](ingest::ParsedDocument doc) -> Status {
    if (first) {
      first = false;
      CLOISTER_RETURN_IF_ERROR(catalog.SetJobState(job.id, JobState::kChunking));
    }
    storage::DocumentTree tree = BuildTree(doc, job, *hash, size, ctx, &counts);
    CLOISTER_ASSIGN_OR_RETURN(int64_t id, catalog.AddDocumentTree(tree));
    out.document_ids.push_back(id);
    return Status::Ok();
  });
  if (extracted.ok() && out.document_ids.empty()) {
    extracted = InvalidArgument("no document found in the file (an empty mailbox?)");
  }
  if (extracted.ok() && ctx.embed) {
    CLOISTER_RETURN_IF_ERROR(catalog.SetJobState(job.id, JobState::kEmbedding));
    extracted = ctx.embed(catalog, job.id).WithContext("embedding");
  }
  if (!extracted.ok()) {
    CLOISTER_RETURN_IF_ERROR(RecordFailure(catalog, job, *hash, extracted, ctx, &out));
    return out;
  }
  Failpoint("ingest_before_finalize");
  CLOISTER_RETURN_IF_ERROR(Finalize(catalog, job, ctx));
  Failpoint("ingest_before_done");
  CLOISTER_RETURN_IF_ERROR(catalog.SetJobDocument(job.id, out.document_ids.front()));
  CLOISTER_RETURN_IF_ERROR(catalog.SetJobState(job.id, JobState::kDone));
  out.ok = true;
  out.documents = counts.documents;
  out.chunks = counts.chunks;
  out.pages = counts.pages;
  return out;
}

}  // namespace cloister::app
