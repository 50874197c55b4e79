#include "chunk_filter.h"

namespace cloister::storage::internal {
namespace {

std::string Param(int n) { return "?" + std::to_string(n); }

// The value of `key` in the document's metadata, or in its message's for an attachment.
std::string OwnOrParent(const std::string& doc, const std::string& json_path) {
  return "coalesce(json_extract(" + doc + ".metadata, '" + json_path +
         "'), (SELECT json_extract(p.metadata, '" + json_path + "') FROM documents AS p WHERE p.id = " +
         doc + ".parent_id))";
}

std::string Joined(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ",") + p;
  return out;
}

}  // namespace

std::string FilterCondition(const std::string& doc, int first) {
  std::string types = Param(first), from = Param(first + 1), after = Param(first + 2),
              before = Param(first + 3), collections = Param(first + 4);
  std::string date = "coalesce(" + OwnOrParent(doc, "$.date") + ", " + OwnOrParent(doc, "$.created") + ")";
  return "(" + types + " = '' OR instr(',' || " + types + " || ',', ',' || " + doc + ".type || ',') > 0)" +
         " AND (" + from + " = '' OR instr(lower(coalesce(" + OwnOrParent(doc, "$.from") +
         ", '')), lower(" + from + ")) > 0)" +
         " AND (" + after + " = '' OR coalesce(" + date + ", '') >= " + after + ")" +
         " AND (" + before + " = '' OR (" + date + " IS NOT NULL AND " + date + " < " + before + "))" +
         " AND (" + collections + " = '' OR instr(',' || " + collections + " || ',', ',' || " + doc +
         ".collection_id || ',') > 0)" +
         " AND " + IdInList(doc + ".collection_id", first + 5);
}

std::string IdInList(const std::string& column, int param) {
  std::string p = Param(param);
  return "(" + p + " IS NULL OR instr(',' || " + p + " || ',', ',' || " + column + " || ',') > 0)";
}

Status BindIdList(Statement& st, int param, const std::optional<std::vector<int64_t>>& ids) {
  if (!ids) return st.Bind(param, std::nullopt);
  std::vector<std::string> text;
  for (int64_t id : *ids) text.push_back(std::to_string(id));
  return st.Bind(param, Joined(text));
}

Status BindFilter(Statement& st, int first, const ChunkFilter& f) {
  std::vector<std::string> ids;
  for (int64_t id : f.collection_ids) ids.push_back(std::to_string(id));
  CLOISTER_RETURN_IF_ERROR(st.Bind(first, Joined(f.types)));
  CLOISTER_RETURN_IF_ERROR(st.Bind(first + 1, f.from_contains));
  CLOISTER_RETURN_IF_ERROR(st.Bind(first + 2, f.after));
  CLOISTER_RETURN_IF_ERROR(st.Bind(first + 3, f.before));
  CLOISTER_RETURN_IF_ERROR(st.Bind(first + 4, Joined(ids)));
  return BindIdList(st, first + 5, f.readable_collections);
}

}  // namespace cloister::storage::internal
