#include "cloister/web/server.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/PartHandler.h>
#include <Poco/URI.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <thread>

#include "cloister/core/dates.h"
#include "cloister/core/log.h"
#include "cloister/web/json.h"
#include "http_util.h"
#include "json_util.h"
#include "openai_api.h"
#include "ui_assets.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;

using Poco::Net::HTTPRequestHandler;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

Reply ErrorReply(const Status& status, const std::string& hint = "") {
  return {HttpStatusFor(status.code()), ErrorJson(status, hint)};
}

Reply MethodNotAllowed(const std::string& method, const std::string& path) {
  return {405, ErrorJson(InvalidArgument(method + " is not allowed on " + path))};
}

// Reads search settings shared by GET query strings and JSON bodies: one value per name.
class Params {
 public:
  static Params FromQuery(const Poco::URI& uri) {
    Params p;
    for (const auto& [k, v] : uri.getQueryParameters()) p.values_[k].push_back(v);
    return p;
  }
  static Params FromJson(const Poco::JSON::Object::Ptr& o) {
    Params p;
    p.json_ = o;
    return p;
  }
  std::optional<std::string> String(const std::string& name) const {
    if (json_) {
      if (!json_->has(name) || json_->isNull(name)) return std::nullopt;
      return json_->get(name).convert<std::string>();
    }
    auto it = values_.find(name);
    if (it == values_.end() || it->second.empty()) return std::nullopt;
    return it->second.back();
  }
  std::vector<std::string> Strings(const std::string& name) const {
    std::vector<std::string> out;
    if (json_) {
      if (auto arr = json_->getArray(name)) {
        for (size_t i = 0; i < arr->size(); ++i) out.push_back(arr->get(static_cast<unsigned>(i)).convert<std::string>());
      } else if (auto one = String(name)) {
        out.push_back(*one);
      }
      return out;
    }
    auto it = values_.find(name);
    if (it != values_.end()) out = it->second;
    return out;
  }
  Result<std::optional<long>> Integer(const std::string& name, long min, long max) const {
    auto v = String(name);
    if (!v) return std::optional<long>();
    try {
      size_t used = 0;
      long n = std::stol(*v, &used);
      if (used == v->size() && n >= min && n <= max) return std::optional<long>(n);
    } catch (...) {
    }
    return InvalidArgument("'" + name + "' must be a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max) + ", got '" + *v + "'");
  }
  Result<bool> Flag(const std::string& name) const {
    auto v = String(name);
    if (!v || *v == "false" || *v == "0" || v->empty()) return false;
    if (*v == "true" || *v == "1") return true;
    return InvalidArgument("'" + name + "' must be true or false, got '" + *v + "'");
  }
  // The filters object of a JSON body, or these same params for a query string.
  Params Filters() const {
    if (json_ && json_->has("filters")) {
      if (auto f = json_->getObject("filters")) return FromJson(f);
    }
    return *this;
  }

 private:
  Poco::JSON::Object::Ptr json_;
  std::map<std::string, std::vector<std::string>> values_;
};

Result<app::SearchFilters> ParseFilters(const Params& p) {
  app::SearchFilters f;
  f.types = p.Strings("type");
  for (const auto& t : p.Strings("types")) f.types.push_back(t);
  f.collections = p.Strings("collection");
  for (const auto& c : p.Strings("collections")) f.collections.push_back(c);
  f.from = p.String("from");
  for (const char* key : {"after", "before"}) {
    if (auto v = p.String(key)) {
      std::optional<int64_t> t = ParseIsoDate(*v);
      if (!t) return InvalidArgument(std::string("'") + key + "' needs a date like 2024-03-01, got '" + *v + "'");
      (std::string(key) == "after" ? f.after : f.before) = *t;
    }
  }
  return f;
}

Result<app::SearchOptions> ParseSearch(const app::KnowledgeBase& kb, const Params& p) {
  app::SearchOptions o = app::SearchDefaults(kb.config());
  CLOISTER_ASSIGN_OR_RETURN(auto k, p.Integer("k", 1, 1000));
  if (k) o.k = static_cast<int>(*k);
  if (auto mode = p.String("mode")) {
    static const std::map<std::string, app::SearchMode> kModes = {
        {"auto", app::SearchMode::kAuto}, {"lexical", app::SearchMode::kLexical},
        {"vector", app::SearchMode::kVector}, {"hybrid", app::SearchMode::kHybrid}};
    if (!kModes.count(*mode)) return InvalidArgument("'mode' is auto, lexical, vector or hybrid, not '" + *mode + "'");
    o.mode = kModes.at(*mode);
  }
  CLOISTER_ASSIGN_OR_RETURN(o.mmr, p.Flag("mmr"));
  CLOISTER_ASSIGN_OR_RETURN(o.filters, ParseFilters(p.Filters()));
  return o;
}

Result<app::AskOptions> ParseAsk(const Poco::JSON::Object::Ptr& body, std::string* question) {
  Params p = Params::FromJson(body);
  auto q = p.String("question");
  if (!q || q->find_first_not_of(" \t\r\n") == std::string::npos) return InvalidArgument("'question' is required");
  *question = *q;
  app::AskOptions o;
  CLOISTER_ASSIGN_OR_RETURN(auto k, p.Integer("k", 1, 100));
  if (k) o.k = static_cast<int>(*k);
  CLOISTER_ASSIGN_OR_RETURN(auto max_tokens, p.Integer("max_tokens", 1, 32768));
  if (max_tokens) o.max_tokens = static_cast<uint32_t>(*max_tokens);
  CLOISTER_ASSIGN_OR_RETURN(auto seed, p.Integer("seed", 0, 0xffffffffL));
  if (seed) o.seed = static_cast<uint32_t>(*seed);
  if (auto t = p.String("temperature")) {
    try {
      o.temperature = std::stof(*t);
    } catch (...) {
      return InvalidArgument("'temperature' must be a number, got '" + *t + "'");
    }
    if (*o.temperature < 0 || *o.temperature > 2) return InvalidArgument("'temperature' must be from 0 to 2");
  }
  CLOISTER_ASSIGN_OR_RETURN(o.filters, ParseFilters(p.Filters()));
  if (auto history = body->getArray("history")) {
    for (size_t i = 0; i < history->size(); ++i) {
      auto turn = history->getObject(static_cast<unsigned>(i));
      if (!turn) return InvalidArgument("'history' must be a list of {\"role\", \"content\"} objects");
      std::string role = turn->optValue<std::string>("role", "");
      if (role != "user" && role != "assistant") return InvalidArgument("a history turn's role is user or assistant, not '" + role + "'");
      o.history.push_back({role, turn->optValue<std::string>("content", "")});
    }
  }
  return o;
}

// Multipart parts named "file" go straight to disk, never into memory: each into a staging file
// beside the uploads, up to a size limit.
class UploadParts final : public Poco::Net::PartHandler {
 public:
  UploadParts(std::filesystem::path staging, uint64_t limit) : staging_(std::move(staging)), limit_(limit) {}
  ~UploadParts() override {
    std::error_code ec;
    for (const auto& f : files_) fs::remove(f.staged, ec);  // those not taken by AddUpload
  }

  void handlePart(const Poco::Net::MessageHeader& header, std::istream& stream) override {
    std::string disposition = header.get("Content-Disposition", "");
    std::string value;
    Poco::Net::NameValueCollection params;
    Poco::Net::MessageHeader::splitParameters(disposition, value, params);
    std::string name = params.get("name", "");
    std::string filename = params.get("filename", "");
    if (name != "file" || filename.empty()) {
      char sink[8192];
      while (stream.read(sink, sizeof sink).gcount() > 0) {
      }
      return;
    }
    std::error_code ec;
    fs::create_directories(staging_, ec);
    static std::atomic<uint64_t> counter{0};
    fs::path path = staging_ / (std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".part");
    files_.push_back({path, filename});
    std::ofstream out(path, std::ios::binary);
    char buf[65536];
    uint64_t total = 0;
    while (stream.read(buf, sizeof buf).gcount() > 0) {
      total += static_cast<uint64_t>(stream.gcount());
      if (total > limit_) {
        too_large_ = filename;
        continue;  // read to the end of the part, keep nothing more
      }
      out.write(buf, stream.gcount());
    }
    if (!out) failed_ = "cannot write the upload " + filename + " to " + staging_.string();
  }

  struct File {
    fs::path staged;
    std::string name;
  };
  std::vector<File>& files() { return files_; }
  const std::string& too_large() const { return too_large_; }
  const std::string& failed() const { return failed_; }

 private:
  fs::path staging_;
  uint64_t limit_;
  std::vector<File> files_;
  std::string too_large_;
  std::string failed_;
};

// "/api/v1/documents/42/chunks" with prefix "/api/v1/documents/": 42 and "chunks".
bool SplitIdPath(const std::string& path, const std::string& prefix, int64_t* id, std::string* rest) {
  if (path.rfind(prefix, 0) != 0) return false;
  std::string tail = path.substr(prefix.size());
  size_t slash = tail.find('/');
  std::string digits = tail.substr(0, slash);
  if (digits.empty() || digits.size() > 18 || digits.find_first_not_of("0123456789") != std::string::npos) return false;
  *id = std::stoll(digits);
  *rest = slash == std::string::npos ? "" : tail.substr(slash + 1);
  return true;
}

std::string TokenJson(std::string_view piece) {
  auto o = NewObject();
  o->set("text", std::string(piece));
  return Stringify(o);
}

class Handler final : public HTTPRequestHandler {
 public:
  Handler(app::KnowledgeBase& kb, const ServerOptions& options) : kb_(kb), options_(options) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    auto start = std::chrono::steady_clock::now();
    Reply reply;
    bool streamed = false;
    try {
      Poco::URI uri(request.getURI());
      reply = Route(request, response, uri, &streamed);
    } catch (const std::exception& e) {
      reply = ErrorReply(InvalidArgument(std::string("bad request: ") + e.what()));
    }
    if (!streamed) SendJson(request, response, reply);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    log::Debug("http", "request", {{"method", request.getMethod()}, {"uri", request.getURI()},
                                   {"status", std::to_string(streamed ? 200 : reply.status)},
                                   {"ms", std::to_string(ms.count())}});
  }

 private:
  Reply Route(HTTPServerRequest& request, HTTPServerResponse& response, const Poco::URI& uri, bool* streamed) {
    const std::string& method = request.getMethod();
    const std::string path = uri.getPath();
    bool read = method == "GET" || method == "HEAD";
    if (IsOpenAiPath(path)) return RouteOpenAi(kb_, options_, request, response, path, streamed);
    if (path == "/api/v1/health") {
      if (!read) return MethodNotAllowed(method, path);
      return {200, HealthJson()};
    }
    if (path == "/api/v1/status") {
      if (!read) return MethodNotAllowed(method, path);
      auto status = kb_.Status();
      if (!status.ok()) return ErrorReply(status.status());
      return {200, StatusJson(*status)};
    }
    if (path == "/api/v1/search") {
      Params params;
      if (read) {
        params = Params::FromQuery(uri);
      } else if (method == "POST") {
        Reply refusal;
        auto body = Body(request, &refusal);
        if (!body.ok()) return refusal;
        params = Params::FromJson(*body);
      } else {
        return MethodNotAllowed(method, path);
      }
      std::string query = params.String("q").value_or(params.String("query").value_or(""));
      auto options = ParseSearch(kb_, params);
      if (!options.ok()) return ErrorReply(options.status());
      auto results = kb_.Search(query, *options);
      if (!results.ok()) return ErrorReply(results.status());
      return {200, SearchJson(*results)};
    }
    if (path == "/api/v1/ask") {
      if (method != "POST") return MethodNotAllowed(method, path);
      Reply refusal;
      auto body = Body(request, &refusal);
      if (!body.ok()) return refusal;
      std::string question;
      auto options = ParseAsk(*body, &question);
      if (!options.ok()) return ErrorReply(options.status());
      bool stream = (*body)->optValue<bool>("stream", false) ||
                    request.get("Accept", "").find("text/event-stream") != std::string::npos;
      if (!stream) {
        auto answer = kb_.Ask(question, *options);
        if (!answer.ok()) return ErrorReply(answer.status());
        return {200, AnswerJson(*answer)};
      }
      return AskStreaming(response, question, *options, streamed);
    }
    if (path == "/api/v1/documents") {
      if (read) {
        Params params = Params::FromQuery(uri);
        auto offset = params.Integer("offset", 0, 1L << 40);
        auto limit = params.Integer("limit", 1, 1000);
        if (!offset.ok()) return ErrorReply(offset.status());
        if (!limit.ok()) return ErrorReply(limit.status());
        auto list = kb_.ListDocuments(offset->value_or(0), limit->value_or(50));
        if (!list.ok()) return ErrorReply(list.status());
        return {200, DocumentListJson(*list)};
      }
      if (method == "POST") return Upload(request);
      return MethodNotAllowed(method, path);
    }
    int64_t id = 0;
    std::string rest;
    if (SplitIdPath(path, "/api/v1/documents/", &id, &rest)) {
      if (rest.empty() && read) {
        auto doc = kb_.GetDocument(id);
        return doc.ok() ? Reply{200, DocumentJson(*doc)} : ErrorReply(doc.status());
      }
      if (rest.empty() && method == "DELETE") {
        Status deleted = kb_.DeleteDocument(id);
        if (!deleted.ok()) return ErrorReply(deleted);
        auto o = NewObject();
        o->set("deleted", static_cast<Poco::Int64>(id));
        return {200, Stringify(o)};
      }
      if (rest == "chunks" && read) {
        auto passages = kb_.DocumentPassages(id);
        return passages.ok() ? Reply{200, PassagesJson(*passages)} : ErrorReply(passages.status());
      }
      if (rest == "original" && read) {
        auto file = kb_.OriginalFile(id);
        if (!file.ok()) return ErrorReply(file.status());
        SendFile(request, response, *file);
        *streamed = true;
        return {};
      }
      if (rest.empty() || rest == "chunks" || rest == "original") return MethodNotAllowed(method, path);
    }
    if (SplitIdPath(path, "/api/v1/jobs/", &id, &rest) && rest.empty()) {
      if (!read) return MethodNotAllowed(method, path);
      auto job = kb_.GetJob(id);
      return job.ok() ? Reply{200, JobJson(*job)} : ErrorReply(job.status());
    }
    if (read && path.rfind("/api/", 0) != 0) {
      if (const internal::UiAsset* asset = internal::FindUiAsset(path)) {
        SendAsset(request, response, *asset);
        *streamed = true;
        return {};
      }
    }
    return ErrorReply(NotFound("no endpoint " + method + " " + path), "see docs/API.md for the endpoints");
  }

  // The page and its files. The policy allows only this origin's own scripts and styles: no
  // inline script can run, whatever text a document smuggles into the page.
  static void SendAsset(HTTPServerRequest& request, HTTPServerResponse& response, const internal::UiAsset& asset) {
    response.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
    response.setContentType(std::string(internal::ContentTypeFor(asset.path)));
    response.set("Content-Security-Policy",
                 "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                 "frame-ancestors 'none'");
    response.set("X-Content-Type-Options", "nosniff");
    response.set("X-Frame-Options", "DENY");
    response.set("Referrer-Policy", "no-referrer");
    response.set("Cache-Control", "no-cache");
    response.setContentLength(static_cast<std::streamsize>(asset.size));
    auto& out = response.send();
    if (request.getMethod() != "HEAD") out.write(reinterpret_cast<const char*>(asset.data), static_cast<std::streamsize>(asset.size));
  }

  // multipart/form-data with one or more "file" parts: each is staged on disk as it arrives,
  // then handed to the knowledge base, which keeps and queues it. 202 with the jobs to follow.
  Reply Upload(HTTPServerRequest& request) {
    if (request.getContentType().rfind("multipart/form-data", 0) != 0) {
      return ErrorReply(InvalidArgument("upload files as multipart/form-data, in parts named \"file\""));
    }
    UploadParts parts(kb_.config().uploads_dir() / ".staging", options_.max_upload_bytes);
    try {
      Poco::Net::HTMLForm form;
      form.setFieldLimit(0);
      form.load(request, request.stream(), parts);
    } catch (const Poco::Exception& e) {
      return ErrorReply(InvalidArgument("the upload is not readable multipart/form-data: " + e.displayText()));
    }
    if (!parts.too_large().empty()) {
      return {413, ErrorJson(InvalidArgument(parts.too_large() + " is larger than " +
                                             std::to_string(options_.max_upload_bytes) + " bytes"))};
    }
    if (!parts.failed().empty()) return ErrorReply(Internal(parts.failed()));
    if (parts.files().empty()) return ErrorReply(InvalidArgument("the upload has no part named \"file\" with a file name"));
    std::vector<app::JobInfo> jobs;
    for (auto& f : parts.files()) {
      auto job = kb_.AddUpload(f.staged, f.name);
      if (!job.ok()) return ErrorReply(job.status());
      jobs.push_back(*job);
    }
    return {202, JobsJson(jobs)};
  }

  // The original file, streamed, as an attachment (never rendered by the browser).
  static void SendFile(HTTPServerRequest& request, HTTPServerResponse& response, const fs::path& file) {
    std::string name = file.filename().string();
    std::string ascii;
    for (unsigned char c : name) ascii += (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? static_cast<char>(c) : '_';
    std::string encoded;
    Poco::URI::encode(name, "!#$&+,/:;=?@[]'()*\" ", encoded);
    std::error_code ec;
    response.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
    response.setContentType("application/octet-stream");
    response.set("Content-Disposition", "attachment; filename=\"" + ascii + "\"; filename*=UTF-8''" + encoded);
    response.set("X-Content-Type-Options", "nosniff");
    response.set("Content-Security-Policy", "sandbox");
    response.setContentLength64(static_cast<Poco::UInt64>(fs::file_size(file, ec)));
    std::ostream& out = response.send();
    if (request.getMethod() == "HEAD") return;
    std::ifstream in(file, std::ios::binary);
    char buf[65536];
    while (in.read(buf, sizeof buf).gcount() > 0 && out) out.write(buf, in.gcount());
  }

  // The JSON body, or the reply for one that is not (400) or too large (413).
  Result<Poco::JSON::Object::Ptr> Body(HTTPServerRequest& request, Reply* refusal) {
    bool too_large = false;
    auto body = ReadJsonBody(request, options_.max_body_bytes, &too_large);
    if (!body.ok()) *refusal = too_large ? Reply{413, ErrorJson(body.status())} : ErrorReply(body.status());
    return body;
  }

  // Tokens as they come ("token" events), then the cited sources ("sources"), then the whole
  // answer ("done"). Nothing is sent until the first token, so a refusal (busy: 503 with
  // Retry-After, or a bad request) is still a plain JSON error. A client that goes away cancels
  // the answer, which frees its generation slot.
  Reply AskStreaming(HTTPServerResponse& response, const std::string& question, const app::AskOptions& options,
                     bool* streamed) {
    EventStream events(response);
    auto answer = kb_.Ask(question, options, [&](std::string_view piece) {
      return events.Write(SseEvent("token", TokenJson(piece)));
    });
    *streamed = events.opened();
    if (!answer.ok()) {
      if (events.opened()) events.Write(SseEvent("error", ErrorJson(answer.status())));
      return ErrorReply(answer.status());
    }
    std::string full = AnswerJson(*answer);
    auto parsed = Poco::JSON::Parser().parse(full).extract<Poco::JSON::Object::Ptr>();
    auto sources = NewObject();
    sources->set("sources", parsed->get("sources"));
    sources->set("sentences", parsed->get("sentences"));
    events.Write(SseEvent("sources", Stringify(sources)) + SseEvent("done", full));
    *streamed = true;
    return {};
  }

  app::KnowledgeBase& kb_;
  const ServerOptions& options_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(app::KnowledgeBase& kb, const ServerOptions& options) : kb_(kb), options_(options) {}
  // Never nullptr: Poco would turn that into a bare 501 without JSON.
  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(kb_, options_);
  }

 private:
  app::KnowledgeBase& kb_;
  const ServerOptions& options_;
};

}  // namespace

struct Server::Impl {
  Impl(app::KnowledgeBase& kb, ServerOptions o) : kb(kb), options(std::move(o)) {}
  app::KnowledgeBase& kb;
  ServerOptions options;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

Server::Server(app::KnowledgeBase& kb, ServerOptions options)
    : impl_(std::make_unique<Impl>(kb, std::move(options))) {}

Server::~Server() { Stop(0); }

Status Server::Start() {
  const auto& o = impl_->options;
  try {
    Poco::Net::SocketAddress address(o.bind, o.port);
    // SO_REUSEADDR for quick restarts, but never SO_REUSEPORT (Poco's default with the
    // address constructor): a second instance on the same port must fail, not share it.
    Poco::Net::ServerSocket socket;
    socket.bind(address, /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(o.queue);
    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(o.threads);
    params->setMaxQueued(o.queue);
    params->setTimeout(Poco::Timespan(o.timeout_seconds, 0));
    params->setKeepAlive(true);
    params->setServerName("cloister");
    impl_->pool = std::make_unique<Poco::ThreadPool>(2, o.threads);
    impl_->http = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_->kb, impl_->options), *impl_->pool,
                                                          socket, params);
    impl_->http->start();
    impl_->port = socket.address().port();
  } catch (const Poco::Exception& e) {
    return FailedPrecondition("cannot listen on " + o.bind + ":" + std::to_string(o.port) + ": " +
                              e.displayText());
  }
  return Status::Ok();
}

void Server::Stop(int grace_seconds) {
  if (!impl_->http) return;
  // No new connections; requests being answered complete, idle keep-alive connections close.
  impl_->http->stopAll(/*abortCurrent=*/false);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(grace_seconds);
  while (impl_->http->currentConnections() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  impl_->http->stopAll(/*abortCurrent=*/true);  // whatever outlived the grace period
  impl_->pool->joinAll();
  impl_->http.reset();
  impl_->pool.reset();
}

uint16_t Server::port() const { return impl_->port; }

}  // namespace cloister::web
