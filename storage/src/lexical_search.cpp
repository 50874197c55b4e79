// Catalog: BM25 search over chunk text through the chunks_fts index.
#include <memory>
#include <set>
#include <string>

#include "catalog_rows.h"
#include "chunk_filter.h"
#include "cloister/storage/catalog.h"
#include "icu_tokenizer.h"

namespace cloister::storage {
namespace {

// An FTS5 string: inside double quotes nothing is syntax, and a quote is written twice. Words
// hold quotes rarely, but they do: ICU keeps the Hebrew abbreviation צה"ל in one word.
std::string QuoteFtsString(std::string_view word) {
  std::string quoted = "\"";
  for (char c : word) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  quoted += '"';
  return quoted;
}

// The match runs in its own CTE, chunks_fts its only table, so FTS5 drives the query, sorts by
// rank and computes snippets for the k rows kept only; documents are joined outside it. The
// status test must sit inside, before LIMIT, or chunks of invisible documents would use up the
// k places; as a correlated EXISTS it filters FTS5's rows without becoming a join the planner
// could reorder.
constexpr std::string_view kSearchSql = R"sql(
WITH hits AS MATERIALIZED (
  SELECT rowid AS chunk_id, rank AS fts_rank,
         snippet(chunks_fts, 0, ?3, ?4, '…', 24) AS snippet
  FROM chunks_fts
  WHERE chunks_fts MATCH ?1
    AND EXISTS (SELECT 1 FROM chunks AS vc JOIN documents AS vd ON vd.id = vc.document_id
                WHERE vc.id = chunks_fts.rowid AND vd.status IN ('ready', 'partial')
                  AND @FILTER@)
  ORDER BY rank
  LIMIT ?2
)
SELECT h.chunk_id, c.document_id, d.path, d.title, c.page_start, c.text, h.snippet, h.fts_rank
FROM hits AS h
JOIN chunks AS c ON c.id = h.chunk_id
JOIN documents AS d ON d.id = c.document_id
ORDER BY h.fts_rank, h.chunk_id
)sql";

LexicalHit ReadHit(const Statement& row) {
  LexicalHit hit;
  hit.chunk_id = row.ColumnInt64(0);
  hit.document_id = row.ColumnInt64(1);
  hit.path = row.ColumnText(2);
  hit.title = row.ColumnText(3);
  if (!row.ColumnIsNull(4)) hit.page = static_cast<int>(row.ColumnInt64(4));
  hit.text = row.ColumnText(5);
  hit.snippet = row.ColumnText(6);
  // FTS5's bm25() is negative with the best match lowest; callers expect higher is better.
  hit.score = -row.ColumnDouble(7);
  return hit;
}

}  // namespace

Result<std::string> FtsMatchExpression(std::string_view user_query) {
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<internal::WordSegmenter> segmenter,
                            internal::WordSegmenter::Create());
  std::string expression;
  std::set<std::string> seen;
  // The word as the user wrote it is what goes in the string: FTS5 hands it to cloister_icu,
  // which folds it exactly as it folded the chunks. `folded` only spots repeats.
  auto add = [&](std::string_view folded, int start, int end) {
    if (!seen.emplace(folded).second) return 0;
    if (!expression.empty()) expression += " OR ";
    expression += QuoteFtsString(
        user_query.substr(static_cast<size_t>(start), static_cast<size_t>(end - start)));
    return seen.size() < kMaxQueryTerms ? 0 : 1;
  };
  if (segmenter->ForEachWord(user_query, add) == internal::WordSegmenter::kIcuFailed) {
    return Internal("ICU failed to split the query into words");
  }
  return expression;
}

Result<std::vector<std::string>> FoldedWords(std::string_view text) {
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<internal::WordSegmenter> segmenter,
                            internal::WordSegmenter::Create());
  std::vector<std::string> words;
  auto add = [&](std::string_view folded, int, int) {
    words.emplace_back(folded);
    return 0;
  };
  if (segmenter->ForEachWord(text, add) == internal::WordSegmenter::kIcuFailed) {
    return Internal("ICU failed to split text into words");
  }
  return words;
}

Result<TermFrequencies> Catalog::CountTermFrequencies(const std::vector<std::string>& folded_words) {
  TermFrequencies out;
  CLOISTER_ASSIGN_OR_RETURN(out.chunks, db_.QueryInt64("SELECT count(*) FROM chunks"));
  // fts5vocab reads FTS5's own term index: one b-tree lookup per word. A temp table, so it
  // exists per connection and never in the file.
  CLOISTER_RETURN_IF_ERROR(
      db_.Exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunks_vocab USING fts5vocab(main, chunks_fts, row)"));
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT doc FROM temp.chunks_vocab WHERE term = ?1"));
  for (const std::string& word : folded_words) {
    if (out.frequencies.count(word)) continue;
    st.Reset();
    CLOISTER_RETURN_IF_ERROR(st.Bind(1, word));
    CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
    out.frequencies[word] = row ? st.ColumnInt64(0) : 0;
  }
  return out;
}

Result<std::vector<LexicalHit>> Catalog::SearchLexical(std::string_view user_query, int k,
                                                       const ChunkFilter& filter) const {
  if (k < 1) {
    return InvalidArgument("search asked for " + std::to_string(k) +
                           " results; k must be at least 1");
  }
  CLOISTER_ASSIGN_OR_RETURN(std::string match, FtsMatchExpression(user_query));
  if (match.empty()) return std::vector<LexicalHit>();
  static const std::string sql = [] {
    std::string text(kSearchSql);
    text.replace(text.find("@FILTER@"), 8, internal::FilterCondition("vd", 5));
    return text;
  }();
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, match));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, k));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, kSnippetOpen));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, kSnippetClose));
  CLOISTER_RETURN_IF_ERROR(internal::BindFilter(st, 5, filter));
  return internal::ReadAll<LexicalHit>(st, ReadHit);
}

}  // namespace cloister::storage
