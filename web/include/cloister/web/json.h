// JSON renderings of app's results. JSON lives only in web/ (DESIGN.md); the CLI's --json output
// and the HTTP API both use these functions, so the two always answer alike.
#pragma once

#include <string>
#include <vector>

#include "cloister/app/accounts.h"
#include "cloister/app/doctor.h"
#include "cloister/app/settings.h"
#include "cloister/app/knowledge_base.h"
#include "cloister/core/status.h"

namespace cloister::web {

std::string StatusJson(const app::StatusReport& status);
std::string ModelsJson(const std::vector<app::ModelEntry>& models);
std::string HealthJson();
// DESIGN.md's search contract: {"mode", "results": [{"chunk_id", "document": {...}, "page",
// "text", "score", "snippet"}]}
std::string SearchJson(const app::SearchResults& results);
// {"mode", "answer", "evidence", "sources": [{"n", "chunk_id", "document": {...}, "page", "text"}],
//  "sentences": [{"text", "sources": [n...]}], "search": {"mode", "query"}, "usage": {...}}
std::string AnswerJson(const app::Answer& answer);
// {"id", "parent_id", "path", "name", "title", "type", "status", "error", "pages", "chunks",
//  "attachments", "size_bytes", "created_at", "updated_at", "from", "date", "subject"}
std::string DocumentJson(const app::DocumentInfo& document);
// {"total", "documents": [document...]}
std::string DocumentListJson(const app::DocumentList& list);
// {"chunks": [{"id", "ordinal", "page", "text"}]}
std::string PassagesJson(const std::vector<app::PassageInfo>& passages);
// {"id", "name", "path", "state", "progress", "error", "document_id"}
std::string JobJson(const app::JobInfo& job);
// {"jobs": [job...]}
std::string JobsJson(const std::vector<app::JobInfo>& jobs);
// {"documents": N, "chunks": N, "pages": N, "ingested": [...], "failed": [{"path", "error"}]}
std::string IngestJson(const app::IngestReport& report);
// `cloister backup` and `restore --json`.
std::string BackupJson(const app::BackupReport& report);
// `cloister user list --json`: {"users": [{"id", "name", "role", "disabled", "created_at",
// "collections": [...]}]}
std::string UsersJson(const std::vector<app::UserInfo>& users);
// `cloister apikey list --json`: {"api_keys": [{"id", "user", "prefix", "created_at",
// "revoked_at", "last_used_at"}]} (never the key)
std::string ApiKeysJson(const std::vector<app::ApiKeyInfo>& keys);
// `cloister apikey create --json`: one key's fields and, this once, "key".
std::string ApiKeyJson(const app::ApiKeyInfo& key, const std::string& secret);
// {"error": {"code": "not_found", "message": "...", "details": {...}}}; `hint` is added to
// details when not empty.
std::string ErrorJson(const Status& status, const std::string& hint = "");
// `cloister config check`: {"file": "...", "valid": bool, "problems": [{"line", "key", "message"}]}.
std::string ConfigCheckJson(const std::string& file, const std::vector<app::ConfigProblem>& problems);
// `cloister config show`: {"file": "..."|null, "settings": [{"name", "value", "help"}]}.
std::string SettingsJson(const std::string& file, const std::vector<app::SettingInfo>& settings);
// `cloister doctor`: {"ok": bool (no check failed), "checks": [{"name", "state", "detail"}]}.
std::string DoctorJson(const std::vector<app::DoctorCheck>& checks);

}  // namespace cloister::web
