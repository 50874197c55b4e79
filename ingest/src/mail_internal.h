// Shared pieces of the GMime-based mail extraction (mail.cpp, mail_body.cpp, mail_mbox.cpp).
// Private to ingest.
#pragma once

#include <gmime/gmime.h>

#include <memory>
#include <string>
#include <string_view>

#include "cloister/ingest/document.h"
#include "cloister/ingest/extract.h"

namespace cloister::ingest::mail {

// Initialises GMime once per process; safe to call from any thread, any number of times.
void EnsureGMime();

struct GObjectUnref {
  void operator()(gpointer object) const {
    if (object) g_object_unref(object);
  }
};
// Owns one reference to a GObject (GMimeStream, GMimeParser, GMimeMessage...).
template <typename T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

// How a message was found, which changes how its bytes are read.
struct MessageContext {
  // Nesting of MIME entities above this message, counted across attached messages, so that the
  // walk's recursion is bounded whatever ExtractOptions::max_depth says.
  int mime_level = 0;
  // Read from an mbox file: body lines written as ">From " (or ">>From "...) lose one '>'.
  bool mbox_unescape = false;
};

// The document for a parsed message: headers as title, author and metadata; the readable body as
// text blocks; attachments and attached messages as children. `depth` counts the documents that
// enclose this one (0 for a file). Never fails: unreadable parts become warnings.
ParsedDocument MessageToDocument(GMimeMessage* message, const ExtractOptions& options, int depth,
                                 const MessageContext& context = {});

// Adds the body text and children of `message` to `doc` (the MIME walk of mail_body.cpp).
void ExtractBody(GMimeMessage* message, const ExtractOptions& options, int depth,
                 const MessageContext& context, ParsedDocument* doc);

// True when `message` carries at least one header a mail message is made of (From, Date,
// Subject, Message-ID, Received...). An mbox "message" without any is a body line that began
// with "From " and was not escaped (mboxo), not a message of its own.
bool HasMessageHeaders(GMimeMessage* message);

// The last path component of an attachment's declared file name ('/', '\\' and ':' separate
// components), without control characters or leading dots, at most 255 bytes:
// "../../etc/passwd" -> "passwd". Empty when nothing is left.
std::string SanitizeFileName(std::string_view raw);

// Everything written to `stream` from its start, as bytes.
std::string StreamBytes(GMimeStream* stream);

}  // namespace cloister::ingest::mail
