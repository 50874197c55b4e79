// One RFC 5322 message with GMime: headers, then the body walk of mail_body.cpp.
#include <algorithm>
#include <array>
#include <mutex>
#include <string>
#include <string_view>

#include "charset.h"
#include "mail_internal.h"
#include "parsers.h"

namespace cloister::ingest {
namespace mail {
namespace {

constexpr std::array<const char*, 14> kMessageHeaders = {
    "From",        "Sender",       "To",           "Cc",         "Date",
    "Subject",     "Message-ID",   "In-Reply-To",  "References", "Received",
    "Return-Path", "MIME-Version", "Delivered-To", "Reply-To"};

std::string OrEmpty(const char* s) { return s ? s : ""; }

// Takes ownership of a g_malloc'ed string.
std::string TakeString(char* s) {
  std::string out = OrEmpty(s);
  g_free(s);
  return out;
}

std::string Trim(std::string s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

// The addresses of a From/To/Cc header, decoded ("Ann <a@x.org>, b@y.org"). Falls back to the
// decoded header text when GMime could not parse any address from it.
std::string Addresses(GMimeMessage* message, InternetAddressList* list, const char* header) {
  std::string out;
  if (list && internet_address_list_length(list) > 0) {
    out = TakeString(internet_address_list_to_string(list, nullptr, FALSE));
  }
  if (out.empty()) out = OrEmpty(g_mime_object_get_header(GMIME_OBJECT(message), header));
  return Trim(out);
}

std::string IsoUtc(GDateTime* date) {
  if (!date) return "";
  GDateTime* utc = g_date_time_to_utc(date);
  if (!utc) return "";
  std::string out = TakeString(g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ"));
  g_date_time_unref(utc);
  return out;
}

// Message ids of an In-Reply-To or References header, without angle brackets, space-separated.
std::string MessageIds(GMimeMessage* message, const char* header) {
  const char* raw = g_mime_object_get_header(GMIME_OBJECT(message), header);
  if (!raw) return "";
  GMimeReferences* refs = g_mime_references_parse(nullptr, raw);
  if (!refs) return "";
  std::string out;
  for (int i = 0; i < g_mime_references_length(refs); ++i) {
    if (!out.empty()) out += ' ';
    out += OrEmpty(g_mime_references_get_message_id(refs, i));
  }
  g_mime_references_free(refs);
  return out;
}

void AddMeta(ParsedDocument* doc, const char* key, std::string value) {
  if (!value.empty()) doc->metadata.emplace_back(key, std::move(value));
}

void ExtractHeaders(GMimeMessage* message, ParsedDocument* doc) {
  std::string from = Addresses(message, g_mime_message_get_from(message), "From");
  std::string subject = Trim(OrEmpty(g_mime_message_get_subject(message)));
  std::string date = IsoUtc(g_mime_message_get_date(message));
  AddMeta(doc, "from", from);
  AddMeta(doc, "to", Addresses(message, g_mime_message_get_to(message), "To"));
  AddMeta(doc, "cc", Addresses(message, g_mime_message_get_cc(message), "Cc"));
  AddMeta(doc, "date", date);
  AddMeta(doc, "subject", subject);
  AddMeta(doc, "message_id", Trim(OrEmpty(g_mime_message_get_message_id(message))));
  AddMeta(doc, "in_reply_to", MessageIds(message, "In-Reply-To"));
  AddMeta(doc, "references", MessageIds(message, "References"));
  doc->title = subject;
  doc->author = from;
  doc->created = date;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// "UTF-16LE" or "UTF-16BE" for UTF-16 text without a byte-order mark (every other byte of the
// ASCII header block is zero), else "".
std::string_view Utf16WithoutBom(std::string_view bytes) {
  size_t n = std::min<size_t>(bytes.size(), 512) & ~static_cast<size_t>(1);
  if (n < 16) return "";
  size_t zero_even = 0, zero_odd = 0;
  for (size_t i = 0; i < n; i += 2) {
    zero_even += bytes[i] == 0;
    zero_odd += bytes[i + 1] == 0;
  }
  if (zero_even == 0 && zero_odd * 10 >= n / 2 * 9) return "UTF-16LE";
  if (zero_odd == 0 && zero_even * 10 >= n / 2 * 9) return "UTF-16BE";
  return "";
}

// The message text GMime should see. A UTF-16/32 file is converted to UTF-8 first, since GMime
// reads 8-bit text only; a UTF-8 byte-order mark is dropped, and so is an mbox "From " envelope
// line in front of a single saved message.
std::string_view PrepareBytes(std::string_view bytes, std::string* storage) {
  if (StartsWith(bytes, "\xFF\xFE") || StartsWith(bytes, "\xFE\xFF") ||
      StartsWith(bytes, std::string_view("\x00\x00\xFE\xFF", 4))) {
    *storage = DecodeToUtf8(bytes).text;
    bytes = *storage;
  } else if (std::string_view utf16 = Utf16WithoutBom(bytes); !utf16.empty()) {
    *storage = DecodeToUtf8(bytes, utf16).text;
    bytes = *storage;
  }
  if (StartsWith(bytes, "\xEF\xBB\xBF")) bytes.remove_prefix(3);
  if (StartsWith(bytes, "From ")) {
    size_t eol = bytes.find('\n');
    bytes.remove_prefix(eol == std::string_view::npos ? bytes.size() : eol + 1);
  }
  return bytes;
}

bool HasContentType(GMimeMessage* message) {
  GMimeObject* part = g_mime_message_get_mime_part(message);
  return part && g_mime_header_list_contains(g_mime_object_get_header_list(part), "Content-Type");
}

}  // namespace

void EnsureGMime() {
  static std::once_flag once;
  std::call_once(once, [] { g_mime_init(); });
}

bool HasMessageHeaders(GMimeMessage* message) {
  GMimeHeaderList* headers = g_mime_object_get_header_list(GMIME_OBJECT(message));
  for (const char* name : kMessageHeaders) {
    if (g_mime_header_list_contains(headers, name)) return true;
  }
  return false;
}

ParsedDocument MessageToDocument(GMimeMessage* message, const ExtractOptions& options, int depth,
                                 const MessageContext& context) {
  ParsedDocument doc;
  doc.format = "email";
  ExtractHeaders(message, &doc);
  ExtractBody(message, options, depth, context, &doc);
  return doc;
}

std::string SanitizeFileName(std::string_view raw) {
  // ':' separates folders in classic Mac OS paths and drive letters or streams on Windows.
  size_t slash = raw.find_last_of("/\\:");
  if (slash != std::string_view::npos) raw.remove_prefix(slash + 1);
  std::string name;
  for (unsigned char c : raw) {
    if (c >= 0x20 && c != 0x7f) name += static_cast<char>(c);
  }
  name = Trim(name);
  size_t start = name.find_first_not_of('.');
  name = start == std::string::npos ? "" : name.substr(start);
  if (name.size() > 255) {
    size_t cut = 255;
    while (cut > 0 && (static_cast<unsigned char>(name[cut]) & 0xC0) == 0x80) --cut;
    name.resize(cut);
  }
  return name;
}

std::string StreamBytes(GMimeStream* stream) {
  std::string out;
  if (!stream) return out;
  g_mime_stream_reset(stream);
  char buf[16384];
  ssize_t n;
  while ((n = g_mime_stream_read(stream, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace mail

Result<ParsedDocument> ParseEmail(std::string_view bytes, const ExtractOptions& options,
                                  int depth) {
  mail::EnsureGMime();
  std::string storage;
  bytes = mail::PrepareBytes(bytes, &storage);
  mail::GPtr<GMimeStream> stream(g_mime_stream_mem_new_with_buffer(bytes.data(), bytes.size()));
  mail::GPtr<GMimeParser> parser(g_mime_parser_new_with_stream(stream.get()));
  g_mime_parser_set_format(parser.get(), GMIME_FORMAT_MESSAGE);
  mail::GPtr<GMimeMessage> message(g_mime_parser_construct_message(parser.get(), nullptr));
  if (!message) {
    return InvalidArgument(
        "not a mail message: no RFC 5322 header block at the start (expected header fields "
        "such as From:, Date: and Subject:)");
  }
  if (!mail::HasMessageHeaders(message.get()) && !mail::HasContentType(message.get())) {
    return InvalidArgument(
        "not a mail message: none of the header fields From, Date, Subject, Message-ID or "
        "Content-Type is present");
  }
  return mail::MessageToDocument(message.get(), options, depth);
}

}  // namespace cloister::ingest
