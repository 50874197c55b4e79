// The MIME walk: which parts are the body, which are attachments, and which are neither.
//
// Body: text parts in document order; in multipart/alternative only the plain version (the HTML
// one when the plain one is missing or blank). Attachments (a file name or disposition
// "attachment", and parts that are not text) go through ParseBytes and become children; attached
// messages become children directly. Images and signatures are not documents and are skipped
// without a warning; everything else that cannot be read is a warning naming the part.
#include <algorithm>
#include <cctype>
#include <string>
#include <string_view>

#include "charset.h"
#include "mail_internal.h"
#include "parsers.h"

namespace cloister::ingest::mail {
namespace {

// Far beyond real mail (a dozen levels at most), low enough for any thread's stack.
constexpr int kMaxMimeLevel = 64;

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

std::string MimeType(GMimeObject* object) {
  GMimeContentType* type = g_mime_object_get_content_type(object);
  if (!type) return "application/octet-stream";
  char* raw = g_mime_content_type_get_mime_type(type);
  std::string out = raw ? raw : "application/octet-stream";
  g_free(raw);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Pictures are not documents: image/* parts, and images sent as application/octet-stream.
bool IsPicture(const std::string& type, const char* file_name) {
  if (StartsWith(type, "image/")) return true;
  if (type != "application/octet-stream" || !file_name) return false;
  std::string name = file_name;
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  for (std::string_view ext :
       {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".ico"}) {
    if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
      return true;
    }
  }
  return false;
}

// A message GMime left as a plain part, because it was base64 or quoted-printable encoded.
bool IsMessage(const std::string& type) {
  return type == "message/rfc822" || type == "message/global" || type == "message/news";
}

bool IsSignature(const std::string& type) {
  return type == "application/pgp-signature" || type == "application/pkcs7-signature" ||
         type == "application/x-pkcs7-signature";
}

// Text read as part of the message itself: text/plain and its relatives, delivery reports.
bool IsBodyText(const std::string& type) {
  return (StartsWith(type, "text/") && type != "text/html") || type == "message/delivery-status" ||
         type == "message/disposition-notification";
}

bool IsBlank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isspace(c); });
}

// mboxrd: a body line ">From " was written for "From ", ">>From " for ">From ", and so on.
std::string UnescapeFromLines(std::string text) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    size_t end = eol == std::string::npos ? text.size() : eol + 1;
    std::string_view line(text.data() + pos, end - pos);
    size_t quotes = line.find_first_not_of('>');
    bool escaped =
        quotes != 0 && quotes != std::string_view::npos && StartsWith(line.substr(quotes), "From ");
    if (escaped) line.remove_prefix(1);
    out.append(line);
    pos = end;
  }
  return out;
}

// Base64 lines hold no spaces. Text labelled base64 by mistake (words separated by spaces) would
// decode to noise; read as it stands, it is what the sender wrote.
bool LooksLikeBase64(GMimeDataWrapper* content) {
  GMimeStream* raw = g_mime_data_wrapper_get_stream(content);
  if (!raw) return true;
  char buf[4096];
  g_mime_stream_reset(raw);
  ssize_t n = g_mime_stream_read(raw, buf, sizeof buf);
  g_mime_stream_reset(raw);
  if (n <= 0) return true;
  int lines = 0, spaced = 0;
  std::string_view head(buf, static_cast<size_t>(n));
  for (size_t pos = 0; pos < head.size();) {
    size_t eol = std::min(head.find('\n', pos), head.size());
    std::string_view line = head.substr(pos, eol - pos);
    size_t b = line.find_first_not_of(" \t\r"), e = line.find_last_not_of(" \t\r");
    if (b != std::string_view::npos) {
      ++lines;
      spaced += line.substr(b, e - b + 1).find(' ') != std::string_view::npos;
    }
    pos = eol + 1;
  }
  return spaced * 2 <= lines;
}

// The boundary of the first line that looks like a MIME delimiter: "--X" followed by a
// Content- header. Empty when there is none.
std::string GuessBoundary(std::string_view text) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = std::min(text.find('\n', pos), text.size());
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    std::string next(text.substr(eol + 1 < text.size() ? eol + 1 : text.size(), 8));
    std::transform(next.begin(), next.end(), next.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (StartsWith(line, "--") && line.size() > 2 && line.size() < 200 && next == "content-" &&
        line.find_first_of("\"\\") == std::string_view::npos) {
      return std::string(line.substr(2));
    }
    pos = eol + 1;
  }
  return "";
}

// For parts without a file name: the extension that lets format detection, which falls back on
// the name for text, tell HTML and Markdown from plain text.
const char* ExtensionFor(const std::string& type) {
  if (type == "text/html") return ".html";
  if (type == "text/markdown") return ".md";
  if (type == "application/pdf") return ".pdf";
  if (StartsWith(type, "text/")) return ".txt";
  return "";
}

const char* FileNameOf(GMimeObject* object) {
  const char* name = g_mime_object_get_content_disposition_parameter(object, "filename");
  return name ? name : g_mime_object_get_content_type_parameter(object, "name");
}

class Walker {
 public:
  Walker(const ExtractOptions& options, int depth, const MessageContext& context,
         ParsedDocument* doc)
      : options_(options), depth_(depth), context_(context), doc_(doc) {}

  void Walk(GMimeObject* object, int level, bool body);

 private:
  void WalkMultipart(GMimeMultipart* multipart, int level, bool body);
  int ChooseAlternative(GMimeMultipart* multipart);
  void Leaf(GMimePart* part, bool body);
  void Attachment(GMimePart* part);
  void AttachedMessage(GMimeMessagePart* part, int level);
  void EncodedMessage(GMimePart* part);
  bool DepthAllows(const std::string& name);
  void RecoverPrologue(GMimeMultipart* multipart, int level, bool body);
  bool Decode(GMimePart* part, const std::string& label, std::string* bytes);
  std::string BodyText(GMimePart* part);
  void AddText(std::string text);
  std::string NextName(const char* declared, const char* fallback_suffix);
  void Warn(std::string warning) { doc_->warnings.push_back(std::move(warning)); }

  const ExtractOptions& options_;
  int depth_;
  MessageContext context_;
  ParsedDocument* doc_;
  int parts_ = 0;
  size_t text_bytes_ = 0;
  bool truncated_ = false;
  bool too_deep_ = false;
};

void Walker::Walk(GMimeObject* object, int level, bool body) {
  if (level > kMaxMimeLevel) {
    if (!too_deep_) {
      Warn("MIME parts nested deeper than " + std::to_string(kMaxMimeLevel) +
           " levels were skipped (the message is malformed or hostile)");
    }
    too_deep_ = true;
    return;
  }
  if (GMIME_IS_MESSAGE_PART(object)) return AttachedMessage(GMIME_MESSAGE_PART(object), level);
  if (GMIME_IS_MULTIPART_ENCRYPTED(object)) {
    return Warn("encrypted part (multipart/encrypted) skipped: decrypt the message to ingest it");
  }
  if (GMIME_IS_MULTIPART_SIGNED(object)) {
    GMimeObject* content =
        g_mime_multipart_get_part(GMIME_MULTIPART(object), GMIME_MULTIPART_SIGNED_CONTENT);
    if (content) Walk(content, level + 1, body);
    return;
  }
  if (GMIME_IS_MULTIPART(object)) return WalkMultipart(GMIME_MULTIPART(object), level, body);
  if (GMIME_IS_MESSAGE_PARTIAL(object)) {
    return Warn("message/partial fragment skipped: reassemble all fragments into one message");
  }
  if (GMIME_IS_APPLICATION_PKCS7_MIME(object)) {
    return Warn(
        "S/MIME part (application/pkcs7-mime) skipped: its content is encrypted or "
        "wrapped in a signature; decrypt or unwrap the message to ingest it");
  }
  if (GMIME_IS_PART(object)) Leaf(GMIME_PART(object), body);
}

void Walker::WalkMultipart(GMimeMultipart* multipart, int level, bool body) {
  bool alternative = g_mime_content_type_is_type(
      g_mime_object_get_content_type(GMIME_OBJECT(multipart)), "multipart", "alternative");
  int chosen = alternative && body ? ChooseAlternative(multipart) : -1;
  int count = g_mime_multipart_get_count(multipart);
  if (count == 0) return RecoverPrologue(multipart, level, body);
  for (int i = 0; i < count; ++i) {
    // The versions not chosen are still walked for attachments only: Apple Mail, for one, puts
    // attachments inside the HTML version of multipart/alternative.
    bool part_body = body && (!alternative || i == chosen);
    Walk(g_mime_multipart_get_part(multipart, i), level + 1, part_body);
  }
}

// A multipart whose declared boundary never occurs: GMime leaves all of its content in the
// prologue. When the prologue has delimiter lines of another boundary, it is read again as a
// multipart with that boundary; otherwise its text is taken as it stands.
void Walker::RecoverPrologue(GMimeMultipart* multipart, int level, bool body) {
  const char* raw = g_mime_multipart_get_prologue(multipart);
  std::string prologue = raw ? raw : "";
  if (IsBlank(prologue)) return;
  Warn(
      "malformed MIME: the boundary declared by a multipart part never occurs; its content was "
      "recovered as well as possible");
  std::string boundary = GuessBoundary(prologue);
  if (!boundary.empty()) {
    std::string text =
        "Content-Type: multipart/mixed; boundary=\"" + boundary + "\"\n\n" + prologue;
    GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(text.data(), text.size()));
    GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
    GPtr<GMimeObject> part(g_mime_parser_construct_part(parser.get(), nullptr));
    if (part && GMIME_IS_MULTIPART(part.get()) &&
        g_mime_multipart_get_count(GMIME_MULTIPART(part.get())) > 0) {
      return Walk(part.get(), level + 1, body);
    }
  }
  if (body) AddText(DecodeToUtf8(prologue).text);
}

// The plain version when it has text, else the HTML one, else the last (richest) version.
int Walker::ChooseAlternative(GMimeMultipart* multipart) {
  int count = g_mime_multipart_get_count(multipart);
  int html = -1;
  for (int i = 0; i < count; ++i) {
    GMimeObject* part = g_mime_multipart_get_part(multipart, i);
    if (!GMIME_IS_PART(part) || FileNameOf(part)) continue;
    std::string type = MimeType(part);
    if (type == "text/plain" && !IsBlank(BodyText(GMIME_PART(part)))) return i;
    if (type == "text/html") html = i;
  }
  return html >= 0 ? html : count - 1;
}

void Walker::Leaf(GMimePart* part, bool body) {
  std::string type = MimeType(GMIME_OBJECT(part));
  if (IsPicture(type, FileNameOf(GMIME_OBJECT(part))) || IsSignature(type)) return;
  if (IsMessage(type)) return EncodedMessage(part);
  bool attachment = FileNameOf(GMIME_OBJECT(part)) || g_mime_part_is_attachment(part);
  if (!attachment && (IsBodyText(type) || type == "text/html")) {
    if (!body) return;
    std::string text = BodyText(part);
    AddText(type == "text/html" ? HtmlToText(text) : std::move(text));
    return;
  }
  Attachment(part);
}

void Walker::Attachment(GMimePart* part) {
  std::string type = MimeType(GMIME_OBJECT(part));
  std::string name = NextName(FileNameOf(GMIME_OBJECT(part)), ExtensionFor(type));
  if (type == "application/mac-binhex40") {
    return Warn("attachment '" + name +
                "' skipped: BinHex (application/mac-binhex40) is not "
                "supported; save the file and ingest it decoded");
  }
  std::string bytes;
  if (!Decode(part, "attachment '" + name + "'", &bytes)) return;
  if (bytes.empty()) return Warn("attachment '" + name + "' skipped: it is empty");
  Result<ParsedDocument> child = ParseBytes(bytes, name, options_, depth_ + 1);
  if (!child.ok()) {
    return Warn("attachment '" + name + "' skipped: " + child.status().message());
  }
  child->name = name;
  doc_->children.push_back(std::move(child).value());
}

void Walker::AttachedMessage(GMimeMessagePart* part, int level) {
  std::string name = NextName(FileNameOf(GMIME_OBJECT(part)), ".eml");
  GMimeMessage* message = g_mime_message_part_get_message(part);
  if (!message) return Warn("attached message '" + name + "' skipped: it is empty");
  if (!DepthAllows(name)) return;
  MessageContext inner = context_;
  inner.mime_level = level + 1;
  ParsedDocument child = MessageToDocument(message, options_, depth_ + 1, inner);
  child.name = name;
  doc_->children.push_back(std::move(child));
}

void Walker::EncodedMessage(GMimePart* part) {
  std::string name = NextName(FileNameOf(GMIME_OBJECT(part)), ".eml");
  std::string bytes;
  if (!DepthAllows(name) || !Decode(part, "attached message '" + name + "'", &bytes)) return;
  Result<ParsedDocument> child = ParseEmail(bytes, options_, depth_ + 1);
  if (!child.ok()) {
    return Warn("attached message '" + name + "' skipped: " + child.status().message());
  }
  child->name = name;
  doc_->children.push_back(std::move(child).value());
}

// Attached messages are parsed here rather than by ParseBytes, so they are limited here too.
bool Walker::DepthAllows(const std::string& name) {
  if (depth_ + 1 <= options_.max_depth) return true;
  Warn("attached message '" + name + "' skipped: nested deeper than " +
       std::to_string(options_.max_depth) + " levels (ingest.max_depth)");
  return false;
}

// The part's content with its transfer encoding (base64, quoted-printable, uuencode) removed.
bool Walker::Decode(GMimePart* part, const std::string& label, std::string* bytes) {
  GMimeDataWrapper* content = g_mime_part_get_content(part);
  if (!content) return true;
  gint64 size = g_mime_stream_length(g_mime_data_wrapper_get_stream(content));
  if (size > 0 && static_cast<uint64_t>(size) > options_.max_file_bytes) {
    Warn(label + " skipped: " + std::to_string(size) + " bytes, the limit is " +
         std::to_string(options_.max_file_bytes) + " (ingest.max_file_bytes)");
    return false;
  }
  GMimeContentEncoding encoding = g_mime_data_wrapper_get_encoding(content);
  if (encoding == GMIME_CONTENT_ENCODING_BASE64 && !LooksLikeBase64(content)) {
    *bytes = StreamBytes(g_mime_data_wrapper_get_stream(content));
  } else {
    GPtr<GMimeStream> out(g_mime_stream_mem_new());
    g_mime_data_wrapper_write_to_stream(content, out.get());
    GByteArray* array = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(out.get()));
    bytes->assign(reinterpret_cast<const char*>(array->data), array->len);
  }
  if (context_.mbox_unescape && encoding != GMIME_CONTENT_ENCODING_BASE64 &&
      encoding != GMIME_CONTENT_ENCODING_UUENCODE) {
    *bytes = UnescapeFromLines(std::move(*bytes));
  }
  return true;
}

std::string Walker::BodyText(GMimePart* part) {
  std::string bytes;
  if (!Decode(part, "body part", &bytes)) return "";
  const char* charset = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
  return DecodeToUtf8(bytes, charset ? charset : "").text;
}

void Walker::AddText(std::string text) {
  if (IsBlank(text) || truncated_) return;
  if (text_bytes_ + text.size() > options_.max_text_bytes) {
    size_t cut = options_.max_text_bytes - text_bytes_;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text.resize(cut);
    truncated_ = true;
    Warn("body text truncated at " + std::to_string(options_.max_text_bytes) +
         " bytes (ingest.max_text_bytes)");
  }
  if (text.empty()) return;
  text_bytes_ += text.size();
  doc_->blocks.push_back(TextBlock{std::move(text), 0, "", false});
}

// The declared file name made safe, or "part-<n>" (plus `fallback_suffix`) when there is none.
std::string Walker::NextName(const char* declared, const char* fallback_suffix) {
  ++parts_;
  std::string name = SanitizeFileName(declared ? declared : "");
  if (name.empty()) name = "part-" + std::to_string(parts_) + fallback_suffix;
  return name;
}

}  // namespace

void ExtractBody(GMimeMessage* message, const ExtractOptions& options, int depth,
                 const MessageContext& context, ParsedDocument* doc) {
  GMimeObject* root = g_mime_message_get_mime_part(message);
  if (!root) return;
  Walker walker(options, depth, context, doc);
  walker.Walk(root, context.mime_level, /*body=*/true);
}

}  // namespace cloister::ingest::mail
