// POST /v1/chat/completions: OpenAI's chat completions, answered from the documents by
// KnowledgeBase::Ask.
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <random>
#include <string_view>
#include <vector>

#include "json_util.h"
#include "openai_internal.h"

namespace cloister::web::openai {
namespace {

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

constexpr int64_t kMaxAnswerTokens = 32768;

bool Blank(const std::string& s) { return s.find_first_not_of(" \t\r\n") == std::string::npos; }

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// ---- chat completions -------------------------------------------------------------------------

struct ChatCall {
  std::string question;     // the last user message
  app::AskOptions options;  // earlier user and assistant turns as history
  bool stream = false;
  bool include_usage = false;
};

// A message's text: a string, or the text parts of a list of parts, joined by newlines.
std::optional<std::string> ContentText(const Var& content, const std::string& param, Fields& f) {
  if (content.isEmpty()) return std::string();
  if (content.isString()) return content.extract<std::string>();
  if (!IsArray(content)) {
    f.Fail(param,
           "'" + param + "' must be a string or a list of {\"type\": \"text\", \"text\"} parts");
    return std::nullopt;
  }
  auto parts = content.extract<Array::Ptr>();
  std::string text;
  for (unsigned i = 0; i < parts->size(); ++i) {
    auto part = parts->getObject(i);
    std::string where = param + "[" + std::to_string(i) + "]";
    std::string type = part ? part->optValue<std::string>("type", "") : "";
    if (type != "text" || !part->has("text") || !part->get("text").isString()) {
      f.Fail(where, type.empty() || type == "text"
                        ? "'" + where + "' must be {\"type\": \"text\", \"text\": \"...\"}"
                        : "'" + where + "' is a " + type + " part: only text parts are supported");
      return std::nullopt;
    }
    if (!text.empty()) text += "\n";
    text += part->getValue<std::string>("text");
  }
  return text;
}

// The conversation: the last user message becomes the question, the user and assistant turns
// before it the history. System, developer and tool messages are read but not used: answers
// follow Cloister's own instructions, from the documents.
void ParseMessages(Fields& f, ChatCall* call) {
  Var messages = f.Get("messages");
  if (!IsArray(messages) || messages.extract<Array::Ptr>()->size() == 0) {
    f.Fail("messages", "'messages' is required: a list of {\"role\", \"content\"} objects");
    return;
  }
  auto list = messages.extract<Array::Ptr>();
  std::vector<app::ChatTurn> turns;
  std::optional<size_t> last_user;
  for (unsigned i = 0; i < list->size() && f.ok(); ++i) {
    std::string where = "messages[" + std::to_string(i) + "]";
    auto message = list->getObject(i);
    if (!message) return f.Fail(where, "'" + where + "' must be a {\"role\", \"content\"} object");
    std::string role = message->has("role") && message->get("role").isString()
                           ? message->getValue<std::string>("role")
                           : "";
    static const std::vector<std::string> kRoles = {"system",    "developer", "user",
                                                    "assistant", "tool",      "function"};
    if (std::find(kRoles.begin(), kRoles.end(), role) == kRoles.end()) {
      return f.Fail(where + ".role",
                    "'" + where + ".role' must be system, developer, user, assistant or tool");
    }
    auto text = ContentText(message->has("content") ? message->get("content") : Var(),
                            where + ".content", f);
    if (!text || (role != "user" && role != "assistant")) continue;
    if (role == "user") last_user = turns.size();
    turns.push_back({role, *text});
  }
  if (!f.ok()) return;
  if (!last_user)
    return f.Fail("messages", "'messages' has no user message: the last one is the question");
  if (Blank(turns[*last_user].content))
    return f.Fail("messages", "the last user message is empty: it is the question");
  call->question = turns[*last_user].content;
  for (size_t i = 0; i < *last_user; ++i) {
    if (!Blank(turns[i].content)) call->options.history.push_back(turns[i]);
  }
}

// OpenAI's parameters that AskOptions has; the others (top_p, stop, tools, ...) are ignored.
ChatCall ParseChat(Fields& f) {
  ChatCall call;
  ParseMessages(f, &call);
  f.String("model");  // any: one pipeline answers, whatever a client calls it (docs/API.md)
  call.stream = f.Bool("stream").value_or(false);
  Var stream_options = f.Get("stream_options");
  if (!stream_options.isEmpty()) {
    Var include_usage = IsObject(stream_options)
                            ? stream_options.extract<Object::Ptr>()->get("include_usage")
                            : Var();
    if (!IsObject(stream_options) || !(include_usage.isEmpty() || include_usage.isBoolean())) {
      f.Fail("stream_options", "'stream_options' must be {\"include_usage\": true or false}");
    } else {
      call.include_usage = !include_usage.isEmpty() && include_usage.extract<bool>();
    }
  }
  if (auto t = f.Number("temperature", 0, 2)) call.options.temperature = static_cast<float>(*t);
  auto max_tokens = f.Integer("max_tokens", 1, kMaxAnswerTokens);
  if (auto n = f.Integer("max_completion_tokens", 1, kMaxAnswerTokens)) max_tokens = n;
  if (max_tokens) call.options.max_tokens = static_cast<uint32_t>(*max_tokens);
  // Any integer, as OpenAI takes; the generator's seed is its low 32 bits.
  if (auto seed = f.Integer("seed", INT64_MIN, INT64_MAX))
    call.options.seed = static_cast<uint32_t>(*seed);
  f.Integer("n", 1, 1);  // one choice per request
  if (auto k = f.Integer("k", 1, 100)) call.options.k = static_cast<int>(*k);  // Cloister's own
  return call;
}

// The parts every completion object and chunk share.
struct Completion {
  std::string id;
  int64_t created = 0;
  std::string model;
};

Completion NewCompletion(std::string model) {
  thread_local std::mt19937_64 random{std::random_device{}()};
  char id[48];
  std::snprintf(id, sizeof id, "chatcmpl-%016llx%08llx", static_cast<unsigned long long>(random()),
                static_cast<unsigned long long>(random() & 0xffffffffu));
  return {id, UnixNow(), std::move(model)};
}

Object::Ptr Envelope(const Completion& c, const char* object) {
  auto o = NewObject();
  o->set("id", c.id);
  o->set("object", object);
  o->set("created", static_cast<Poco::Int64>(c.created));
  o->set("model", c.model);
  return o;
}

std::string FinishReason(const app::Answer& a) {
  return a.stop == "max_tokens" || a.stop == "context_full" ? "length" : "stop";
}

Object::Ptr Usage(const app::Answer& a) {
  auto usage = NewObject();
  usage->set("prompt_tokens", static_cast<Poco::Int64>(a.prompt_tokens));
  usage->set("completion_tokens", static_cast<Poco::Int64>(a.generated_tokens));
  usage->set("total_tokens", static_cast<Poco::Int64>(a.prompt_tokens) + a.generated_tokens);
  return usage;
}

// Cloister's additions beside OpenAI's fields: how the answer was made, and what it cites.
void AddAnswerFields(Object& o, const app::Answer& a) {
  o.set("mode", a.mode);
  o.set("sources", SourcesArray(a.sources));
}

std::string CompletionJson(const Completion& c, const app::Answer& a) {
  auto message = NewObject();
  message->set("role", "assistant");
  message->set("content", a.text);
  message->set("refusal", Var());
  auto choice = NewObject();
  choice->set("index", 0);
  choice->set("message", message);
  choice->set("logprobs", Var());
  choice->set("finish_reason", FinishReason(a));
  Array::Ptr choices = new Array;
  choices->add(choice);
  auto o = Envelope(c, "chat.completion");
  o->set("choices", choices);
  o->set("usage", Usage(a));
  AddAnswerFields(*o, a);
  return Stringify(o);
}

// A chat.completion.chunk with one choice: `delta`, and the finish reason on the last one.
Object::Ptr Chunk(const Completion& c, const Object::Ptr& delta,
                  const std::string& finish_reason = "") {
  auto choice = NewObject();
  choice->set("index", 0);
  choice->set("delta", delta);
  choice->set("logprobs", Var());
  choice->set("finish_reason", finish_reason.empty() ? Var() : Var(finish_reason));
  Array::Ptr choices = new Array;
  choices->add(choice);
  auto o = Envelope(c, "chat.completion.chunk");
  o->set("choices", choices);
  return o;
}

std::string Data(const Object::Ptr& o) { return SseEvent("", Stringify(o)); }

std::string RoleChunk(const Completion& c) {
  auto delta = NewObject();
  delta->set("role", "assistant");
  delta->set("content", "");
  return Data(Chunk(c, delta));
}

std::string ContentChunk(const Completion& c, std::string_view piece) {
  auto delta = NewObject();
  delta->set("content", std::string(piece));
  return Data(Chunk(c, delta));
}

// The last chunks: the finish reason with the sources, the usage when asked for, then [DONE].
std::string FinalChunks(const Completion& c, const app::Answer& a, bool include_usage) {
  auto last = Chunk(c, NewObject(), FinishReason(a));
  AddAnswerFields(*last, a);
  std::string text = Data(last);
  if (include_usage) {
    auto usage = Envelope(c, "chat.completion.chunk");
    usage->set("choices", Array::Ptr(new Array));
    usage->set("usage", Usage(a));
    text += Data(usage);
  }
  return text + "data: [DONE]\n\n";
}

// A role chunk, then the answer's pieces as content deltas as they come (an extractive answer
// comes in one piece), then FinalChunks. Nothing is sent before the first piece, so a refusal
// is still a plain JSON error; a client that goes away cancels the answer.
Reply ChatStreaming(app::KnowledgeBase& kb, const app::Caller& caller, const ChatCall& call, const Completion& c,
                    Poco::Net::HTTPServerResponse& response, bool* streamed) {
  EventStream events(response);
  auto answer = kb.Ask(caller, call.question, call.options, [&](std::string_view piece) {
    if (!events.opened() && !events.Write(RoleChunk(c))) return false;
    return piece.empty() || events.Write(ContentChunk(c, piece));
  });
  *streamed = events.opened();
  if (!answer.ok()) {
    Reply error = ErrorReply(answer.status());
    if (events.opened()) events.Write(SseEvent("", error.body));  // OpenAI's clients raise it
    return error;
  }
  events.Write((events.opened() ? "" : RoleChunk(c)) + FinalChunks(c, *answer, call.include_usage));
  *streamed = true;
  return {};
}

}  // namespace

Reply ChatCompletions(app::KnowledgeBase& kb, const app::Caller& caller, const Object::Ptr& body,
                      Poco::Net::HTTPServerResponse& response, bool* streamed) {
  Fields f(body);
  ChatCall call = ParseChat(f);
  if (!f.ok()) return f.Error();
  auto status = kb.Status(caller);
  if (!status.ok()) return ErrorReply(status.status());
  Completion c = NewCompletion(ChatModelId(*status));
  if (call.stream) return ChatStreaming(kb, caller, call, c, response, streamed);
  auto answer = kb.Ask(caller, call.question, call.options);
  if (!answer.ok()) return ErrorReply(answer.status());
  return {200, CompletionJson(c, *answer)};
}

}  // namespace cloister::web::openai
