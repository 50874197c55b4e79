#include "cloister/web/audit_log.h"

#include <Poco/AutoPtr.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/Exception.h>
#include <Poco/FileChannel.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/Message.h>
#include <Poco/Timestamp.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <sstream>

#include "cloister/core/log.h"
#include "cloister/core/utf8.h"

namespace cloister::web {

namespace fs = std::filesystem;

struct AuditLog::Impl {
  fs::path path;
  std::mutex mutex;
  Poco::AutoPtr<Poco::FileChannel> channel;
};

AuditLog::AuditLog(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

AuditLog::~AuditLog() {
  if (impl_ && impl_->channel) impl_->channel->close();
}

const fs::path& AuditLog::path() const { return impl_->path; }

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const fs::path& path, AuditLogOptions options) {
  std::error_code ec;
  fs::path folder = path.parent_path().empty() ? fs::path(".") : path.parent_path();
  if (!fs::exists(folder, ec)) {
    fs::create_directories(folder, ec);
    if (ec) return FailedPrecondition("cannot create the audit log's folder " + folder.string() + ": " + ec.message());
    // Only the service's user reads questions, whoever else can read the data folder.
    fs::permissions(folder, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return FailedPrecondition("cannot write the audit log " + path.string() + ": " + std::strerror(errno));
  ::close(fd);
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  try {
    impl->channel = new Poco::FileChannel(path.string());
    impl->channel->setProperty(Poco::FileChannel::PROP_ROTATION, std::to_string(std::max<uint64_t>(options.rotate_bytes, 1)));
    impl->channel->setProperty(Poco::FileChannel::PROP_ARCHIVE, "number");
    impl->channel->setProperty(Poco::FileChannel::PROP_PURGECOUNT, std::to_string(std::max(options.keep, 1)));
    impl->channel->setProperty(Poco::FileChannel::PROP_FLUSH, "true");
    impl->channel->open();
  } catch (const Poco::Exception& e) {
    return FailedPrecondition("cannot open the audit log " + path.string() + ": " + e.displayText());
  }
  return std::unique_ptr<AuditLog>(new AuditLog(std::move(impl)));
}

void AuditLog::Record(const AuditEvent& event) {
  // Poco's JSON writer keeps keys in insertion order with this flag, so lines read naturally.
  Poco::JSON::Object line(Poco::JSON_PRESERVE_KEY_ORDER);
  line.set("time", Poco::DateTimeFormatter::format(Poco::Timestamp(), "%Y-%m-%dT%H:%M:%S.%iZ"));
  line.set("action", ToValidUtf8(event.action));
  if (event.user.empty()) {
    line.set("user", Poco::Dynamic::Var());
  } else {
    line.set("user", ToValidUtf8(event.user));
  }
  if (!event.auth.empty()) line.set("auth", event.auth);
  if (!event.key.empty()) line.set("key", ToValidUtf8(event.key));
  if (!event.client.empty()) line.set("client", event.client);
  if (event.status != 0) line.set("status", event.status);
  if (!event.text.empty()) line.set("text", ToValidUtf8(event.text));
  if (!event.documents.empty()) {
    Poco::JSON::Array documents;
    for (const auto& d : event.documents) {
      Poco::JSON::Object doc(Poco::JSON_PRESERVE_KEY_ORDER);
      doc.set("id", d.id);
      doc.set("title", ToValidUtf8(d.title));
      documents.add(doc);
    }
    line.set("documents", documents);
  }
  for (const auto& [key, value] : event.details) line.set(ToValidUtf8(key), ToValidUtf8(value));
  std::ostringstream text;
  // Strings are escaped as JSON: a newline in a question cannot start a forged line.
  line.stringify(text, 0, -1);
  std::lock_guard lock(impl_->mutex);
  try {
    impl_->channel->log(Poco::Message("audit", text.str(), Poco::Message::PRIO_INFORMATION));
  } catch (const Poco::Exception& e) {
    log::Error("audit", "cannot write the audit log", {{"path", impl_->path.string()}, {"error", e.displayText()}});
  }
}

}  // namespace cloister::web
