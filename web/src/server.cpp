#include "cloister/web/server.h"

#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/PartHandler.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "cloister/core/dates.h"
#include "cloister/core/log.h"
#include "cloister/core/utf8.h"
#include "auth.h"
#include "client_limits.h"
#include "cloister/app/accounts.h"
#include "cloister/web/json.h"
#include "http_connection.h"
#include "http_util.h"
#include "json_util.h"
#include "metrics.h"
#include "observed_kb.h"
#include "openai_api.h"
#include "openai_internal.h"
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

// JSON bodies are typed: a number where text belongs (or text where a number does) is a 400
// naming the field, never a guess. Absent and null fields pass.
enum class Kind { kString, kStrings, kInteger, kNumber, kBool, kObject, kArray };

bool IsKind(const Poco::Dynamic::Var& v, Kind kind) {
  switch (kind) {
    case Kind::kString:
      return v.isString();
    case Kind::kInteger:
      return v.isInteger() && !v.isBoolean();  // Poco counts a bool as both
    case Kind::kNumber:
      return v.isNumeric() && !v.isBoolean();
    case Kind::kBool:
      return v.isBoolean();
    case Kind::kObject:
      return openai::IsObject(v);
    case Kind::kArray:
      return openai::IsArray(v);
    case Kind::kStrings:
      if (v.isString()) return true;
      if (!openai::IsArray(v)) return false;
      for (const auto& item : *v.extract<Poco::JSON::Array::Ptr>()) {
        if (!item.isString()) return false;
      }
      return true;
  }
  return false;
}

Status CheckKinds(const Poco::JSON::Object& o,
                  std::initializer_list<std::pair<const char*, Kind>> fields,
                  const std::string& where = "") {
  static const std::map<Kind, std::string> kNames = {
      {Kind::kString, "a string"},
      {Kind::kStrings, "a string or a list of strings"},
      {Kind::kInteger, "a whole number"},
      {Kind::kNumber, "a number"},
      {Kind::kBool, "true or false"},
      {Kind::kObject, "an object"},
      {Kind::kArray, "a list"}};
  for (const auto& [name, kind] : fields) {
    if (!o.has(name) || o.isNull(name) || IsKind(o.get(name), kind)) continue;
    return InvalidArgument("'" + where + name + "' must be " + kNames.at(kind));
  }
  return Status::Ok();
}

// The filter fields, in "filters" or (without it) beside the other fields.
Status CheckFilterKinds(const Poco::JSON::Object& body) {
  CLOISTER_RETURN_IF_ERROR(CheckKinds(body, {{"filters", Kind::kObject}}));
  auto filters = body.getObject("filters");
  const Poco::JSON::Object& o = filters ? *filters : body;
  return CheckKinds(o,
                    {{"type", Kind::kStrings},
                     {"types", Kind::kStrings},
                     {"collection", Kind::kStrings},
                     {"collections", Kind::kStrings},
                     {"from", Kind::kString},
                     {"after", Kind::kString},
                     {"before", Kind::kString}},
                    filters ? "filters." : "");
}

Status CheckSearchKinds(const Poco::JSON::Object& body) {
  CLOISTER_RETURN_IF_ERROR(CheckKinds(body, {{"query", Kind::kString},
                                             {"q", Kind::kString},
                                             {"k", Kind::kInteger},
                                             {"mode", Kind::kString},
                                             {"mmr", Kind::kBool}}));
  return CheckFilterKinds(body);
}

Status CheckAskKinds(const Poco::JSON::Object& body) {
  CLOISTER_RETURN_IF_ERROR(CheckKinds(body, {{"question", Kind::kString},
                                             {"k", Kind::kInteger},
                                             {"max_tokens", Kind::kInteger},
                                             {"seed", Kind::kInteger},
                                             {"temperature", Kind::kNumber},
                                             {"stream", Kind::kBool},
                                             {"history", Kind::kArray}}));
  CLOISTER_RETURN_IF_ERROR(CheckFilterKinds(body));
  if (auto history = body.getArray("history")) {
    for (size_t i = 0; i < history->size(); ++i) {
      auto turn = history->getObject(static_cast<unsigned>(i));
      std::string where = "history[" + std::to_string(i) + "].";
      if (!turn)
        return InvalidArgument("'history' must be a list of {\"role\", \"content\"} objects");
      CLOISTER_RETURN_IF_ERROR(
          CheckKinds(*turn, {{"role", Kind::kString}, {"content", Kind::kString}}, where));
    }
  }
  return Status::Ok();
}

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
  CLOISTER_RETURN_IF_ERROR(CheckAskKinds(*body));
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
    std::string filename = ToValidUtf8(params.get("filename", ""));  // it is echoed in JSON
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
        throw Poco::Exception("too large");  // ends the form's reading: the reply is 413 at once
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

// Whether `path` fits the route template `pattern`: "{id}" takes one segment of 1 to 18 digits,
// "{model}" the non-empty rest of the path; every other character matches itself.
bool MatchRoute(std::string_view pattern, std::string_view path, int64_t* id) {
  size_t p = 0, q = 0;
  while (p < pattern.size()) {
    if (pattern.substr(p) == "{model}") return q < path.size();
    if (pattern.substr(p, 4) == "{id}") {
      size_t end = std::min(path.find('/', q), path.size());
      std::string_view digits = path.substr(q, end - q);
      if (digits.empty() || digits.size() > 18 ||
          digits.find_first_not_of("0123456789") != std::string_view::npos) {
        return false;
      }
      *id = std::stoll(std::string(digits));
      p += 4;
      q = end;
      continue;
    }
    if (q >= path.size() || pattern[p] != path[q]) return false;
    ++p;
    ++q;
  }
  return q == path.size();
}

// Percent-decoded URLs are checked as text: bytes that are not UTF-8 would otherwise reach the
// JSON replies (an error naming the path, a search echoing its query).
Status CheckUrlText(const Poco::URI& uri) {
  if (InvalidUtf8At(uri.getPath()) != std::string_view::npos) {
    return InvalidArgument("the URL's path is not valid UTF-8 once percent-decoded");
  }
  for (const auto& [name, value] : uri.getQueryParameters()) {
    if (InvalidUtf8At(name) != std::string_view::npos ||
        InvalidUtf8At(value) != std::string_view::npos) {
      return InvalidArgument("the query parameter '" + ToValidUtf8(name) +
                             "' is not valid UTF-8 once percent-decoded");
    }
  }
  return Status::Ok();
}

// Reads what follows a form's closing boundary (a line break, usually), so that the connection
// can take another request; a long epilogue is left, and the connection closes instead.
void SkipEpilogue(std::istream& in) {
  char sink[4096];
  for (int i = 0; i < 16 && in.read(sink, sizeof sink).gcount() > 0; ++i) {
  }
}

std::string TokenJson(std::string_view piece) {
  auto o = NewObject();
  o->set("text", std::string(piece));
  return Stringify(o);
}

// A refusal leaves the request's body unread: the connection then closes rather than read the
// body as the next request.
void CloseIfBodyUnread(HTTPServerRequest& request, HTTPServerResponse& response) {
  if (request.getChunkedTransferEncoding() || request.getContentLength64() > 0) {
    response.setKeepAlive(false);
  }
}

// One request on its way through the handler.
struct Call {
  HTTPServerRequest& request;
  HTTPServerResponse& response;
  const Poco::URI& uri;
  std::string path;
  bool* streamed;  // set by a handler that wrote the response itself
  int64_t id = 0;  // the route's {id}
  std::optional<app::Principal> principal;  // with auth on: who is calling
  // What the caller may read: a user (role user) their granted collections; an administrator,
  // or anyone with auth off (loopback development), everything.
  app::Caller caller() const {
    if (principal && !principal->admin()) return app::Caller::User(principal->user_id);
    return app::Caller::Everything();
  }
};

// Who may call a route when authentication is on (with it off, everyone may call everything).
enum class Access { kPublic, kUser, kAdmin };

// Which per-client limits a route counts against (client_limits.h): none (health, which
// monitors poll, and the page, which is static), the requests', or the answers' too.
enum class Limited { kNo, kRequest, kAnswer };

// What every handler shares: the measurements, the audit log and the per-client limits.
struct Services {
  Metrics& metrics;
  AuditLog* audit;  // null: no audit log
  ClientLimits& limits;
};

class Handler final : public HTTPRequestHandler {
 public:
  Handler(app::KnowledgeBase& kb, const ServerOptions& options,
          const ConnectionTracker& connections, AuthGate* auth, Services services)
      : kb_(kb), options_(options), connections_(connections), auth_(auth), services_(services) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    auto start = std::chrono::steady_clock::now();
    RequestContext context;
    try {
      context.client = request.clientAddress().host().toString();
    } catch (const Poco::Exception&) {
    }
    RequestScope scope(&context);
    Reply reply;
    bool streamed = false;
    try {
      reply = Dispatch(request, response, &streamed);
    } catch (const std::exception& e) {
      reply = ErrorReply(InvalidArgument(std::string("bad request: ") + e.what()));
    }
    if (!streamed) {
      if (connections_.draining()) response.setKeepAlive(false);  // the server is stopping
      SendJson(request, response, reply);
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start);
    services_.metrics.ObserveRequest(context.route, request.getMethod(), streamed ? response.getStatus() : reply.status,
                                     ms.count() / 1000);
    log::Debug("http", "request", {{"method", request.getMethod()}, {"uri", request.getURI()},
                                   {"status", std::to_string(streamed ? 200 : reply.status)},
                                   {"ms", std::to_string(ms.count())}});
  }

  // The routing table: path template, method (GET answers HEAD too), handler. The only place an
  // endpoint is added; Endpoints() lists it and docs/openapi.json must describe it.
  using Serve = Reply (Handler::*)(Call&);
  struct Route {
    const char* path;
    const char* method;
    Serve serve;
    Access access = Access::kUser;
    Limited limited = Limited::kRequest;
  };
  static const std::vector<Route>& Routes() {
    static const std::vector<Route> kRoutes = {
        {"/api/v1/health", "GET", &Handler::Health, Access::kPublic, Limited::kNo},
        {"/api/v1/login", "POST", &Handler::Login, Access::kPublic},
        {"/api/v1/logout", "POST", &Handler::Logout, Access::kPublic},
        {"/api/v1/me", "GET", &Handler::Me, Access::kPublic},
        {"/api/v1/status", "GET", &Handler::GetStatus},
        {"/api/v1/search", "GET", &Handler::SearchByQuery},
        {"/api/v1/search", "POST", &Handler::SearchByBody},
        {"/api/v1/ask", "POST", &Handler::Ask, Access::kUser, Limited::kAnswer},
        {"/api/v1/documents", "GET", &Handler::ListDocuments},
        {"/api/v1/documents", "POST", &Handler::Upload},
        {"/api/v1/documents/{id}", "GET", &Handler::GetDocument},
        {"/api/v1/documents/{id}", "DELETE", &Handler::DeleteDocument, Access::kAdmin},
        {"/api/v1/documents/{id}/chunks", "GET", &Handler::Chunks},
        {"/api/v1/documents/{id}/original", "GET", &Handler::Original},
        {"/api/v1/jobs/{id}", "GET", &Handler::GetJob},
        {"/metrics", "GET", &Handler::GetMetrics, Access::kAdmin},
        {"/v1/models", "GET", &Handler::OpenAi},
        {"/v1/models/{model}", "GET", &Handler::OpenAi},
        {"/v1/chat/completions", "POST", &Handler::OpenAi, Access::kUser, Limited::kAnswer},
        {"/v1/embeddings", "POST", &Handler::OpenAi},
        {"/", "GET", &Handler::Ui, Access::kPublic, Limited::kNo},
    };
    return kRoutes;
  }

 private:
  Reply Dispatch(HTTPServerRequest& request, HTTPServerResponse& response, bool* streamed) {
    Poco::URI uri(request.getURI());  // a bad escape throws: 400
    Call c{request, response, uri, uri.getPath(), streamed, 0, std::nullopt};
    bool openai = IsOpenAiPath(c.path);
    if (Status text = CheckUrlText(uri); !text.ok())
      return openai ? openai::ErrorReply(text) : ErrorReply(text);
    const std::string& method = request.getMethod();
    std::string as = method == "HEAD" ? "GET" : method;
    bool known = false;
    for (const Route& r : Routes()) {
      if (!MatchRoute(r.path, c.path, &c.id)) continue;
      known = true;
      if (as != r.method) continue;
      if (RequestContext* context = RequestScope::Current()) context->route = r.path;
      return ServeRoute(r, c, openai);
    }
    if (!known && !openai && as == "GET" && c.path.rfind("/api/", 0) != 0) {
      if (const internal::UiAsset* asset = internal::FindUiAsset(c.path)) {
        if (RequestContext* context = RequestScope::Current()) context->route = "ui";
        return SendAsset(c, *asset);
      }
    }
    ClientLimits::Ticket ticket;  // unknown URLs count too: a scan is limited like any client
    if (auto limited = Limit(c, Limited::kRequest, openai, &ticket)) return *limited;
    if (known && openai)
      return openai::ErrorReply(
          {405, method + " is not allowed on " + c.path, "", "method_not_allowed"});
    if (known) return MethodNotAllowed(method, c.path);
    if (openai) {
      return openai::ErrorReply(
          {404,
           "Unknown request URL: " + method + " " + c.path +
               " (this server has /v1/models, /v1/chat/completions and /v1/embeddings)",
           "", "unknown_url"});
    }
    return ErrorReply(NotFound("no endpoint " + method + " " + c.path),
                      "see docs/API.md for the endpoints");
  }

  // Authentication (with auth on), the per-client limits, then the route's handler.
  Reply ServeRoute(const Route& r, Call& c, bool openai) {
    HTTPServerRequest& request = c.request;
    const std::string& method = request.getMethod();
    ClientLimits::Ticket ticket;  // held until the reply is written, a streamed one included
    if (auth_ && r.access != Access::kPublic) {
      AuthResult who = auth_->Authenticate(request, openai);
      if (!who.principal) {
        CloseIfBodyUnread(request, c.response);
        // Refused credentials count against the address: guessing keys is limited too.
        if (auto limited = Limit(c, Limited::kRequest, openai, &ticket)) return *limited;
        return who.refusal;
      }
      c.principal = std::move(who.principal);
      if (RequestContext* context = RequestScope::Current()) {
        context->user = c.principal->name;
        context->auth = c.principal->api_key_id ? "api_key" : "session";
        if (c.principal->api_key_id) context->key = "id " + std::to_string(*c.principal->api_key_id);
      }
    }
    if (auto limited = Limit(c, r.limited, openai, &ticket)) return *limited;
    if (auth_ && r.access == Access::kAdmin && !c.principal->admin()) {
      CloseIfBodyUnread(request, c.response);
      return AuthGate::Refusal(403, "forbidden", method + " " + c.path + " is for administrators",
                               openai);
    }
    return (this->*r.serve)(c);
  }

  // The per-client limits (client_limits.h): nothing when the request may go on (its place among
  // the client's requests in progress held by *ticket), else the 429 to send, with Retry-After.
  std::optional<Reply> Limit(Call& c, Limited limited, bool openai, ClientLimits::Ticket* ticket) {
    if (limited == Limited::kNo) return std::nullopt;
    std::string client;
    if (c.principal) {
      client = ClientKeyForUser(c.principal->user_id);
    } else {
      client = ClientKeyForAddress(c.request.clientAddress().host());
    }
    ClientLimits::Admission admission =
        services_.limits.Admit(client, limited == Limited::kAnswer);
    if (admission.refused == LimitReason::kNone) {
      *ticket = std::move(admission.ticket);
      return std::nullopt;
    }
    services_.metrics.RateLimited(admission.refused == LimitReason::kRate ? "rate" : "concurrency");
    c.response.set("Retry-After", std::to_string(admission.retry_after_seconds));
    CloseIfBodyUnread(c.request, c.response);
    return AuthGate::Refusal(429, openai ? "rate_limit_exceeded" : "rate_limited",
                             admission.message, openai);
  }

  Reply Health(Call&) { return {200, HealthJson()}; }

  // POST /api/v1/login {name, password}: the session cookie and {user, role, csrf_token}.
  Reply Login(Call& c) {
    Reply refusal;
    auto body = Body(c.request, &refusal);
    if (!body.ok()) return refusal;
    if (!auth_) return ErrorReply(FailedPrecondition("authentication is off (serve --auth)"));
    if (Status kinds = CheckKinds(**body, {{"name", Kind::kString}, {"password", Kind::kString}});
        !kinds.ok()) {
      return ErrorReply(kinds);
    }
    std::string name = (*body)->optValue<std::string>("name", "");
    std::string password = (*body)->optValue<std::string>("password", "");
    if (name.empty() || password.empty()) {
      return ErrorReply(InvalidArgument("'name' and 'password' are required"));
    }
    std::string cookie;
    AuthResult result = auth_->Login(name, password, c.request.clientAddress().host().toString(),
                                     c.request.secure(), &cookie);
    if (!result.retry_after.empty()) c.response.set("Retry-After", result.retry_after);
    if (!cookie.empty()) c.response.add("Set-Cookie", cookie);
    if (services_.audit) {
      AuditEvent event = EventForCurrentRequest(cookie.empty() ? "login_failed" : "login");
      event.user = name;
      event.auth = "password";
      event.status = result.refusal.status;
      services_.audit->Record(event);
    }
    return result.refusal;
  }

  // POST /api/v1/logout: ends the session of the cookie, if any, and clears the cookie. Public
  // (logging out needs no valid session), but a cookie that is still valid needs its CSRF token,
  // so no other site can log a user out.
  Reply Logout(Call& c) {
    if (!auth_) return ErrorReply(FailedPrecondition("authentication is off (serve --auth)"));
    AuthResult who = auth_->Authenticate(c.request, false);
    if (!who.principal && who.refusal.status == 403) return who.refusal;
    c.response.add("Set-Cookie", auth_->Logout(c.request));
    if (services_.audit && who.principal) {
      AuditEvent event = EventForCurrentRequest("logout");
      event.user = who.principal->name;
      event.auth = "session";
      services_.audit->Record(event);
    }
    auto o = NewObject();
    o->set("logged_out", true);
    return {200, Stringify(o)};
  }

  // GET /api/v1/me: who the caller is. With auth off: {"auth": false}. The CSRF token is
  // returned again for a session, so a reloaded page can go on (no other site can read it).
  Reply Me(Call& c) {
    auto o = NewObject();
    o->set("auth", auth_ != nullptr);
    if (!auth_) return {200, Stringify(o)};
    AuthResult who = auth_->Authenticate(c.request, false);
    if (!who.principal) return who.refusal;
    o->set("user", who.principal->name);
    o->set("role", who.principal->role);
    o->set("via", who.principal->api_key_id ? "api_key" : "session");
    if (!who.principal->api_key_id) o->set("csrf_token", who.principal->csrf_token);
    return {200, Stringify(o)};
  }

  Reply GetStatus(Call& c) {
    auto status = kb_.Status(c.caller());
    return status.ok() ? Reply{200, StatusJson(*status)} : ErrorReply(status.status());
  }

  Reply SearchByQuery(Call& c) { return Search(c, Params::FromQuery(c.uri)); }

  Reply SearchByBody(Call& c) {
    Reply refusal;
    auto body = Body(c.request, &refusal);
    if (!body.ok()) return refusal;
    if (Status kinds = CheckSearchKinds(**body); !kinds.ok()) return ErrorReply(kinds);
    return Search(c, Params::FromJson(*body));
  }

  Reply Search(const Call& c, const Params& params) {
    std::string query = params.String("q").value_or(params.String("query").value_or(""));
    auto options = ParseSearch(kb_, params);
    if (!options.ok()) return ErrorReply(options.status());
    auto results = kb_.Search(c.caller(), query, *options);
    return results.ok() ? Reply{200, SearchJson(*results)} : ErrorReply(results.status());
  }

  Reply Ask(Call& c) {
    Reply refusal;
    auto body = Body(c.request, &refusal);
    if (!body.ok()) return refusal;
    std::string question;
    auto options = ParseAsk(*body, &question);
    if (!options.ok()) return ErrorReply(options.status());
    bool stream = (*body)->optValue<bool>("stream", false) ||
                  c.request.get("Accept", "").find("text/event-stream") != std::string::npos;
    if (stream) return AskStreaming(c, question, *options);
    auto answer = kb_.Ask(c.caller(), question, *options);
    return answer.ok() ? Reply{200, AnswerJson(*answer)} : ErrorReply(answer.status());
  }

  Reply ListDocuments(Call& c) {
    Params params = Params::FromQuery(c.uri);
    auto offset = params.Integer("offset", 0, 1L << 40);
    auto limit = params.Integer("limit", 1, 1000);
    if (!offset.ok()) return ErrorReply(offset.status());
    if (!limit.ok()) return ErrorReply(limit.status());
    auto list = kb_.ListDocuments(c.caller(), offset->value_or(0), limit->value_or(50));
    return list.ok() ? Reply{200, DocumentListJson(*list)} : ErrorReply(list.status());
  }

  Reply GetDocument(Call& c) {
    auto doc = kb_.GetDocument(c.caller(), c.id);
    return doc.ok() ? Reply{200, DocumentJson(*doc)} : ErrorReply(doc.status());
  }

  Reply DeleteDocument(Call& c) {
    Status deleted = kb_.DeleteDocument(c.id);
    if (!deleted.ok()) return ErrorReply(deleted);
    auto o = NewObject();
    o->set("deleted", static_cast<Poco::Int64>(c.id));
    return {200, Stringify(o)};
  }

  Reply Chunks(Call& c) {
    auto passages = kb_.DocumentPassages(c.caller(), c.id);
    return passages.ok() ? Reply{200, PassagesJson(*passages)} : ErrorReply(passages.status());
  }

  Reply Original(Call& c) {
    auto file = kb_.OriginalFile(c.caller(), c.id);
    if (!file.ok()) return ErrorReply(file.status());
    SendFile(c.request, c.response, *file);
    *c.streamed = true;
    return {};
  }

  Reply GetJob(Call& c) {
    auto job = kb_.GetJob(c.caller(), c.id);
    return job.ok() ? Reply{200, JobJson(*job)} : ErrorReply(job.status());
  }

  Reply OpenAi(Call& c) {
    return RouteOpenAi(kb_, c.caller(), options_, c.request, c.response, c.path, c.streamed);
  }

  Reply Ui(Call& c) { return SendAsset(c, *internal::FindUiAsset("/")); }

  // GET /metrics: Prometheus's text exposition (web/src/metrics.h), the status figures read now.
  Reply GetMetrics(Call& c) {
    auto status = kb_.Status(app::Caller::Everything());
    if (!status.ok()) return ErrorReply(status.status());
    std::string text = services_.metrics.Render(*status);
    c.response.setStatus(Poco::Net::HTTPResponse::HTTP_OK);
    c.response.setContentType("text/plain; version=0.0.4; charset=utf-8");
    c.response.set("Cache-Control", "no-store");
    c.response.set("X-Content-Type-Options", "nosniff");
    c.response.setContentLength(static_cast<std::streamsize>(text.size()));
    auto& out = c.response.send();
    if (c.request.getMethod() != "HEAD") out << text;
    *c.streamed = true;
    return {};
  }

  // The page and its files. The policy allows only this origin's own scripts and styles: no
  // inline script can run, whatever text a document smuggles into the page.
  static Reply SendAsset(Call& c, const internal::UiAsset& asset) {
    HTTPServerResponse& response = c.response;
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
    if (c.request.getMethod() != "HEAD")
      out.write(reinterpret_cast<const char*>(asset.data),
                static_cast<std::streamsize>(asset.size));
    *c.streamed = true;
    return {};
  }

  // multipart/form-data with one or more "file" parts: each is staged on disk as it arrives,
  // then handed to the knowledge base, which keeps and queues it. 202 with the jobs to follow.
  Reply Upload(Call& c) {
    HTTPServerRequest& request = c.request;
    if (request.getContentType().rfind("multipart/form-data", 0) != 0) {
      return ErrorReply(InvalidArgument("upload files as multipart/form-data, in parts named \"file\""));
    }
    if (!request.getChunkedTransferEncoding() && !request.hasContentLength()) {
      return {411, ErrorJson(InvalidArgument(
                       "an upload needs a Content-Length or chunked transfer encoding"))};
    }
    if (request.getExpectContinue()) c.response.sendContinue();
    UploadParts parts(kb_.config().uploads_dir() / ".staging", options_.max_upload_bytes);
    Poco::Net::HTMLForm form;
    try {
      form.setFieldLimit(0);
      form.load(request, request.stream(), parts);
    } catch (const Poco::Exception& e) {
      if (!parts.too_large().empty()) {
        c.response.setKeepAlive(false);  // the rest is not read: the connection closes
        return {413,
                ErrorJson(InvalidArgument(parts.too_large() + " is larger than " +
                                          std::to_string(options_.max_upload_bytes) + " bytes"))};
      }
      return ErrorReply(InvalidArgument("the upload is not readable multipart/form-data: " + e.displayText()));
    }
    SkipEpilogue(request.stream());
    if (!parts.failed().empty()) return ErrorReply(Internal(parts.failed()));
    if (parts.files().empty()) return ErrorReply(InvalidArgument("the upload has no part named \"file\" with a file name"));
    // The collection field (optional; the default collection without it). Checked by AddUpload:
    // 403 for one the caller may not write into.
    std::string collection = ToValidUtf8(form.get("collection", ""));
    std::vector<app::JobInfo> jobs;
    for (auto& f : parts.files()) {
      auto job = kb_.AddUpload(c.caller(), f.staged, f.name, collection);
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
  Reply AskStreaming(Call& c, const std::string& question, const app::AskOptions& options) {
    bool* streamed = c.streamed;
    EventStream events(c.response);
    auto answer = kb_.Ask(c.caller(), question, options, [&](std::string_view piece) {
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
  const ConnectionTracker& connections_;
  AuthGate* auth_;  // null with auth off
  Services services_;
};

class Factory final : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  Factory(app::KnowledgeBase& kb, const ServerOptions& options,
          const ConnectionTracker& connections, AuthGate* auth, Services services)
      : kb_(kb), options_(options), connections_(connections), auth_(auth), services_(services) {}
  // Never nullptr (Poco's own connection would turn that into a bare 501).
  HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(kb_, options_, connections_, auth_, services_);
  }

 private:
  app::KnowledgeBase& kb_;
  const ServerOptions& options_;
  const ConnectionTracker& connections_;
  AuthGate* auth_;
  Services services_;
};

}  // namespace

std::vector<Endpoint> Endpoints() {
  std::vector<Endpoint> out;
  for (const auto& r : Handler::Routes()) {
    auto same = [&](const Endpoint& e) { return e.path == r.path; };
    auto it = std::find_if(out.begin(), out.end(), same);
    if (it == out.end()) it = out.insert(out.end(), Endpoint{r.path, {}});
    it->methods.push_back(r.method);
  }
  return out;
}

struct Server::Impl {
  Impl(app::KnowledgeBase& kb, ServerOptions o)
      : kb(kb),
        options(std::move(o)),
        metrics(kb.config().answer.slots),
        limits({.requests_per_second = options.client_requests_per_second,
                .burst = options.client_burst,
                .concurrent_answers = options.client_concurrent_answers,
                .concurrent_requests = options.client_concurrent_requests}) {}
  app::KnowledgeBase& kb;
  ServerOptions options;
  Metrics metrics;
  ClientLimits limits;
  std::unique_ptr<AuditLog> audit;
  std::stop_source stopping;  // cancels the answers still running when the grace is over
  std::unique_ptr<ObservedKnowledgeBase> observed;  // kb, measured, audited, cancellable
  std::unique_ptr<ConnectionTracker> connections;
  std::unique_ptr<AuthGate> auth;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::TCPServer> tcp;
  Poco::Net::ServerSocket listener;
  uint16_t port = 0;
};

Server::Server(app::KnowledgeBase& kb, ServerOptions options)
    : impl_(std::make_unique<Impl>(kb, std::move(options))) {}

Server::~Server() { Stop(0); }

Status Server::Start() {
  const auto& o = impl_->options;
  if (o.auth && !impl_->auth) {
    CLOISTER_ASSIGN_OR_RETURN(std::unique_ptr<app::Accounts> accounts,
                              app::Accounts::Open(impl_->kb.config()));
    impl_->auth = std::make_unique<AuthGate>(std::move(accounts), o.session_idle_seconds);
  }
  if (!o.audit_log.empty() && !impl_->audit) {
    CLOISTER_ASSIGN_OR_RETURN(impl_->audit, AuditLog::Open(o.audit_log, {.rotate_bytes = o.audit_rotate_bytes,
                                                                         .keep = o.audit_keep}));
  }
  if (!impl_->observed) {
    impl_->observed = std::make_unique<ObservedKnowledgeBase>(impl_->kb, impl_->metrics, impl_->audit.get(),
                                                              impl_->stopping.get_token());
  }
  try {
    Poco::Net::SocketAddress address(o.bind, o.port);
    // SO_REUSEADDR for quick restarts, but never SO_REUSEPORT (Poco's default with the
    // address constructor): a second instance on the same port must fail, not share it.
    Poco::Net::ServerSocket socket;
    socket.bind(address, /*reuseAddress=*/true, /*reusePort=*/false);
    socket.listen(o.queue);
    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(o.threads);
    params->setMaxQueued(o.queue);
    params->setTimeout(Poco::Timespan(o.timeout_seconds, 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(o.keep_alive_seconds, 0));
    params->setServerName("cloister");
    impl_->connections = std::make_unique<ConnectionTracker>(
        ConnectionLimits{.header_timeout = Poco::Timespan(o.header_timeout_seconds, 0),
                         .keep_alive = Poco::Timespan(o.keep_alive_seconds, 0)});
    impl_->pool = std::make_unique<Poco::ThreadPool>(2, o.threads);
    Poco::Net::TCPServerConnectionFactory::Ptr connections(new ConnectionFactory(
        new Factory(*impl_->observed, impl_->options, *impl_->connections, impl_->auth.get(),
                    Services{impl_->metrics, impl_->audit.get(), impl_->limits}),
        params, *impl_->connections));
    impl_->tcp = std::make_unique<Poco::Net::TCPServer>(connections, *impl_->pool, socket, params);
    impl_->tcp->start();
    impl_->listener = socket;
    impl_->port = socket.address().port();
  } catch (const Poco::Exception& e) {
    impl_->tcp.reset();
    impl_->pool.reset();
    impl_->connections.reset();
    return FailedPrecondition("cannot listen on " + o.bind + ":" + std::to_string(o.port) + ": " +
                              e.displayText());
  }
  return Status::Ok();
}

void Server::Stop(int grace_seconds) {
  if (!impl_->tcp) return;
  impl_->tcp->stop();           // accepts nothing more; connections not yet taken up are dropped
  impl_->listener.close();      // and new ones are refused, not left waiting in the backlog
  impl_->connections->Drain();  // idle kept-alive connections close now, the others after a reply
  size_t open = impl_->connections->count();
  if (open > 0)
    log::Info(
        "http", "finishing requests in flight",
        {{"connections", std::to_string(open)}, {"grace_seconds", std::to_string(grace_seconds)}});
  auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(std::max(grace_seconds, 0));
  if (!impl_->connections->WaitUntilClosed(deadline)) {
    log::Warn("http", "cutting off requests still running after the grace period",
              {{"connections", std::to_string(impl_->connections->count())}});
    impl_->stopping.request_stop();  // answers end now (their slots free), so their threads return
    impl_->connections->AbortAll();
  }
  impl_->pool->joinAll();
  impl_->tcp.reset();
  impl_->pool.reset();
  impl_->connections.reset();
}

uint16_t Server::port() const { return impl_->port; }

}  // namespace cloister::web
