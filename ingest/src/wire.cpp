#include "wire.h"

#include <cstring>

namespace cloister::ingest::wire {
namespace {

constexpr int kMaxNesting = 64;

class Writer {
 public:
  void U64(uint64_t v) { out_.append(reinterpret_cast<const char*>(&v), sizeof v); }
  void I64(int64_t v) { U64(static_cast<uint64_t>(v)); }
  void Str(std::string_view s) {
    U64(s.size());
    out_.append(s);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U64(uint64_t* v) {
    if (in_.size() < sizeof *v) return false;
    std::memcpy(v, in_.data(), sizeof *v);
    in_.remove_prefix(sizeof *v);
    return true;
  }
  bool I64(int64_t* v) {
    uint64_t u = 0;
    if (!U64(&u)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Int(int* v) {
    int64_t w = 0;
    if (!I64(&w)) return false;
    *v = static_cast<int>(w);
    return true;
  }
  bool Str(std::string* s) {
    uint64_t n = 0;
    if (!U64(&n) || n > in_.size()) return false;
    s->assign(in_.data(), n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

void PutDocument(Writer& w, const ParsedDocument& d) {
  for (const std::string* s : {&d.format, &d.name, &d.title, &d.author, &d.created, &d.modified}) w.Str(*s);
  w.I64(d.page_count);
  w.U64(d.metadata.size());
  for (const auto& [k, v] : d.metadata) {
    w.Str(k);
    w.Str(v);
  }
  w.U64(d.blocks.size());
  for (const auto& b : d.blocks) {
    w.Str(b.text);
    w.I64(b.page);
    w.Str(b.heading);
    w.U64(b.ocr ? 1 : 0);
  }
  w.U64(d.warnings.size());
  for (const auto& s : d.warnings) w.Str(s);
  w.U64(d.children.size());
  for (const auto& c : d.children) PutDocument(w, c);
}

bool GetDocument(Reader& r, ParsedDocument* d, int nesting) {
  if (nesting > kMaxNesting) return false;
  for (std::string* s : {&d->format, &d->name, &d->title, &d->author, &d->created, &d->modified}) {
    if (!r.Str(s)) return false;
  }
  uint64_t n = 0;
  if (!r.Int(&d->page_count) || !r.U64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string k, v;
    if (!r.Str(&k) || !r.Str(&v)) return false;
    d->metadata.emplace_back(std::move(k), std::move(v));
  }
  if (!r.U64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    TextBlock b;
    uint64_t ocr = 0;
    if (!r.Str(&b.text) || !r.Int(&b.page) || !r.Str(&b.heading) || !r.U64(&ocr)) return false;
    b.ocr = ocr != 0;
    d->blocks.push_back(std::move(b));
  }
  if (!r.U64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string s;
    if (!r.Str(&s)) return false;
    d->warnings.push_back(std::move(s));
  }
  if (!r.U64(&n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    ParsedDocument c;
    if (!GetDocument(r, &c, nesting + 1)) return false;
    d->children.push_back(std::move(c));
  }
  return true;
}

Status Garbled(const char* what) {
  return Internal(std::string("garbled ") + what + " from the extraction worker");
}

}  // namespace

std::string EncodeRequest(const Request& q) {
  Writer w;
  w.Str(q.path);
  const ExtractOptions& o = q.options;
  w.U64(o.max_file_bytes);
  w.I64(o.max_pages);
  w.U64(o.ocr ? 1 : 0);
  w.Str(o.ocr_languages);
  w.I64(o.ocr_dpi);
  w.U64(o.pdf_passwords.size());
  for (const auto& p : o.pdf_passwords) w.Str(p);
  w.I64(o.max_depth);
  w.U64(o.max_text_bytes);
  w.U64(q.memory_bytes);
  return w.Take();
}

Result<Request> DecodeRequest(std::string_view bytes) {
  Reader r(bytes);
  Request q;
  ExtractOptions& o = q.options;
  uint64_t ocr = 0, n = 0;
  bool ok = r.Str(&q.path) && r.U64(&o.max_file_bytes) && r.Int(&o.max_pages) && r.U64(&ocr) &&
            r.Str(&o.ocr_languages) && r.Int(&o.ocr_dpi) && r.U64(&n);
  for (uint64_t i = 0; ok && i < n; ++i) {
    std::string p;
    ok = r.Str(&p);
    o.pdf_passwords.push_back(std::move(p));
  }
  ok = ok && r.Int(&o.max_depth) && r.U64(&o.max_text_bytes) && r.U64(&q.memory_bytes) && r.done();
  if (!ok) return Garbled("request");
  o.ocr = ocr != 0;
  return q;
}

std::string EncodeDocument(const ParsedDocument& doc) {
  Writer w;
  PutDocument(w, doc);
  return w.Take();
}

Result<ParsedDocument> DecodeDocument(std::string_view bytes) {
  Reader r(bytes);
  ParsedDocument d;
  if (!GetDocument(r, &d, 0) || !r.done()) return Garbled("document");
  return d;
}

std::string EncodeStatus(const Status& status) {
  Writer w;
  w.I64(static_cast<int64_t>(status.code()));
  w.Str(status.message());
  return w.Take();
}

Status DecodeStatus(std::string_view bytes) {
  Reader r(bytes);
  int64_t code = 0;
  std::string message;
  if (!r.I64(&code) || !r.Str(&message) || !r.done() || code < 0 ||
      code > static_cast<int64_t>(StatusCode::kInternal)) {
    return Garbled("status");
  }
  if (code == 0) return Status::Ok();
  return Status(static_cast<StatusCode>(code), std::move(message));
}

}  // namespace cloister::ingest::wire
