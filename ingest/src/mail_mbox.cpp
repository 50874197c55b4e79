// Mailboxes: mbox files read message by message through GMime's mbox parser, and Maildir folders
// read file by file, each message emitted as soon as it is read.
//
// mbox variants are not marked in the file, so every mbox is read the mboxrd way: a body line
// ">From " loses one '>' (">>From " becomes ">From "). For mboxrd that is exact; for mboxo it
// restores the "From " lines the writer escaped, and is wrong only for a line that was ">From "
// to begin with, which mboxo cannot represent anyway. mboxo also leaves some "From " body lines
// unescaped, which split a message in two: a piece without any message header is taken for the
// continuation of the message before it and joined to it, not emitted as a message.
#include <fcntl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "charset.h"
#include "cloister/core/files.h"
#include "mail_internal.h"
#include "parsers.h"

namespace cloister::ingest {
namespace fs = std::filesystem;
namespace mail {
namespace {

// Holds back each document until the next one arrives, so that a continuation piece (see above)
// can still be joined to it, and so that a skipped message is noted as a warning on a document
// that has not been emitted yet (the one before it, or else the next one).
class Outbox {
 public:
  explicit Outbox(const Emit& emit) : emit_(emit) {}

  Status Add(ParsedDocument doc) {
    Status status = Flush();
    pending_ = std::move(doc);
    for (std::string& note : notes_) pending_->warnings.push_back(std::move(note));
    notes_.clear();
    return status;
  }
  void Skipped(std::string note) {
    if (pending_) {
      pending_->warnings.push_back(std::move(note));
    } else {
      notes_.push_back(std::move(note));
    }
  }
  Status Flush() {
    if (!pending_) return Status::Ok();
    ParsedDocument doc = std::move(*pending_);
    pending_.reset();
    ++emitted_;
    return emit_(std::move(doc));
  }
  ParsedDocument* pending() { return pending_ ? &*pending_ : nullptr; }
  int emitted() const { return emitted_; }
  const std::vector<std::string>& notes() const { return notes_; }

 private:
  const Emit& emit_;
  std::optional<ParsedDocument> pending_;
  std::vector<std::string> notes_;
  int emitted_ = 0;
};

// Joins a headerless piece of an mbox to the message before it: its "From " line, whatever
// GMime took for header lines, and its body, as one more block of text. The "From " line and
// those header lines are body text of the message before, in its charset or none: they arrive
// as raw bytes (GMime decodes neither), so they are decoded like a body without a declared
// charset. The piece's own blocks are text already.
void AppendContinuation(GMimeMessage* message, const std::string& marker, ParsedDocument piece,
                        ParsedDocument* into) {
  std::string raw = marker + "\n";
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
  for (int i = 0; i < g_mime_header_list_get_count(headers); ++i) {
    GMimeHeader* header = g_mime_header_list_get_header_at(headers, i);
    const char* value = g_mime_header_get_value(header);
    raw += std::string(g_mime_header_get_name(header)) + ": " + (value ? value : "") + "\n";
  }
  std::string text = DecodeToUtf8(raw).text;
  for (const TextBlock& block : piece.blocks) text += "\n" + block.text;
  into->blocks.push_back(TextBlock{std::move(text), 0, "", false});
  for (ParsedDocument& child : piece.children) into->children.push_back(std::move(child));
  for (std::string& warning : piece.warnings) into->warnings.push_back(std::move(warning));
}

Result<GPtr<GMimeStream>> OpenMbox(const fs::path& path) {
  GError* error = nullptr;
  GPtr<GMimeStream> stream(g_mime_stream_fs_open(path.c_str(), O_RDONLY, 0, &error));
  if (!stream) {
    std::string reason = error ? error->message : "unknown error";
    g_clear_error(&error);
    return NotFound("cannot open " + path.string() + ": " + reason);
  }
  // GMime looks for the first "From " line at the start of a line; a UTF-8 byte-order mark in
  // front of it would make it skip the whole first message.
  char head[3] = {};
  bool bom =
      g_mime_stream_read(stream.get(), head, 3) == 3 && std::string_view(head, 3) == "\xEF\xBB\xBF";
  if (bom) {
    g_mime_stream_set_bounds(stream.get(), 3, -1);
  }
  g_mime_stream_reset(stream.get());
  return stream;
}

std::string Marker(GMimeParser* parser) {
  char* marker = g_mime_parser_get_mbox_marker(parser);
  std::string out = marker ? marker : "From ";
  g_free(marker);
  return out;
}

// Parses messages until the end of the stream, numbering them from 1.
Status ReadMbox(GMimeParser* parser, const fs::path& path, const ExtractOptions& options,
                Outbox* outbox) {
  std::string file = path.filename().string();
  MessageContext context;
  context.mbox_unescape = true;
  int number = 0;
  while (!g_mime_parser_eos(parser)) {
    GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser, nullptr));
    if (!message) break;  // no further "From " line: the rest is not part of any message
    ParsedDocument doc = MessageToDocument(message.get(), options, 0, context);
    if (!HasMessageHeaders(message.get())) {
      if (ParsedDocument* previous = outbox->pending()) {
        AppendContinuation(message.get(), Marker(parser), std::move(doc), previous);
      } else {
        outbox->Skipped("mailbox message #" + std::to_string(++number) + " of " + file +
                        " skipped: it has no header fields");
      }
      continue;
    }
    doc.name = file + "#" + std::to_string(++number);
    CLOISTER_RETURN_IF_ERROR(outbox->Add(std::move(doc)));
  }
  return Status::Ok();
}

// The problems of a mailbox none of whose messages could be read.
std::string Joined(const std::vector<std::string>& notes) {
  std::string out;
  for (const std::string& note : notes) out += (out.empty() ? "" : "; ") + note;
  return out;
}

}  // namespace
}  // namespace mail

Status StreamMbox(const fs::path& path, const ExtractOptions& options, const Emit& emit) {
  mail::EnsureGMime();
  CLOISTER_ASSIGN_OR_RETURN(mail::GPtr<GMimeStream> stream, mail::OpenMbox(path));
  mail::GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MBOX);
  mail::Outbox outbox(emit);
  CLOISTER_RETURN_IF_ERROR(mail::ReadMbox(parser.get(), path, options, &outbox));
  if (!outbox.pending() && outbox.emitted() == 0) {
    std::string why = outbox.notes().empty() ? "no message found" : mail::Joined(outbox.notes());
    return InvalidArgument("not an mbox file (" + why +
                           "): an mbox holds messages each starting with a 'From ' line");
  }
  return outbox.Flush();
}

bool IsMaildir(const fs::path& dir) {
  std::error_code ec;
  return fs::is_directory(dir / "cur", ec) && fs::is_directory(dir / "new", ec) &&
         fs::is_directory(dir / "tmp", ec);
}

namespace {

// Regular files of cur/ and new/, as paths relative to `dir`, sorted.
Result<std::vector<fs::path>> MaildirMessages(const fs::path& dir) {
  std::vector<fs::path> files;
  for (const char* sub : {"cur", "new"}) {
    std::error_code ec;
    for (fs::directory_iterator it(dir / sub, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec)) files.push_back(fs::path(sub) / it->path().filename());
    }
    if (ec) return NotFound("cannot list " + (dir / sub).string() + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

Status StreamMaildir(const fs::path& dir, const ExtractOptions& options, const Emit& emit) {
  CLOISTER_ASSIGN_OR_RETURN(std::vector<fs::path> files, MaildirMessages(dir));
  mail::Outbox outbox(emit);
  for (const fs::path& file : files) {
    std::string name = file.generic_string();
    Result<std::string> bytes = ReadFile(dir / file, options.max_file_bytes);
    Result<ParsedDocument> doc = bytes.ok() ? ParseEmail(*bytes, options, 0) : bytes.status();
    if (!doc.ok()) {
      outbox.Skipped("Maildir message " + name + " skipped: " + doc.status().message());
      continue;
    }
    doc->name = name;
    CLOISTER_RETURN_IF_ERROR(outbox.Add(std::move(doc).value()));
  }
  if (!outbox.pending() && !outbox.notes().empty()) {
    return InvalidArgument("no message of the Maildir could be read: " +
                           mail::Joined(outbox.notes()));
  }
  return outbox.Flush();
}

}  // namespace cloister::ingest
