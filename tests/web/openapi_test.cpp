// docs/openapi.json held to the server: it describes exactly the endpoints the server routes
// (Endpoints(), the routing table itself), and on a running server every described operation
// answers: its example request gets a documented 2xx whose JSON fits the response schema, and a
// malformed body gets the documented 400.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTMLForm.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StringPartSource.h>
#include <Poco/StreamCopier.h>
#include <Poco/String.h>
#include <Poco/URI.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>
#include <thread>

#include "cloister/app/accounts.h"
#include "cloister/web/auth.h"
#include "cloister/web/json.h"
#include "cloister/web/server.h"
#include "fixtures/fixtures.h"

namespace cloister::web {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

const char* const kMethods[] = {"get", "post", "put", "patch", "delete", "head", "options"};

Object::Ptr LoadSpec() {
  std::ifstream in(std::string(CLOISTER_SOURCE_DIR) + "/docs/openapi.json");
  std::stringstream text;
  text << in.rdbuf();
  return Poco::JSON::Parser().parse(text.str()).extract<Object::Ptr>();
}

bool IsObject(const Var& v) { return v.type() == typeid(Object::Ptr); }
bool IsArray(const Var& v) { return v.type() == typeid(Array::Ptr); }

// The JSON type names a value has ("integer" is also a "number").
std::set<std::string> JsonTypes(const Var& v) {
  if (v.isEmpty()) return {"null"};
  if (v.isBoolean()) return {"boolean"};
  if (v.isInteger()) return {"integer", "number"};
  if (v.isNumeric()) return {"number"};
  if (v.isString()) return {"string"};
  if (IsArray(v)) return {"array"};
  if (IsObject(v)) return {"object"};
  return {"?"};
}

// Checks values against the spec's schemas: $ref, oneOf, type (one or a list), const, enum,
// required, properties, additionalProperties, items. Enough to catch a field renamed, dropped,
// retyped or given a value the document does not list.
class SchemaChecker {
 public:
  explicit SchemaChecker(Object::Ptr spec) : spec_(std::move(spec)) {}

  void Check(const Var& value, Object::Ptr schema, const std::string& where,
             std::vector<std::string>* problems) const {
    if (schema->has("$ref")) schema = Resolve(schema->getValue<std::string>("$ref"));
    if (auto one_of = schema->getArray("oneOf")) {
      for (size_t i = 0; i < one_of->size(); ++i) {
        std::vector<std::string> branch;
        Check(value, one_of->getObject(static_cast<unsigned>(i)), where, &branch);
        if (branch.empty()) return;
      }
      problems->push_back(where + ": fits none of oneOf");
      return;
    }
    std::set<std::string> types = JsonTypes(value);
    if (schema->has("type")) {
      Var t = schema->get("type");
      std::vector<std::string> allowed;
      if (IsArray(t)) {
        for (const auto& x : *t.extract<Array::Ptr>()) allowed.push_back(x.toString());
      } else {
        allowed.push_back(t.toString());
      }
      bool fits = false;
      for (const auto& a : allowed) fits |= types.count(a) > 0;
      if (!fits)
        return problems->push_back(where + ": is " + *types.begin() + ", documented as " +
                                   t.toString());
    }
    if (schema->has("const") &&
        (value.isEmpty() || value.toString() != schema->get("const").toString())) {
      problems->push_back(where + ": is not " + schema->get("const").toString());
    }
    if (auto options = schema->getArray("enum")) {
      bool listed = false;
      for (const auto& x : *options)
        listed |=
            x.isEmpty() ? value.isEmpty() : !value.isEmpty() && x.toString() == value.toString();
      if (!listed)
        problems->push_back(where + ": '" + (value.isEmpty() ? "null" : value.toString()) +
                            "' is not in its enum");
    }
    if (IsObject(value)) CheckObject(*value.extract<Object::Ptr>(), *schema, where, problems);
    if (IsArray(value) && schema->has("items")) {
      auto items = value.extract<Array::Ptr>();
      for (size_t i = 0; i < items->size(); ++i) {
        Check(items->get(static_cast<unsigned>(i)), schema->getObject("items"),
              where + "[" + std::to_string(i) + "]", problems);
      }
    }
  }

  Object::Ptr Resolve(const std::string& ref) const {
    Object::Ptr at = spec_;
    std::istringstream parts(ref.substr(2));  // "#/components/schemas/X"
    for (std::string part; std::getline(parts, part, '/');) at = at->getObject(part);
    EXPECT_TRUE(at) << "unresolved " << ref;
    return at ? at : Object::Ptr(new Object);
  }

 private:
  void CheckObject(const Object& o, const Object& schema, const std::string& where,
                   std::vector<std::string>* problems) const {
    if (auto required = schema.getArray("required")) {
      for (const auto& name : *required) {
        if (!o.has(name.toString()))
          problems->push_back(where + ": lacks required '" + name.toString() + "'");
      }
    }
    auto properties = schema.getObject("properties");
    auto extra = schema.getObject("additionalProperties");
    for (const auto& [name, v] : o) {
      if (properties && properties->has(name)) {
        Check(v, properties->getObject(name), where + "." + name, problems);
      } else if (extra) {
        Check(v, extra, where + "." + name, problems);
      }
    }
  }

  Object::Ptr spec_;
};

TEST(OpenApiDocumentTest, DescribesEveryEndpointTheServerRoutesAndNoOther) {
  Object::Ptr spec = LoadSpec();
  EXPECT_EQ(spec->getValue<std::string>("openapi").rfind("3.1.", 0), 0u);
  std::set<std::string> routed, described;
  for (const auto& e : Endpoints()) {
    for (const auto& m : e.methods) routed.insert(Poco::toLower(m) + " " + e.path);
  }
  auto paths = spec->getObject("paths");
  for (const auto& [path, item] : *paths) {
    for (const char* m : kMethods) {
      if (item.extract<Object::Ptr>()->has(m)) described.insert(std::string(m) + " " + path);
    }
  }
  for (const auto& r : routed)
    EXPECT_TRUE(described.count(r)) << "routed but not in docs/openapi.json: " << r;
  for (const auto& d : described)
    EXPECT_TRUE(routed.count(d)) << "in docs/openapi.json but not routed: " << d;
}

TEST(OpenApiDocumentTest, EveryReferenceResolves) {
  Object::Ptr spec = LoadSpec();
  SchemaChecker checker(spec);
  std::function<void(const Var&)> walk = [&](const Var& v) {
    if (IsArray(v)) {
      for (const auto& x : *v.extract<Array::Ptr>()) walk(x);
    } else if (IsObject(v)) {
      for (const auto& [key, x] : *v.extract<Object::Ptr>()) {
        if (key == "$ref") checker.Resolve(x.toString());
        walk(x);
      }
    }
  };
  walk(Var(spec));
}

// A generated answer from stories260K cites nothing, so the server test never sees a source:
// an answer with a cited mail passage is checked here, as /api/v1/ask renders it.
TEST(OpenApiDocumentTest, AnAnswerWithSourcesFitsTheAnswerSchema) {
  app::Answer a;
  a.mode = "extractive";
  a.text = "Three months, in writing [1].";
  app::SearchHit hit{.chunk_id = 812,
                     .document_id = 31,
                     .path = "/data/uploads/1/lease.eml",
                     .title = "Lease",
                     .type = "email",
                     .name = "lease.pdf",
                     .parent_id = 30,
                     .page = 3,
                     .from = "legal@example.com",
                     .date = "2024-03-01",
                     .subject = "Lease",
                     .text = "Three months' notice, in writing."};
  a.sources.push_back({1, hit});
  a.sentences.push_back({a.text, {1}});
  a.search_mode = "lexical";
  a.stop = "end";
  Object::Ptr spec = LoadSpec();
  std::vector<std::string> problems;
  SchemaChecker(spec).Check(Poco::JSON::Parser().parse(AnswerJson(a)),
                            SchemaChecker(spec).Resolve("#/components/schemas/Answer"), "answer",
                            &problems);
  for (const auto& p : problems) ADD_FAILURE() << p << "\n" << AnswerJson(a);
}

struct Answer {
  int status = 0;
  std::string content_type;
  std::string body;
};

class OpenApiServerTest : public testing::Test {
 protected:
  void SetUp() override {
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    config.ingest.worker_binary = CLOISTER_BINARY;
    config.ingest.ocr = false;
    std::filesystem::create_directories(config.models_dir);
    std::filesystem::copy_file(fixtures::StoriesModel(), config.models_dir / "stories.gguf");
    std::filesystem::copy_file(fixtures::TinyEmbeddingModel(), config.models_dir / "embed.gguf");
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    // With authentication on, as a deployment runs: the examples log in as this administrator
    // (docs/openapi.json's login example) and every other call carries an API key.
    auto accounts = app::Accounts::Open(config);
    ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
    auto hash = HashPassword("correct horse battery");
    ASSERT_TRUE(hash.ok());
    ASSERT_TRUE((*accounts)->AddUser("admin", "admin", *hash).ok());
    auto key = MakeApiKey();
    ASSERT_TRUE(key.ok());
    ASSERT_TRUE((*accounts)->AddApiKey("admin", key->hash, key->prefix).ok());
    bearer_ = "Bearer " + key->key;
    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0, .auth = true});
    ASSERT_TRUE(server_->Start().ok());
  }

  Answer Send(const std::string& method, const std::string& target, const std::string& body) {
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request(Poco::toUpper(method), target, Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", bearer_);
    if (method == "post") {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    return Receive(session);
  }

  Answer Upload(const std::string& name, const std::string& text) {
    Poco::Net::HTMLForm form;
    form.setEncoding(Poco::Net::HTMLForm::ENCODING_MULTIPART);
    form.addPart("file", new Poco::Net::StringPartSource(text, "text/plain", name));
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request("POST", "/api/v1/documents", Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", bearer_);
    form.prepareSubmit(request);
    form.write(session.sendRequest(request));
    return Receive(session);
  }

  static Answer Receive(Poco::Net::HTTPClientSession& session) {
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Answer a;
    a.status = response.getStatus();
    a.content_type = response.getContentType().substr(0, response.getContentType().find(';'));
    Poco::StreamCopier::copyToString(in, a.body);
    return a;
  }

  static Object::Ptr Json(const Answer& a) {
    return Poco::JSON::Parser().parse(a.body).extract<Object::Ptr>();
  }

  fixtures::TempDir dir_;
  std::string bearer_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
};

TEST_F(OpenApiServerTest, EveryDescribedOperationAnswersAsDescribed) {
  Answer up =
      Upload("dog.txt", "The dog Max played in the park by the river every morning with Lily.");
  ASSERT_EQ(up.status, 202) << up.body;
  int64_t job = Json(up)->getArray("jobs")->getObject(0)->getValue<int64_t>("id");
  Object::Ptr state;
  for (int i = 0; i < 600; ++i) {
    state = Json(Send("get", "/api/v1/jobs/" + std::to_string(job), ""));
    if (state->getValue<std::string>("state") == "done" ||
        state->getValue<std::string>("state") == "failed")
      break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_EQ(state->getValue<std::string>("state"), "done");
  int64_t document = state->getValue<int64_t>("document_id");
  std::string model = Json(Send("get", "/v1/models", ""))
                          ->getArray("data")
                          ->getObject(0)
                          ->getValue<std::string>("id");

  Object::Ptr spec = LoadSpec();
  SchemaChecker checker(spec);
  std::vector<std::pair<std::string, std::string>>
      operations;  // deletes last: they remove the document
  for (const auto& [path, item] : *spec->getObject("paths")) {
    for (const char* m : kMethods) {
      if (item.extract<Object::Ptr>()->has(m)) operations.emplace_back(m, path);
    }
  }
  std::stable_partition(operations.begin(), operations.end(),
                        [](const auto& op) { return op.first != "delete"; });

  for (const auto& [method, path] : operations) {
    std::string what = Poco::toUpper(method) + " " + path;
    std::string target = path;
    std::string id = std::to_string(path.rfind("/api/v1/jobs/", 0) == 0 ? job : document);
    Poco::replaceInPlace(target, std::string("{id}"), id);
    Poco::replaceInPlace(target, std::string("{model}"), model);
    auto operation = spec->getObject("paths")->getObject(path)->getObject(method);
    if (auto parameters = operation->getArray("parameters")) {
      for (size_t i = 0; i < parameters->size(); ++i) {
        auto p = parameters->getObject(static_cast<unsigned>(i));
        if (p->getValue<std::string>("in") != "query" || !p->has("example")) continue;
        target += (target.find('?') == std::string::npos ? "?" : "&") +
                  p->getValue<std::string>("name") + "=";
        Poco::URI::encode(p->get("example").toString(), "&=+#", target);
      }
    }
    auto request_body = operation->getObject("requestBody");
    auto json_body =
        request_body ? request_body->getObject("content")->getObject("application/json") : nullptr;
    std::string body;
    if (json_body) {
      std::ostringstream example;
      json_body->get("example").extract<Object::Ptr>()->stringify(example);
      body = example.str();
    }
    Answer a = request_body && !json_body ? Upload("again.txt", "Lily had a red ball.")
                                          : Send(method, target, body);
    EXPECT_NE(a.status, 404) << what << ": " << a.body;
    EXPECT_NE(a.status, 405) << what << ": " << a.body;
    EXPECT_LT(a.status, 300) << what << ": the documented example failed: " << a.body;
    auto documented = operation->getObject("responses")->getObject(std::to_string(a.status));
    if (!documented) {
      ADD_FAILURE() << what << ": status " << a.status << " is not documented";
      continue;
    }
    auto content = documented->getObject("content");
    ASSERT_TRUE(content && content->has(a.content_type))
        << what << ": " << a.content_type << " is not documented";
    if (a.content_type != "application/json") continue;
    std::vector<std::string> problems;
    checker.Check(Poco::JSON::Parser().parse(a.body),
                  content->getObject(a.content_type)->getObject("schema"), "response", &problems);
    for (const auto& p : problems)
      ADD_FAILURE() << what << ": " << p << "\n" << a.body.substr(0, 2000);

    if (!json_body) continue;
    Answer bad = Send(method, target, "{\"broken\": ");
    EXPECT_EQ(bad.status, 400) << what;
    auto error = operation->getObject("responses")->getObject("400");
    ASSERT_TRUE(error) << what << ": 400 is not documented";
    if (error->has("$ref")) error = checker.Resolve(error->getValue<std::string>("$ref"));
    std::vector<std::string> error_problems;
    checker.Check(Poco::JSON::Parser().parse(bad.body),
                  error->getObject("content")->getObject("application/json")->getObject("schema"),
                  "error", &error_problems);
    for (const auto& p : error_problems)
      ADD_FAILURE() << what << " with a broken body: " << p << "\n" << bad.body;
  }
}

}  // namespace
}  // namespace cloister::web
