// The OpenAI-compatible API (/v1/) over real HTTP: a server on port 0 with a temporary data
// folder, tiny GGUF models, and Poco as the client.
#include <Poco/Base64Decoder.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "cloister/web/json.h"
#include "cloister/web/server.h"
#include "fixtures/fixtures.h"

namespace cloister::web {
namespace {

namespace fs = std::filesystem;
using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr char kQuestion[] = "After how many crossings does a loop become hot?";

struct Response {
  int status = 0;
  std::string content_type;
  std::string body;
  Object::Ptr json;
  std::string retry_after;
};

Object::Ptr ParseObject(const std::string& text) {
  return Poco::JSON::Parser().parse(text).extract<Object::Ptr>();
}

// The "data: ..." payloads of an event stream, in order ("[DONE]" included as text).
std::vector<std::string> DataLines(const std::string& stream) {
  std::vector<std::string> out;
  std::istringstream in(stream);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  }
  return out;
}

std::vector<float> Floats(const Array::Ptr& a) {
  std::vector<float> v;
  for (unsigned i = 0; i < a->size(); ++i)
    v.push_back(static_cast<float>(a->getElement<double>(i)));
  return v;
}

// What OpenAI's clients do with encoding_format base64: little-endian float32s.
std::vector<float> DecodeBase64Floats(const std::string& text) {
  std::istringstream in(text);
  Poco::Base64Decoder decoder(in);
  std::string bytes;
  Poco::StreamCopier::copyToString(decoder, bytes);
  std::vector<float> v(bytes.size() / 4);
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t bits = 0;
    for (int b = 0; b < 4; ++b)
      bits |= static_cast<uint32_t>(static_cast<unsigned char>(bytes[i * 4 + b])) << (8 * b);
    std::memcpy(&v[i], &bits, 4);
  }
  EXPECT_EQ(bytes.size() % 4, 0u);
  return v;
}

double Norm(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += static_cast<double>(x) * x;
  return std::sqrt(sum);
}

// The OpenAI error shape, whose four keys its clients read.
Object::Ptr ExpectOpenAiError(const Response& r, int status, const std::string& param = "") {
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_EQ(r.content_type, "application/json; charset=utf-8");
  if (!r.json || !r.json->getObject("error")) {
    ADD_FAILURE() << "no error object: " << r.body;
    return new Object;
  }
  auto e = r.json->getObject("error");
  for (const char* key : {"message", "type", "param", "code"})
    EXPECT_TRUE(e->has(key)) << key << " in " << r.body;
  EXPECT_FALSE(e->getValue<std::string>("message").empty());
  EXPECT_EQ(e->getValue<std::string>("type"),
            status >= 500 ? "server_error" : "invalid_request_error");
  if (!param.empty()) EXPECT_EQ(e->optValue<std::string>("param", ""), param) << r.body;
  return e;
}

class OpenAiApiTest : public testing::Test {
 protected:
  void SetUp() override {
    app::Config config;
    config.data_dir = dir_ / "data";
    config.models_dir = dir_ / "models";
    config.ingest.worker_binary = CLOISTER_BINARY;
    config.ingest.ocr = false;
    fs::create_directories(config.models_dir);
    if (with_chat_model_)
      fs::copy_file(fixtures::StoriesModel(), config.models_dir / "stories.gguf");
    if (with_embedding_model_)
      fs::copy_file(fixtures::TinyEmbeddingModel(), config.models_dir / "tiny-bert.gguf");
    config.answer.slots = slots_;
    config.answer.queue = queue_;
    auto kb = app::KnowledgeBase::Open(config);
    ASSERT_TRUE(kb.ok()) << kb.status().ToString();
    kb_ = std::move(kb).value();
    server_ = std::make_unique<Server>(*kb_, ServerOptions{.bind = "127.0.0.1", .port = 0});
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override { server_.reset(); }

  void IngestPaper() {
    auto r = kb_->Ingest({fixtures::SharedDir() / "corpus/pdfs/pdfjs/tracemonkey.pdf"}, {});
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ASSERT_TRUE(r->failed.empty());
  }

  Response Call(const std::string& method, const std::string& uri, const std::string& body = "") {
    Poco::Net::HTTPClientSession session("127.0.0.1", server_->port());
    Poco::Net::HTTPRequest request(method, uri, Poco::Net::HTTPMessage::HTTP_1_1);
    request.set("Authorization", "Bearer sk-anything");  // accepted and ignored
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
    r.content_type = response.getContentType();
    r.retry_after = response.get("Retry-After", "");
    if (r.content_type.rfind("application/json", 0) == 0) r.json = ParseObject(r.body);
    return r;
  }
  Response Chat(const std::string& body) { return Call("POST", "/v1/chat/completions", body); }
  Response Embed(const std::string& body) { return Call("POST", "/v1/embeddings", body); }

  // The sources /api/v1/ask gives for the same question, as text.
  std::string AskSources(const std::string& question, const app::AskOptions& options = {}) {
    auto answer = kb_->Ask(cloister::app::Caller::Everything(), question, options);
    EXPECT_TRUE(answer.ok()) << answer.status().ToString();
    if (!answer.ok()) return "";
    std::ostringstream out;
    ParseObject(AnswerJson(*answer))->getArray("sources")->stringify(out);
    return out.str();
  }

  bool with_chat_model_ = false;
  bool with_embedding_model_ = false;
  uint32_t slots_ = 4;
  uint32_t queue_ = 16;
  fixtures::TempDir dir_;
  std::unique_ptr<app::KnowledgeBase> kb_;
  std::unique_ptr<Server> server_;
};

class OpenAiEmbeddingTest : public OpenAiApiTest {
 protected:
  void SetUp() override {
    with_embedding_model_ = true;
    OpenAiApiTest::SetUp();
  }
};

class OpenAiChatModelTest : public OpenAiApiTest {
 protected:
  void SetUp() override {
    with_chat_model_ = true;
    OpenAiApiTest::SetUp();
  }
};

// ---- models ---------------------------------------------------------------------------------

TEST_F(OpenAiEmbeddingTest, ModelsListsTheExtractiveAnswererAndTheEmbeddingModel) {
  Response r = Call("GET", "/v1/models");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json->getValue<std::string>("object"), "list");
  auto data = r.json->getArray("data");
  ASSERT_EQ(data->size(), 2u) << r.body;
  EXPECT_EQ(data->getObject(0)->getValue<std::string>("id"), "cloister-extractive");
  EXPECT_EQ(data->getObject(1)->getValue<std::string>("id"), "tiny-bert.gguf");
  for (unsigned i = 0; i < data->size(); ++i) {
    auto m = data->getObject(i);
    EXPECT_EQ(m->getValue<std::string>("object"), "model");
    EXPECT_EQ(m->getValue<std::string>("owned_by"), "cloister");
    EXPECT_TRUE(m->has("created"));
  }
  EXPECT_GT(data->getObject(1)->getValue<int64_t>("created"), 1'600'000'000);  // the file's time
}

TEST_F(OpenAiChatModelTest, ModelsListsTheChatModelAndEachCanBeFetchedByIdUnknownIs404) {
  Response list = Call("GET", "/v1/models");
  ASSERT_EQ(list.status, 200) << list.body;
  ASSERT_EQ(list.json->getArray("data")->size(), 1u) << list.body;
  EXPECT_EQ(list.json->getArray("data")->getObject(0)->getValue<std::string>("id"), "stories.gguf");
  Response one = Call("GET", "/v1/models/stories.gguf");
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(one.json->getValue<std::string>("id"), "stories.gguf");
  EXPECT_EQ(one.json->getValue<std::string>("object"), "model");
  auto e = ExpectOpenAiError(Call("GET", "/v1/models/gpt-4o"), 404, "model");
  EXPECT_EQ(e->getValue<std::string>("code"), "model_not_found");
  ExpectOpenAiError(Call("GET", "/v1/models/cloister-extractive"), 404);  // a chat model answers
}

// ---- chat completions -----------------------------------------------------------------------

TEST_F(OpenAiApiTest, ChatCompletionWithoutAChatModelIsTheExtractiveAnswerWithItsSources) {
  IngestPaper();
  Response r =
      Chat(std::string(R"({"model": "gpt-4o-mini", "messages": [)") +
           R"({"role": "system", "content": "You are terse."}, {"role": "user", "content": ")" +
           kQuestion + R"("}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json->getValue<std::string>("object"), "chat.completion");
  EXPECT_EQ(r.json->getValue<std::string>("id").rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(r.json->getValue<std::string>("model"), "cloister-extractive");
  EXPECT_EQ(r.json->getValue<std::string>("mode"), "extractive");
  auto choice = r.json->getArray("choices")->getObject(0);
  EXPECT_EQ(choice->getValue<int>("index"), 0);
  EXPECT_EQ(choice->getValue<std::string>("finish_reason"), "stop");
  auto message = choice->getObject("message");
  EXPECT_EQ(message->getValue<std::string>("role"), "assistant");
  auto direct = kb_->Ask(cloister::app::Caller::Everything(), kQuestion, {});
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(message->getValue<std::string>("content"), direct->text);
  EXPECT_NE(direct->text.find("2 crossings"), std::string::npos) << direct->text;
  std::ostringstream sources;
  r.json->getArray("sources")->stringify(sources);
  EXPECT_EQ(sources.str(), AskSources(kQuestion));
  EXPECT_GT(r.json->getArray("sources")->size(), 0u);
  auto usage = r.json->getObject("usage");
  for (const char* key : {"prompt_tokens", "completion_tokens", "total_tokens"})
    EXPECT_TRUE(usage->has(key)) << key;
}

TEST_F(OpenAiApiTest, ContentAsTextPartsIsJoinedAndAnsweredAsTheSameQuestion) {
  IngestPaper();
  Response parts = Chat(R"({"messages": [{"role": "user", "content": [)"
                        R"({"type": "text", "text": "After how many crossings"},)"
                        R"({"type": "text", "text": "does a loop become hot?"}]}]})");
  ASSERT_EQ(parts.status, 200) << parts.body;
  auto direct = kb_->Ask(cloister::app::Caller::Everything(), "After how many crossings\ndoes a loop become hot?", {});
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(
      parts.json->getArray("choices")->getObject(0)->getObject("message")->getValue<std::string>(
          "content"),
      direct->text);
}

TEST_F(OpenAiApiTest, ExtractiveStreamIsRoleThenTheAnswerThenFinishWithSourcesThenDone) {
  IngestPaper();
  std::string messages = std::string(R"([{"role": "user", "content": ")") + kQuestion + R"("}])";
  Response whole = Chat(R"({"messages": )" + messages + "}");
  ASSERT_EQ(whole.status, 200) << whole.body;
  Response r = Chat(R"({"stream": true, "messages": )" + messages + "}");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, "text/event-stream; charset=utf-8");
  auto lines = DataLines(r.body);
  ASSERT_GE(lines.size(), 4u) << r.body;
  EXPECT_EQ(lines.back(), "[DONE]");
  auto first = ParseObject(lines.front());
  EXPECT_EQ(
      first->getArray("choices")->getObject(0)->getObject("delta")->getValue<std::string>("role"),
      "assistant");
  std::string joined;
  for (size_t i = 1; i + 2 < lines.size(); ++i) {
    auto chunk = ParseObject(lines[i]);
    EXPECT_TRUE(chunk->getArray("choices")->getObject(0)->isNull("finish_reason"));
    joined += chunk->getArray("choices")->getObject(0)->getObject("delta")->getValue<std::string>(
        "content");
  }
  EXPECT_EQ(
      joined,
      whole.json->getArray("choices")->getObject(0)->getObject("message")->getValue<std::string>(
          "content"));
  auto last = ParseObject(lines[lines.size() - 2]);
  EXPECT_EQ(last->getArray("choices")->getObject(0)->getValue<std::string>("finish_reason"),
            "stop");
  EXPECT_EQ(last->getValue<std::string>("mode"), "extractive");
  std::ostringstream sources;
  last->getArray("sources")->stringify(sources);
  EXPECT_EQ(sources.str(), AskSources(kQuestion));
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    auto chunk = ParseObject(lines[i]);
    EXPECT_EQ(chunk->getValue<std::string>("object"), "chat.completion.chunk");
    EXPECT_EQ(chunk->getValue<std::string>("id"), first->getValue<std::string>("id"));
    EXPECT_EQ(chunk->getValue<std::string>("model"), "cloister-extractive");
  }
}

TEST_F(OpenAiChatModelTest, GeneratedCompletionReportsUsageAndLengthWhenMaxTokensStopsIt) {
  IngestPaper();
  Response r = Chat(
      std::string(R"({"model": "stories.gguf", "max_tokens": 8, "temperature": 0, "seed": 7,)") +
      R"("messages": [{"role": "user", "content": "What is a trace tree?"},)"
      R"({"role": "assistant", "content": "A tree of traces [1]."},)"
      R"({"role": "user", "content": ")" +
      kQuestion + R"("}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json->getValue<std::string>("model"), "stories.gguf");
  EXPECT_EQ(r.json->getValue<std::string>("mode"), "generated");
  auto usage = r.json->getObject("usage");
  int completion = usage->getValue<int>("completion_tokens");
  EXPECT_GT(completion, 0);
  EXPECT_LE(completion, 8);
  EXPECT_GT(usage->getValue<int>("prompt_tokens"), 0);
  EXPECT_EQ(usage->getValue<int>("total_tokens"),
            usage->getValue<int>("prompt_tokens") + completion);
  auto choice = r.json->getArray("choices")->getObject(0);
  EXPECT_EQ(choice->getValue<std::string>("finish_reason"), completion == 8 ? "length" : "stop");
  EXPECT_TRUE(r.json->getArray("sources"));
}

TEST_F(OpenAiChatModelTest, GeneratedStreamSendsDeltasFinishSourcesUsageAndDone) {
  IngestPaper();
  Response r =
      Chat(std::string(
               R"({"stream": true, "stream_options": {"include_usage": true}, "max_tokens": 24,)") +
           R"("messages": [{"role": "user", "content": ")" + kQuestion + R"("}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto lines = DataLines(r.body);
  ASSERT_GE(lines.size(), 5u) << r.body;
  ASSERT_EQ(lines.back(), "[DONE]");
  EXPECT_EQ(ParseObject(lines[0])
                ->getArray("choices")
                ->getObject(0)
                ->getObject("delta")
                ->getValue<std::string>("role"),
            "assistant");
  std::string joined;
  size_t i = 1;
  for (; i < lines.size(); ++i) {
    auto choice = ParseObject(lines[i])->getArray("choices")->getObject(0);
    if (!choice->isNull("finish_reason")) break;
    joined += choice->getObject("delta")->getValue<std::string>("content");
  }
  EXPECT_GT(i, 2u);  // several deltas
  EXPECT_FALSE(joined.empty());
  ASSERT_EQ(lines.size(), i + 3) << r.body;  // finish, usage, [DONE]
  auto finish = ParseObject(lines[i]);
  std::string reason =
      finish->getArray("choices")->getObject(0)->getValue<std::string>("finish_reason");
  EXPECT_TRUE(reason == "stop" || reason == "length") << reason;
  EXPECT_EQ(finish->getValue<std::string>("mode"), "generated");
  EXPECT_TRUE(finish->getArray("sources"));
  auto usage = ParseObject(lines[i + 1]);
  EXPECT_EQ(usage->getArray("choices")->size(), 0u);
  int completion = usage->getObject("usage")->getValue<int>("completion_tokens");
  EXPECT_GT(completion, 0);
  EXPECT_EQ(reason, completion == 24 ? "length" : "stop");
}

TEST_F(OpenAiApiTest, BadChatRequestsAre400sInOpenAiShapeNamingTheField) {
  ExpectOpenAiError(Chat("{not json"), 400);
  ExpectOpenAiError(Chat("[1, 2]"), 400);
  ExpectOpenAiError(Chat(R"({"model": "x"})"), 400, "messages");
  ExpectOpenAiError(Chat(R"({"messages": []})"), 400, "messages");
  ExpectOpenAiError(Chat(R"({"messages": "hello"})"), 400, "messages");
  ExpectOpenAiError(Chat(R"({"messages": [{"role": "system", "content": "only rules"}]})"), 400,
                    "messages");
  ExpectOpenAiError(Chat(R"({"messages": [{"role": "user", "content": "  "}]})"), 400, "messages");
  ExpectOpenAiError(Chat(R"({"messages": [{"role": "user", "content": null}]})"), 400, "messages");
  ExpectOpenAiError(Chat(R"({"messages": [{"role": "wizard", "content": "hi"}]})"), 400,
                    "messages[0].role");
  ExpectOpenAiError(Chat(R"({"messages": [{"role": "user", "content": 42}]})"), 400,
                    "messages[0].content");
  ExpectOpenAiError(
      Chat(
          R"({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]})"),
      400, "messages[0].content[0]");
  const std::string user = R"("messages": [{"role": "user", "content": "hi"}])";
  ExpectOpenAiError(Chat(R"({"temperature": "hot", )" + user + "}"), 400, "temperature");
  ExpectOpenAiError(Chat(R"({"temperature": 3, )" + user + "}"), 400, "temperature");
  ExpectOpenAiError(Chat(R"({"max_tokens": 0, )" + user + "}"), 400, "max_tokens");
  ExpectOpenAiError(Chat(R"({"max_completion_tokens": 1.5, )" + user + "}"), 400,
                    "max_completion_tokens");
  ExpectOpenAiError(Chat(R"({"stream": "yes", )" + user + "}"), 400, "stream");
  ExpectOpenAiError(Chat(R"({"n": 2, )" + user + "}"), 400, "n");
  ExpectOpenAiError(Chat(R"({"model": 4, )" + user + "}"), 400, "model");
  ExpectOpenAiError(Chat("{\"x\": \"" + std::string(2 << 20, 'x') + "\"}"), 413);
  ExpectOpenAiError(Call("GET", "/v1/chat/completions"), 405);
  auto unknown = ExpectOpenAiError(Call("POST", "/v1/completions", "{}"), 404);
  EXPECT_EQ(unknown->getValue<std::string>("code"), "unknown_url");
  // Ignored parameters are accepted, as is any model name.
  Response ok =
      Chat(R"({"model": "gpt-4o", "top_p": 0.5, "stop": ["\n"], "user": "u1", )" + user + "}");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

class OpenAiBusyTest : public OpenAiApiTest {
 protected:
  void SetUp() override {
    with_chat_model_ = true;
    slots_ = 1;
    queue_ = 0;
    OpenAiApiTest::SetUp();
  }
};

// One slot, no queue: the answers beyond it are refused at once with a 503, Retry-After and
// OpenAI's error shape, which its clients retry.
TEST_F(OpenAiBusyTest, CompletionsBeyondTheSlotsAre503WithRetryAfter) {
  IngestPaper();
  std::vector<Response> replies(3);
  std::vector<std::thread> clients;
  for (auto& reply : replies) {
    clients.emplace_back([&] {
      reply =
          Chat(std::string(R"({"max_tokens": 300, "messages": [{"role": "user", "content": ")") +
               kQuestion + R"("}]})");
    });
  }
  for (auto& c : clients) c.join();
  int ok = 0, busy = 0;
  for (const auto& r : replies) {
    if (r.status == 200) ++ok;
    if (r.status == 503) {
      ++busy;
      EXPECT_EQ(r.retry_after, "2");
      EXPECT_EQ(ExpectOpenAiError(r, 503)->getValue<std::string>("code"), "unavailable");
    }
  }
  EXPECT_EQ(ok + busy, 3);
  EXPECT_GE(ok, 1);
  EXPECT_GE(busy, 1);
}

// ---- embeddings -----------------------------------------------------------------------------

TEST_F(OpenAiEmbeddingTest, EmbeddingsAreTheModelsUnitVectorsInOrder) {
  Response r = Embed(
      R"({"model": "tiny-bert.gguf", "input": ["refund policy", "parking", "refund policy"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json->getValue<std::string>("object"), "list");
  EXPECT_EQ(r.json->getValue<std::string>("model"), "tiny-bert.gguf");
  auto data = r.json->getArray("data");
  ASSERT_EQ(data->size(), 3u);
  auto direct = kb_->Embed({"refund policy", "parking", "refund policy"}, false);
  ASSERT_TRUE(direct.ok()) << direct.status().ToString();
  for (unsigned i = 0; i < data->size(); ++i) {
    auto item = data->getObject(i);
    EXPECT_EQ(item->getValue<std::string>("object"), "embedding");
    EXPECT_EQ(item->getValue<int>("index"), static_cast<int>(i));
    std::vector<float> v = Floats(item->getArray("embedding"));
    ASSERT_EQ(v.size(), static_cast<size_t>(fixtures::kTinyEmbeddingDimension));
    EXPECT_NEAR(Norm(v), 1.0, 1e-4);
    for (size_t j = 0; j < v.size(); ++j)
      EXPECT_FLOAT_EQ(v[j], direct->vectors[i][j]) << i << "," << j;
  }
  EXPECT_NE(Floats(data->getObject(0)->getArray("embedding")),
            Floats(data->getObject(1)->getArray("embedding")));
  auto usage = r.json->getObject("usage");
  EXPECT_EQ(usage->getValue<int64_t>("prompt_tokens"), direct->tokens);
  EXPECT_EQ(usage->getValue<int64_t>("total_tokens"), direct->tokens);
}

TEST_F(OpenAiEmbeddingTest, Base64EncodingDecodesToTheSameFloats) {
  Response floats = Embed(
      R"({"input": "After how many crossings does a loop become hot?", "encoding_format": "float"})");
  Response base64 = Embed(
      R"({"input": "After how many crossings does a loop become hot?", "encoding_format": "base64"})");
  ASSERT_EQ(floats.status, 200) << floats.body;
  ASSERT_EQ(base64.status, 200) << base64.body;
  std::vector<float> expected =
      Floats(floats.json->getArray("data")->getObject(0)->getArray("embedding"));
  std::string encoded =
      base64.json->getArray("data")->getObject(0)->getValue<std::string>("embedding");
  EXPECT_EQ(encoded.find('\n'), std::string::npos);
  std::vector<float> decoded = DecodeBase64Floats(encoded);
  ASSERT_EQ(decoded.size(), expected.size());
  ASSERT_EQ(decoded.size(), static_cast<size_t>(fixtures::kTinyEmbeddingDimension));
  for (size_t i = 0; i < decoded.size(); ++i) EXPECT_FLOAT_EQ(decoded[i], expected[i]) << i;
}

TEST_F(OpenAiEmbeddingTest, ModelDimensionsAndInputAreCheckedStrictly) {
  const std::string input = R"("input": "refund")";
  EXPECT_EQ(Embed(R"({"model": "cloister", )" + input + "}").status, 200);
  EXPECT_EQ(Embed(R"({"model": "tiny-bert", )" + input + "}").status, 200);
  EXPECT_EQ(Embed(R"({"dimensions": 64, )" + input + "}").status, 200);
  auto model = ExpectOpenAiError(Embed(R"({"model": "text-embedding-3-small", )" + input + "}"),
                                 404, "model");
  EXPECT_EQ(model->getValue<std::string>("code"), "model_not_found");
  EXPECT_NE(model->getValue<std::string>("message").find("tiny-bert.gguf"), std::string::npos);
  auto dims = ExpectOpenAiError(Embed(R"({"dimensions": 256, )" + input + "}"), 400, "dimensions");
  EXPECT_NE(dims->getValue<std::string>("message").find("64"), std::string::npos);
  auto tokens = ExpectOpenAiError(Embed(R"({"input": [101, 2023, 102]})"), 400, "input");
  EXPECT_NE(tokens->getValue<std::string>("message").find("token arrays are not supported"),
            std::string::npos);
  ExpectOpenAiError(Embed(R"({"input": [[101, 2023], [102]]})"), 400, "input");
  ExpectOpenAiError(Embed(R"({"model": "tiny-bert.gguf"})"), 400, "input");
  ExpectOpenAiError(Embed(R"({"input": []})"), 400, "input");
  ExpectOpenAiError(Embed(R"({"input": ["a", ""]})"), 400, "input");
  ExpectOpenAiError(Embed(R"({"input": ["a", {"text": "b"}]})"), 400, "input");
  ExpectOpenAiError(Embed(R"({"encoding_format": "int8", )" + input + "}"), 400, "encoding_format");
  ExpectOpenAiError(Embed(R"({"input_type": "passage", )" + input + "}"), 400, "input_type");
  std::string many = R"({"input": [)";
  for (int i = 0; i < 2049; ++i) many += std::string(i ? "," : "") + "\"x\"";
  ExpectOpenAiError(Embed(many + "]}"), 400, "input");
  ExpectOpenAiError(Embed("{oops"), 400);
  ExpectOpenAiError(Call("GET", "/v1/embeddings"), 405);
}

TEST_F(OpenAiApiTest, EmbeddingsWithoutAnEmbeddingModelAre400SayingSo) {
  auto e = ExpectOpenAiError(Embed(R"({"input": "refund"})"), 400, "model");
  EXPECT_EQ(e->getValue<std::string>("code"), "no_embedding_model");
  EXPECT_NE(e->getValue<std::string>("message").find("embedding model"), std::string::npos);
}

}  // namespace
}  // namespace cloister::web
