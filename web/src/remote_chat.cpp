#include "cloister/web/remote_chat.h"

#include <Poco/Exception.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Parser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/URI.h>

#include <algorithm>
#include <chrono>
#include <istream>
#include <sstream>

#include "cloister/core/log.h"
#include "json_util.h"

namespace cloister::web {
namespace {

using Clock = std::chrono::steady_clock;

std::string ReadAll(std::istream& in, size_t limit = 1 << 20) {
  std::string body;
  char buf[4096];
  while (body.size() < limit && in.read(buf, sizeof buf).gcount() > 0) body.append(buf, static_cast<size_t>(in.gcount()));
  return body;
}

class RemoteChat final : public app::ChatBackend {
 public:
  RemoteChat(RemoteChatOptions options, std::string host, uint16_t port)
      : options_(std::move(options)), host_(std::move(host)), port_(port) {}

  std::string name() const override { return options_.model + " at " + options_.url; }
  uint32_t context_tokens() const override { return options_.context_tokens; }
  uint32_t CountTokens(std::string_view text) const override {
    return static_cast<uint32_t>((text.size() + 2) / 3);
  }

  Result<std::vector<std::string>> ListModels() const {
    try {
      auto session = Session();
      Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_GET, "/v1/models", Poco::Net::HTTPMessage::HTTP_1_1);
      Authorize(req);
      session->sendRequest(req);
      Poco::Net::HTTPResponse res;
      std::istream& in = session->receiveResponse(res);
      std::string body = ReadAll(in);
      if (res.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
        return Unavailable("the chat server at " + options_.url + " answered GET /v1/models with " +
                           std::to_string(res.getStatus()) + " " + res.getReason());
      }
      auto data = Poco::JSON::Parser().parse(body).extract<Poco::JSON::Object::Ptr>()->getArray("data");
      std::vector<std::string> ids;
      for (size_t i = 0; data && i < data->size(); ++i) ids.push_back(data->getObject(static_cast<unsigned>(i))->getValue<std::string>("id"));
      return ids;
    } catch (const Poco::Exception& e) {
      return Unavailable("cannot reach the chat server at " + options_.url + ": " + e.displayText());
    } catch (const std::exception& e) {
      return Unavailable("the chat server at " + options_.url + " sent an unreadable model list: " + e.what());
    }
  }

  void set_model(std::string model) { options_.model = std::move(model); }

  Result<app::ChatReply> Chat(const app::ChatRequest& request, const app::AnswerCallback& on_token) override {
    auto start = Clock::now();
    auto body = NewObject();
    body->set("model", options_.model);
    Poco::JSON::Array::Ptr messages = new Poco::JSON::Array;
    for (const auto& m : request.messages) {
      auto o = NewObject();
      o->set("role", m.role);
      o->set("content", m.content);
      messages->add(o);
    }
    body->set("messages", messages);
    body->set("max_tokens", request.max_tokens);
    body->set("temperature", request.temperature);
    if (request.seed) body->set("seed", *request.seed);
    body->set("stream", true);
    auto stream_options = NewObject();
    stream_options->set("include_usage", true);
    body->set("stream_options", stream_options);
    std::string text = Stringify(body);

    app::ChatReply reply;
    try {
      auto session = Session();
      Poco::Net::HTTPRequest req(Poco::Net::HTTPRequest::HTTP_POST, "/v1/chat/completions",
                                 Poco::Net::HTTPMessage::HTTP_1_1);
      Authorize(req);
      req.setContentType("application/json");
      req.setContentLength(static_cast<std::streamsize>(text.size()));
      req.set("Accept", "text/event-stream");
      session->sendRequest(req) << text;
      Poco::Net::HTTPResponse res;
      std::istream& in = session->receiveResponse(res);
      if (res.getStatus() != Poco::Net::HTTPResponse::HTTP_OK) {
        std::string detail = ReadAll(in, 4096);
        std::string message = "the chat server at " + options_.url + " answered " +
                              std::to_string(res.getStatus()) + " " + res.getReason() + ": " + detail;
        // Busy (503, 429) is worth retrying; a refusal (400: too long for its context, 401: the
        // key) is a setting to fix; anything else is the server's failure.
        int code = static_cast<int>(res.getStatus());
        if (code == 503 || code == 429) return Unavailable(message);
        if (code >= 400 && code < 500) return FailedPrecondition(message);
        return Internal(message);
      }
      reply.stop = "end";
      std::string line;
      bool first = true;
      while (std::getline(in, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("data:", 0) != 0) continue;  // comments, event names, blank separators
        std::string data = line.substr(line.find_first_not_of(' ', 5) == std::string::npos ? line.size() : line.find_first_not_of(' ', 5));
        if (data == "[DONE]") break;
        auto chunk = Poco::JSON::Parser().parse(data).extract<Poco::JSON::Object::Ptr>();
        if (auto usage = chunk->getObject("usage")) {
          reply.prompt_tokens = usage->optValue<uint32_t>("prompt_tokens", reply.prompt_tokens);
          reply.generated_tokens = usage->optValue<uint32_t>("completion_tokens", reply.generated_tokens);
        }
        auto choices = chunk->getArray("choices");
        if (!choices || choices->size() == 0) continue;
        auto choice = choices->getObject(0);
        if (auto delta = choice->getObject("delta")) {
          std::string piece = delta->optValue<std::string>("content", "");
          if (!piece.empty()) {
            if (first) {
              reply.first_token_seconds = std::chrono::duration<double>(Clock::now() - start).count();
              first = false;
            }
            reply.text += piece;
            if ((on_token && !on_token(piece)) || request.cancel.stop_requested()) {
              // Closing the connection is how an OpenAI-compatible server learns to stop.
              session->abort();
              reply.stop = "cancelled";
              return reply;
            }
          }
        }
        std::string finish = choice->optValue<std::string>("finish_reason", "");
        if (finish == "length") reply.stop = "max_tokens";
      }
      if (reply.generated_tokens == 0) reply.generated_tokens = CountTokens(reply.text);
      return reply;
    } catch (const Poco::TimeoutException& e) {
      return Unavailable("the chat server at " + options_.url + " did not answer within " +
                         std::to_string(options_.timeout_seconds) + " s");
    } catch (const Poco::Exception& e) {
      return Unavailable("the chat server at " + options_.url + " failed: " + e.displayText());
    } catch (const std::exception& e) {
      return Internal("the chat server at " + options_.url + " sent an unreadable stream: " + e.what());
    }
  }

 private:
  std::unique_ptr<Poco::Net::HTTPClientSession> Session() const {
    auto session = std::make_unique<Poco::Net::HTTPClientSession>(host_, port_);
    session->setTimeout(Poco::Timespan(options_.timeout_seconds, 0));
    return session;
  }
  void Authorize(Poco::Net::HTTPRequest& req) const {
    if (!options_.api_key.empty()) req.set("Authorization", "Bearer " + options_.api_key);
  }

  RemoteChatOptions options_;
  std::string host_;
  uint16_t port_;
};

}  // namespace

Result<std::shared_ptr<app::ChatBackend>> OpenRemoteChat(const RemoteChatOptions& options) {
  Poco::URI uri;
  try {
    uri = Poco::URI(options.url);
  } catch (const Poco::Exception& e) {
    return InvalidArgument("the chat server URL '" + options.url + "' is not a URL: " + e.displayText());
  }
  if (uri.getScheme() != "http" || uri.getHost().empty() || (!uri.getPath().empty() && uri.getPath() != "/")) {
    return InvalidArgument("the chat server URL must be http://host[:port], got '" + options.url +
                           "' (for TLS, put the server behind a local proxy; see docs)");
  }
  auto chat = std::make_shared<RemoteChat>(options, uri.getHost(), uri.getPort());
  CLOISTER_ASSIGN_OR_RETURN(std::vector<std::string> models, chat->ListModels());
  if (options.model.empty()) {
    if (models.empty()) return FailedPrecondition("the chat server at " + options.url + " lists no model");
    chat->set_model(models.front());
  } else if (std::find(models.begin(), models.end(), options.model) == models.end()) {
    std::string listed;
    for (const auto& m : models) listed += (listed.empty() ? "" : ", ") + m;
    return FailedPrecondition("the chat server at " + options.url + " does not serve '" + options.model +
                              "' (it lists: " + listed + ")");
  }
  log::Info("answer", "answers come from a remote chat server", {{"server", options.url}, {"model", chat->name()}});
  return std::shared_ptr<app::ChatBackend>(chat);
}

}  // namespace cloister::web
