#include "cloister/web/server.h"

#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include "cloister/web/json.h"
#include "fixtures/fixtures.h"

namespace cloister::web {
namespace {

struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
  Poco::JSON::Object::Ptr json;
};

class ServerTest : public testing::Test {
 protected:
  void SetUp() override {
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0});
    ASSERT_TRUE(server_->Start().ok());
    ASSERT_GT(server_->port(), 0);
  }
  void TearDown() override { server_.reset(); }

  Response Call(const std::string& method, const std::string& uri) {
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    session.sendRequest(request);
    Poco::Net::HTTPResponse response;
    std::istream& body = session.receiveResponse(response);
    std::string text;
    Poco::StreamCopier::copyToString(body, text);
    Response r;
    r.status = response.getStatus();
    r.content_type = response.getContentType();
    r.body = text;
    r.json = Poco::JSON::Parser().parse(text).extract<Poco::JSON::Object::Ptr>();
    return r;
  }

  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
};

TEST_F(ServerTest, HealthAnswersOkJson) {
  Response r = Call("GET", "/api/v1/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  EXPECT_EQ(r.json->getValue<std::string>("status"), "ok");
  EXPECT_FALSE(r.json->getValue<std::string>("version").empty());
}

TEST_F(ServerTest, StatusMatchesTheCliRendering) {
  Response r = Call("GET", "/api/v1/status");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.json->getValue<int>("documents"), 0);
  EXPECT_EQ(r.json->getValue<std::string>("retrieval_mode"), "lexical");
  auto report = kb_->Status();
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(r.body, StatusJson(*report));
}

TEST_F(ServerTest, UnknownPathIsJson404) {
  Response r = Call("GET", "/no/such/thing");
  EXPECT_EQ(r.status, 404);
  auto error = r.json->getObject("error");
  ASSERT_TRUE(error);
  EXPECT_EQ(error->getValue<std::string>("code"), "not_found");
  EXPECT_NE(error->getValue<std::string>("message").find("/no/such/thing"), std::string::npos);
}

TEST_F(ServerTest, WrongMethodIsJson405) {
  Response r = Call("DELETE", "/api/v1/health");
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(r.json->getObject("error")->getValue<std::string>("code"), "invalid_argument");
}

TEST_F(ServerTest, StopIsPromptAndIdempotent) {
  auto start = std::chrono::steady_clock::now();
  server_->Stop();
  server_->Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(HttpStatusForTest, MapsEveryCodeAsStyleSays) {
  EXPECT_EQ(HttpStatusFor(StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(StatusCode::kFailedPrecondition), 422);
  EXPECT_EQ(HttpStatusFor(StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(StatusCode::kDataLoss), 500);
  EXPECT_EQ(HttpStatusFor(StatusCode::kInternal), 500);
}

TEST(ServerStartTest, PortInUseIsFailedPreconditionNamingTheAddress) {
  fixtures::TempDir dir;
  app::Config config;
  config.data_dir = dir / "data";
  auto kb = app::KnowledgeBase::Open(config);
  ASSERT_TRUE(kb.ok());
  Server first(**kb, {.bind = "127.0.0.1", .port = 0});
  ASSERT_TRUE(first.Start().ok());
  Server second(**kb, {.bind = "127.0.0.1", .port = first.port()});
  Status s = second.Start();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find(std::to_string(first.port())), std::string::npos);
}

TEST(ErrorJsonTest, CarriesCodeMessageAndHint) {
  auto o = Poco::JSON::Parser().parse(ErrorJson(NotFound("no document 7"), "list documents"))
               .extract<Poco::JSON::Object::Ptr>();
  auto e = o->getObject("error");
  EXPECT_EQ(e->getValue<std::string>("code"), "not_found");
  EXPECT_EQ(e->getValue<std::string>("message"), "no document 7");
  EXPECT_EQ(e->getObject("details")->getValue<std::string>("hint"), "list documents");
}

}  // namespace
}  // namespace cloister::web
