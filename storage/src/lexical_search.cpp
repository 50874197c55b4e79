// Catalog: BM25 search over chunk text through the chunks_fts index.
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
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
    @VISIBLE@
  ORDER BY rank
  LIMIT ?2
)
SELECT h.chunk_id, c.document_id, d.path, d.title, c.page_start, c.text, h.snippet, h.fts_rank
FROM hits AS h
JOIN chunks AS c ON c.id = h.chunk_id
JOIN documents AS d ON d.id = c.document_id
WHERE d.status IN ('ready', 'partial')
ORDER BY h.fts_rank, h.chunk_id
)sql";

constexpr std::string_view kVisibleCondition = R"sql(AND EXISTS (SELECT 1 FROM chunks AS vc JOIN documents AS vd ON vd.id = vc.document_id
                WHERE vc.id = chunks_fts.rowid AND vd.status IN ('ready', 'partial')
                  AND @FILTER@))sql";

// Whether any chunk belongs to a document search must not show (queued: being ingested, or
// left by an interrupted job). Two index lookups.
constexpr std::string_view kAnyHiddenChunkSql =
    "SELECT EXISTS (SELECT 1 FROM documents AS d WHERE d.status IN ('queued', 'failed') "
    "AND EXISTS (SELECT 1 FROM chunks AS c WHERE c.document_id = d.id))";

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

Result<std::vector<QueryWord>> QueryWords(std::string_view user_query) {
  CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<internal::WordSegmenter> segmenter,
                            internal::WordSegmenter::Create());
  std::vector<QueryWord> words;
  std::set<std::string, std::less<>> seen;
  auto add = [&](std::string_view folded, int start, int end) {
    if (!seen.emplace(folded).second) return 0;
    words.push_back({std::string(folded),
                     std::string(user_query.substr(static_cast<size_t>(start),
                                                   static_cast<size_t>(end - start)))});
    return words.size() < kMaxQueryTerms ? 0 : 1;
  };
  if (segmenter->ForEachWord(user_query, add) == internal::WordSegmenter::kIcuFailed) {
    return Internal("ICU failed to split the query into words");
  }
  return words;
}

std::string FtsMatchExpression(const std::vector<QueryWord>& words) {
  // The word as the user wrote it is what goes in the string: FTS5 hands it to cloister_icu,
  // which folds it exactly as it folded the chunks.
  std::string expression;
  for (const QueryWord& w : words) {
    if (!expression.empty()) expression += " OR ";
    expression += QuoteFtsString(w.text);
  }
  return expression;
}

Result<std::string> FtsMatchExpression(std::string_view user_query) {
  CLOISTER_ASSIGN_OR_RETURN(std::vector<QueryWord> words, QueryWords(user_query));
  return FtsMatchExpression(words);
}

std::vector<QueryWord> WordsWithinBudget(const std::vector<QueryWord>& words,
                                         const std::vector<int64_t>& frequencies, int64_t budget,
                                         std::vector<std::string>* skipped) {
  std::vector<size_t> order;
  for (size_t i = 0; i < words.size(); ++i) {
    if (frequencies[i] > 0) order.push_back(i);  // a word no chunk has can match nothing
  }
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return frequencies[a] < frequencies[b]; });
  std::vector<bool> keep(words.size(), false);
  int64_t rows = 0;
  for (size_t n = 0; n < order.size(); ++n) {
    size_t i = order[n];
    if (n > 0 && rows + frequencies[i] > budget) break;  // the rarest word always stays
    rows += frequencies[i];
    keep[i] = true;
  }
  std::vector<QueryWord> kept;
  for (size_t i = 0; i < words.size(); ++i) {
    if (keep[i]) {
      kept.push_back(words[i]);
    } else if (skipped && frequencies[i] > 0) {
      skipped->push_back(words[i].text);
    }
  }
  return kept;
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

Result<int64_t> Catalog::ChunkCount() const {
  // count(*) reads a whole index (a tenth of a second at a million chunks); the answer only
  // changes when someone commits, which data_version tells without reading anything.
  CLOISTER_ASSIGN_OR_RETURN(int64_t version, db_.QueryInt64("PRAGMA data_version"));
  if (!chunk_count_ || chunk_count_->first != version || db_.TotalChanges() != chunk_count_changes_) {
    CLOISTER_ASSIGN_OR_RETURN(int64_t count, db_.QueryInt64("SELECT count(*) FROM chunks"));
    chunk_count_ = std::make_pair(version, count);
    chunk_count_changes_ = db_.TotalChanges();
  }
  return chunk_count_->second;
}

Result<std::vector<int64_t>> Catalog::DocumentFrequencies(const std::vector<std::string>& folded_words) const {
  // temp.chunks_vocab is made by Open.
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT doc FROM temp.chunks_vocab WHERE term = ?1"));
  std::vector<int64_t> out;
  out.reserve(folded_words.size());
  for (const std::string& word : folded_words) {
    st.Reset();
    CLOISTER_RETURN_IF_ERROR(st.Bind(1, word));
    CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
    out.push_back(row ? st.ColumnInt64(0) : 0);
  }
  return out;
}

Result<TermFrequencies> Catalog::CountTermFrequencies(const std::vector<std::string>& folded_words) {
  TermFrequencies out;
  CLOISTER_ASSIGN_OR_RETURN(out.chunks, ChunkCount());
  std::vector<std::string> distinct;
  for (const std::string& word : folded_words) {
    if (out.frequencies.emplace(word, 0).second) distinct.push_back(word);
  }
  CLOISTER_ASSIGN_OR_RETURN(std::vector<int64_t> df, DocumentFrequencies(distinct));
  for (size_t i = 0; i < distinct.size(); ++i) out.frequencies[distinct[i]] = df[i];
  return out;
}

Result<std::vector<LexicalHit>> Catalog::SearchLexical(std::string_view user_query, int k,
                                                       const ChunkFilter& filter,
                                                       LexicalSearchInfo* info, int64_t row_budget) const {
  if (k < 1) {
    return InvalidArgument("search asked for " + std::to_string(k) +
                           " results; k must be at least 1");
  }
  CLOISTER_ASSIGN_OR_RETURN(std::vector<QueryWord> words, QueryWords(user_query));
  const std::vector<QueryWord> all_words = words;
  std::vector<int64_t> all_df;
  int limit = k;
  if (words.size() > 1) {
    std::vector<std::string> folded;
    for (const QueryWord& w : words) folded.push_back(w.folded);
    CLOISTER_ASSIGN_OR_RETURN(all_df, DocumentFrequencies(folded));
    std::vector<std::string> skipped;
    words = WordsWithinBudget(words, all_df, row_budget, &skipped);
    if (info) info->skipped_words = skipped;
    // The rarer words find the candidates; all the words rank them (RescoreWithAllWords).
    if (!skipped.empty()) limit = std::max(k * 4, 100);
  }
  std::string match = FtsMatchExpression(words);
  if (match.empty()) return std::vector<LexicalHit>();
  // The visibility and filter test runs inside the FTS5 query, for every matching row (two
  // lookups each, a third of BM25's cost at a million chunks), so that hidden or filtered-out
  // chunks cannot take the k places. Without a filter, and with no chunk hidden (the usual
  // state between ingestions), it can go: the outer query still drops hidden documents.
  static const std::string checked_sql = [] {
    std::string condition(kVisibleCondition);
    condition.replace(condition.find("@FILTER@"), 8, internal::FilterCondition("vd", 5));
    std::string text(kSearchSql);
    text.replace(text.find("@VISIBLE@"), 9, condition);
    return text;
  }();
  static const std::string unchecked_sql = [] {
    std::string text(kSearchSql);
    text.replace(text.find("@VISIBLE@"), 9, "");
    return text;
  }();
  bool check = !filter.empty();
  if (!check) {
    CLOISTER_ASSIGN_OR_RETURN(int64_t hidden, db_.QueryInt64(kAnyHiddenChunkSql));
    check = hidden != 0;
  }
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare(check ? checked_sql : unchecked_sql));
  CLOISTER_RETURN_IF_ERROR(st.Bind(1, match));
  CLOISTER_RETURN_IF_ERROR(st.Bind(2, limit));
  CLOISTER_RETURN_IF_ERROR(st.Bind(3, kSnippetOpen));
  CLOISTER_RETURN_IF_ERROR(st.Bind(4, kSnippetClose));
  if (check) CLOISTER_RETURN_IF_ERROR(internal::BindFilter(st, 5, filter));
  CLOISTER_ASSIGN_OR_RETURN(std::vector<LexicalHit> hits, internal::ReadAll<LexicalHit>(st, ReadHit));
  if (limit == k) return hits;
  CLOISTER_RETURN_IF_ERROR(RescoreWithAllWords(all_words, all_df, &hits));
  if (hits.size() > static_cast<size_t>(k)) hits.resize(static_cast<size_t>(k));
  return hits;
}

Result<double> Catalog::AverageChunkTokens() const {
  CLOISTER_ASSIGN_OR_RETURN(int64_t version, db_.QueryInt64("PRAGMA data_version"));
  if (average_tokens_ && average_tokens_->first == version && average_tokens_changes_ == db_.TotalChanges()) {
    return average_tokens_->second;
  }
  // FTS5's "averages" record (row 1 of its data table): a varint with the number of rows, then
  // one per column with the number of tokens in it, SQLite varints. Kept current by FTS5 itself.
  CLOISTER_ASSIGN_OR_RETURN(Statement st, db_.Prepare("SELECT block FROM chunks_fts_data WHERE id = 1"));
  CLOISTER_ASSIGN_OR_RETURN(bool row, st.Step());
  double average = 1;
  if (row) {
    std::string blob = st.ColumnBlob(0);
    size_t at = 0;
    auto varint = [&]() -> uint64_t {
      uint64_t v = 0;
      for (int i = 0; i < 9 && at < blob.size(); ++i) {
        uint8_t b = static_cast<uint8_t>(blob[at++]);
        if (i == 8) return (v << 8) | b;
        v = (v << 7) | (b & 0x7f);
        if (!(b & 0x80)) return v;
      }
      return v;
    };
    uint64_t rows = varint(), tokens = varint();
    if (rows > 0 && tokens > 0) average = static_cast<double>(tokens) / static_cast<double>(rows);
  }
  average_tokens_ = std::make_pair(version, average);
  average_tokens_changes_ = db_.TotalChanges();
  return average;
}

Status Catalog::RescoreWithAllWords(const std::vector<QueryWord>& words, const std::vector<int64_t>& df,
                                    std::vector<LexicalHit>* hits) const {
  // BM25 as FTS5's bm25() computes it (k1 1.2, b 0.75, idf ln((N - n + 0.5) / (n + 0.5)),
  // at least 1e-6), over every word of the query, for the candidates only.
  constexpr double kK1 = 1.2, kB = 0.75;
  CLOISTER_ASSIGN_OR_RETURN(int64_t n, ChunkCount());
  CLOISTER_ASSIGN_OR_RETURN(double average, AverageChunkTokens());
  std::vector<double> idf(words.size());
  for (size_t i = 0; i < words.size(); ++i) {
    double v = std::log((static_cast<double>(n - df[i]) + 0.5) / (static_cast<double>(df[i]) + 0.5));
    idf[i] = v > 1e-6 ? v : 1e-6;
  }
  for (LexicalHit& hit : *hits) {
    CLOISTER_ASSIGN_OR_RETURN(std::vector<std::string> tokens, FoldedWords(hit.text));
    std::map<std::string_view, int> tf;
    for (const auto& t : tokens) ++tf[t];
    double length = static_cast<double>(tokens.size());
    double score = 0;
    for (size_t i = 0; i < words.size(); ++i) {
      auto it = tf.find(words[i].folded);
      if (it == tf.end()) continue;
      double f = it->second;
      score += idf[i] * f * (kK1 + 1) / (f + kK1 * (1 - kB + kB * length / average));
    }
    hit.score = score;
  }
  std::stable_sort(hits->begin(), hits->end(), [](const LexicalHit& a, const LexicalHit& b) {
    return a.score != b.score ? a.score > b.score : a.chunk_id < b.chunk_id;
  });
  return Status::Ok();
}

}  // namespace cloister::storage
