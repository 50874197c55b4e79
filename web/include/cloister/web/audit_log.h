// The audit log: who asked what, which documents the answers cited, who read or changed which
// document, and every administrative action, as JSON lines (one event a line) in a file that
// rotates by size. It holds questions, so it is as private as the documents: it lives in the
// data folder, created readable by its owner only.
//
//   auto audit = web::AuditLog::Open(data_dir / "audit" / "audit.log", {});
//   (*audit)->Record({.action = "ask", .user = "ann", .text = question, .documents = cited});
//
// A line looks like
//   {"time":"2026-12-05T12:30:00.123Z","action":"ask","user":"ann","auth":"session",
//    "client":"10.0.0.7","status":200,"text":"When is the rent due?",
//    "documents":[{"id":31,"title":"Lease 2024"}]}
// Thread safety: Record may be called from any thread. Several processes (the service and the
// CLI's administration commands) may append to the same file: each line is one write.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cloister/core/status.h"

namespace cloister::web {

struct AuditDocument {
  int64_t id = 0;
  std::string title;
};

struct AuditEvent {
  std::string action;  // "ask", "search", "chat", "original", "upload", "delete", "login",
                       // "login_failed", "logout", "user_add", "grant", "backup", ...
  std::string user;    // who; empty when authentication is off (written as null)
  std::string auth;    // how they proved it: "session", "api_key", "cli", "none"
  std::string key;     // the API key's public prefix, when auth is "api_key"
  std::string client;  // the peer address; empty from the CLI
  int status = 0;      // the HTTP status answered (0: not an HTTP request)
  std::string text;    // the question or query, or the object of an admin action
  std::vector<AuditDocument> documents;  // cited, read, uploaded or deleted
  std::vector<std::pair<std::string, std::string>> details;  // anything else, as strings
};

struct AuditLogOptions {
  uint64_t rotate_bytes = 10ull << 20;  // the file is renamed to audit.log.0 past this size
  int keep = 10;                        // rotated files kept (audit.log.0 newest ... .9)
};

class AuditLog {
 public:
  // Creates the folder and the file (mode 0600) when missing. kFailedPrecondition when they
  // cannot be written.
  static Result<std::unique_ptr<AuditLog>> Open(const std::filesystem::path& path,
                                                AuditLogOptions options = {});
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Appends one line; the time is now. A failure to write is logged (core/log.h) and never
  // fails the request that caused the event.
  void Record(const AuditEvent& event);

  const std::filesystem::path& path() const;

 private:
  struct Impl;
  explicit AuditLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cloister::web
