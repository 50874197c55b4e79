// Authentication over real HTTP: logins and sessions, CSRF, API keys, throttling, roles, and
// everything open when it is off.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cloister/app/accounts.h"
#include "cloister/web/auth.h"
#include "cloister/web/server.h"
#include "fixtures/fixtures.h"
#include "raw_http.h"

namespace cloister::web {
namespace {

struct Response {
  int status = 0;
  std::string body;
  Poco::JSON::Object::Ptr json;
  std::string retry_after;
  std::vector<std::string> set_cookies;
  std::string ErrorCode() const {
    auto error = json ? json->getObject("error") : nullptr;
    return error ? error->optValue<std::string>("code", "") : "";
  }
};

using Headers = std::map<std::string, std::string>;

class AuthTest : public testing::Test {
 protected:
  void SetUp() override {
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    config.ingest.worker_binary = CLOISTER_BINARY;
    std::filesystem::create_directories(config.models_dir);
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    auto accounts = app::Accounts::Open(config);
    ASSERT_TRUE(accounts.ok()) << accounts.status().ToString();
    accounts_ = std::move(accounts).value();
    AddUser("alice", "admin", "correct horse");
    AddUser("bob", "user", "battery staple");
    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0, .auth = auth_});
    ASSERT_TRUE(server_->Start().ok());
  }

  void AddUser(const std::string& name, const std::string& role, const std::string& password) {
    auto hash = HashPassword(password);
    ASSERT_TRUE(hash.ok()) << hash.status().ToString();
    ASSERT_TRUE(accounts_->AddUser(name, role, *hash).ok());
  }

  std::string NewKey(const std::string& user, int64_t* id = nullptr) {
    auto key = MakeApiKey();
    EXPECT_TRUE(key.ok());
    auto info = accounts_->AddApiKey(user, key->hash, key->prefix);
    EXPECT_TRUE(info.ok()) << info.status().ToString();
    if (id) *id = info->id;
    return key->key;
  }

  Response Call(const std::string& method, const std::string& uri, const std::string& body = "",
                const Headers& headers = {}) {
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    for (const auto& [k, v] : headers) request.set(k, v);
    if (!body.empty()) {
      request.setContentType("application/json");
      request.setContentLength(static_cast<std::streamsize>(body.size()));
    }
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    Response r;
    Poco::StreamCopier::copyToString(in, r.body);
    r.status = response.getStatus();
    r.retry_after = response.get("Retry-After", "");
    for (auto it = response.find("Set-Cookie"); it != response.end() && it->first == "Set-Cookie"; ++it) {
      r.set_cookies.push_back(it->second);
    }
    if (response.getContentType().rfind("application/json", 0) == 0 && !r.body.empty()) {
      r.json = Poco::JSON::Parser().parse(r.body).extract<Poco::JSON::Object::Ptr>();
    }
    return r;
  }

  Response Login(const std::string& name, const std::string& password) {
    return Call("POST", "/api/v1/login",
                R"({"name": ")" + name + R"(", "password": ")" + password + R"("})");
  }

  // Logs in and returns the Cookie header value and the CSRF token.
  std::pair<std::string, std::string> Session(const std::string& name, const std::string& password) {
    Response r = Login(name, password);
    EXPECT_EQ(r.status, 200) << r.body;
    if (r.status != 200 || r.set_cookies.empty()) return {};
    std::string cookie = r.set_cookies[0].substr(0, r.set_cookies[0].find(';'));
    return {cookie, r.json->getValue<std::string>("csrf_token")};
  }

  bool auth_ = true;
  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<app::Accounts> accounts_;
  std::unique_ptr<Server> server_;
};

TEST_F(AuthTest, ProtectedRoutesAnswer401JsonWithoutCredentials) {
  for (const auto& [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/api/v1/status"},
           {"GET", "/api/v1/documents"},
           {"GET", "/api/v1/search?q=x"},
           {"POST", "/api/v1/ask"},
           {"DELETE", "/api/v1/documents/1"},
           {"GET", "/api/v1/me"}}) {
    Response r = Call(method, path, method == "POST" ? R"({"question": "x"})" : "");
    EXPECT_EQ(r.status, 401) << method << " " << path << ": " << r.body;
    EXPECT_EQ(r.ErrorCode(), "unauthenticated") << path;
  }
  Response models = Call("GET", "/v1/models");
  EXPECT_EQ(models.status, 401);
  EXPECT_EQ(models.json->getObject("error")->getValue<std::string>("type"), "invalid_request_error");
}

TEST_F(AuthTest, HealthLoginAndTheUiStayPublic) {
  EXPECT_EQ(Call("GET", "/api/v1/health").status, 200);
  EXPECT_EQ(Call("GET", "/").status, 200);
  EXPECT_EQ(Call("GET", "/app.js").status, 200);
  EXPECT_EQ(Login("alice", "wrong password").status, 401);
}

TEST_F(AuthTest, LoginSetsAStrictHttpOnlyCookieAndMeNamesTheUser) {
  Response r = Login("alice", "correct horse");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json->getValue<std::string>("user"), "alice");
  EXPECT_EQ(r.json->getValue<std::string>("role"), "admin");
  std::string csrf = r.json->getValue<std::string>("csrf_token");
  EXPECT_GE(csrf.size(), 40u);
  ASSERT_EQ(r.set_cookies.size(), 1u);
  const std::string& cookie = r.set_cookies[0];
  EXPECT_EQ(cookie.rfind("cloister_session=", 0), 0u) << cookie;
  EXPECT_NE(cookie.find("HttpOnly"), std::string::npos);
  EXPECT_NE(cookie.find("SameSite=Strict"), std::string::npos);
  EXPECT_NE(cookie.find("Path=/"), std::string::npos);
  EXPECT_EQ(cookie.find("Secure"), std::string::npos);  // plain HTTP here

  std::string pair = cookie.substr(0, cookie.find(';'));
  Response me = Call("GET", "/api/v1/me", "", {{"Cookie", pair}});
  ASSERT_EQ(me.status, 200) << me.body;
  EXPECT_EQ(me.json->getValue<std::string>("user"), "alice");
  EXPECT_EQ(me.json->getValue<std::string>("via"), "session");
  EXPECT_EQ(me.json->getValue<std::string>("csrf_token"), csrf);
  EXPECT_EQ(Call("GET", "/api/v1/status", "", {{"Cookie", pair}}).status, 200);
}

TEST_F(AuthTest, WrongPasswordsAndUnknownUsersAreTheSame401) {
  Response wrong = Login("alice", "not her password");
  Response unknown = Login("mallory", "not her password");
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(wrong.body, unknown.body);
  EXPECT_TRUE(wrong.set_cookies.empty());
  EXPECT_EQ(Login("alice", "").status, 400);
}

TEST_F(AuthTest, LogoutEndsTheSessionOnTheServer) {
  auto [cookie, csrf] = Session("bob", "battery staple");
  Response out = Call("POST", "/api/v1/logout", "", {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  ASSERT_EQ(out.status, 200) << out.body;
  ASSERT_EQ(out.set_cookies.size(), 1u);
  EXPECT_NE(out.set_cookies[0].find("Max-Age=0"), std::string::npos);
  // The old cookie, replayed, is refused.
  EXPECT_EQ(Call("GET", "/api/v1/me", "", {{"Cookie", cookie}}).status, 401);
}

TEST_F(AuthTest, CookieRequestsThatChangeStateNeedTheCsrfToken) {
  auto [cookie, csrf] = Session("bob", "battery staple");
  std::string body = R"({"query": "anything"})";
  Response none = Call("POST", "/api/v1/search", body, {{"Cookie", cookie}});
  EXPECT_EQ(none.status, 403);
  EXPECT_EQ(none.ErrorCode(), "csrf");
  Response wrong = Call("POST", "/api/v1/search", body, {{"Cookie", cookie}, {"X-CSRF-Token", csrf + "x"}});
  EXPECT_EQ(wrong.status, 403);
  Response right = Call("POST", "/api/v1/search", body, {{"Cookie", cookie}, {"X-CSRF-Token", csrf}});
  EXPECT_EQ(right.status, 200) << right.body;
  // Reading needs none.
  EXPECT_EQ(Call("GET", "/api/v1/search?q=anything", "", {{"Cookie", cookie}}).status, 200);
  // Logging out with a live session needs it too: no other site can log a user out.
  EXPECT_EQ(Call("POST", "/api/v1/logout", "", {{"Cookie", cookie}}).status, 403);
}

TEST_F(AuthTest, ApiKeysNeedNoCsrfAndRevokedOrUnknownKeysAreRefused) {
  int64_t id = 0;
  std::string key = NewKey("bob", &id);
  EXPECT_EQ(key.rfind("ck_", 0), 0u);
  Headers bearer = {{"Authorization", "Bearer " + key}};
  Response search = Call("POST", "/api/v1/search", R"({"query": "anything"})", bearer);
  EXPECT_EQ(search.status, 200) << search.body;
  Response me = Call("GET", "/api/v1/me", "", bearer);
  EXPECT_EQ(me.json->getValue<std::string>("user"), "bob");
  EXPECT_EQ(me.json->getValue<std::string>("via"), "api_key");
  EXPECT_FALSE(me.json->has("csrf_token"));
  EXPECT_EQ(Call("GET", "/v1/models", "", bearer).status, 200);

  EXPECT_EQ(Call("GET", "/api/v1/status", "", {{"Authorization", "Bearer " + key + "x"}}).status, 401);
  EXPECT_EQ(Call("GET", "/api/v1/status", "", {{"Authorization", "Basic Ym9iOng="}}).status, 401);
  ASSERT_TRUE(accounts_->RevokeApiKey(id).ok());
  EXPECT_EQ(Call("GET", "/api/v1/status", "", bearer).status, 401);
  Response openai = Call("GET", "/v1/models", "", bearer);
  EXPECT_EQ(openai.status, 401);
  EXPECT_EQ(openai.json->getObject("error")->getValue<std::string>("code"), "invalid_api_key");
}

TEST_F(AuthTest, DeletingDocumentsIsForAdmins) {
  Headers bob = {{"Authorization", "Bearer " + NewKey("bob")}};
  Headers alice = {{"Authorization", "Bearer " + NewKey("alice")}};
  Response refused = Call("DELETE", "/api/v1/documents/12345", "", bob);
  EXPECT_EQ(refused.status, 403);
  EXPECT_EQ(refused.ErrorCode(), "forbidden");
  EXPECT_EQ(Call("DELETE", "/api/v1/documents/12345", "", alice).status, 404);  // let through
}

TEST_F(AuthTest, RepeatedFailuresAreThrottledWithRetryAfterEvenForTheRightPassword) {
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Login("bob", "guess " + std::to_string(i)).status, 401);
  Response locked = Login("bob", "battery staple");
  EXPECT_EQ(locked.status, 429) << locked.body;
  EXPECT_EQ(locked.ErrorCode(), "too_many_requests");
  ASSERT_FALSE(locked.retry_after.empty());
  EXPECT_GE(std::stoi(locked.retry_after), 1);
  EXPECT_TRUE(locked.set_cookies.empty());
}

TEST_F(AuthTest, ADisabledOrDeletedUsersKeysStopWorking) {
  std::string key = NewKey("bob");
  Headers bearer = {{"Authorization", "Bearer " + key}};
  EXPECT_EQ(Call("GET", "/api/v1/status", "", bearer).status, 200);
  ASSERT_TRUE(accounts_->DeleteUser("bob").ok());
  EXPECT_EQ(Call("GET", "/api/v1/status", "", bearer).status, 401);
}

TEST_F(AuthTest, AChangedPasswordEndsSessions) {
  auto [cookie, csrf] = Session("bob", "battery staple");
  auto hash = HashPassword("a new password");
  ASSERT_TRUE(hash.ok());
  ASSERT_TRUE(accounts_->SetPassword("bob", *hash).ok());
  EXPECT_EQ(Call("GET", "/api/v1/me", "", {{"Cookie", cookie}}).status, 401);
  EXPECT_EQ(Login("bob", "battery staple").status, 401);
  EXPECT_EQ(Login("bob", "a new password").status, 200);
}

TEST_F(AuthTest, ARefusedRequestsUnreadBodyClosesTheConnectionInsteadOfBecomingTheNextRequest) {
  Poco::Net::StreamSocket socket = rawhttp::Connect(server_->port());
  std::string body = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";  // smuggled
  ASSERT_TRUE(rawhttp::SendAll(socket, "POST /api/v1/search HTTP/1.1\r\nHost: x\r\n"
                                       "Content-Type: application/json\r\nContent-Length: " +
                                           std::to_string(body.size()) + "\r\n\r\n" + body));
  std::string carry;
  rawhttp::RawResponse first = rawhttp::ReadResponse(socket, std::chrono::seconds(10), &carry);
  EXPECT_EQ(first.status, 401);
  EXPECT_NE(first.headers.find("connection: close"), std::string::npos) << first.headers;
  rawhttp::RawResponse second = rawhttp::ReadResponse(socket, std::chrono::seconds(5), &carry);
  EXPECT_EQ(second.status, 0) << "the body was answered as a request";
}

TEST_F(AuthTest, AWeakerOldHashIsUpgradedAtLogin) {
  char weak[crypto_pwhash_STRBYTES];
  std::string password = "an old password";
  ASSERT_EQ(crypto_pwhash_str(weak, password.data(), password.size(), crypto_pwhash_OPSLIMIT_MIN,
                              crypto_pwhash_MEMLIMIT_MIN),
            0);
  ASSERT_TRUE(accounts_->AddUser("carol", "user", weak).ok());
  ASSERT_TRUE(PasswordNeedsRehash(weak));
  ASSERT_EQ(Login("carol", password).status, 200);
  auto stored = accounts_->FindCredentials("carol");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_NE((*stored)->password_hash, weak);
  EXPECT_FALSE(PasswordNeedsRehash((*stored)->password_hash));
  EXPECT_EQ(Login("carol", password).status, 200);
}

class NoAuthTest : public AuthTest {
 protected:
  void SetUp() override {
    auth_ = false;
    AuthTest::SetUp();
  }
};

TEST_F(NoAuthTest, WithAuthOffEverythingIsOpenAndMeSaysSo) {
  EXPECT_EQ(Call("GET", "/api/v1/status").status, 200);
  EXPECT_EQ(Call("POST", "/api/v1/search", R"({"query": "x"})").status, 200);
  EXPECT_EQ(Call("GET", "/v1/models").status, 200);
  Response me = Call("GET", "/api/v1/me");
  EXPECT_EQ(me.status, 200);
  EXPECT_FALSE(me.json->getValue<bool>("auth"));
  EXPECT_EQ(Login("alice", "correct horse").status, 422);
}

TEST(AuthSecretsTest, PasswordsHashWithArgon2idAndVerify) {
  auto hash = HashPassword("correct horse");
  ASSERT_TRUE(hash.ok());
  EXPECT_EQ(hash->rfind("$argon2id$", 0), 0u) << *hash;
  EXPECT_TRUE(VerifyPassword(*hash, "correct horse"));
  EXPECT_FALSE(VerifyPassword(*hash, "correct horsE"));
  EXPECT_FALSE(VerifyPassword("not a hash", "correct horse"));
  EXPECT_FALSE(PasswordNeedsRehash(*hash));
  EXPECT_EQ(HashPassword("short").status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(*HashPassword("correct horse"), *hash);  // salted
}

TEST(AuthSecretsTest, ApiKeysCarryTheirPrefixAndAreStoredAsSha256) {
  auto key = MakeApiKey();
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->prefix.size(), 8u);
  EXPECT_EQ(key->key.rfind("ck_" + key->prefix + "_", 0), 0u);
  EXPECT_EQ(key->key.size(), 3 + 8 + 1 + 43u);
  EXPECT_EQ(key->hash, HashToken(key->key));
  EXPECT_EQ(HashToken("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_NE(MakeApiKey()->key, key->key);
}

}  // namespace
}  // namespace cloister::web
