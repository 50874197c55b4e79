// POST /v1/embeddings: vectors from the configured embedding model (KnowledgeBase::Embed), as
// numbers or as base64 float32, the encoding OpenAI's clients ask for by default.
#include <Poco/Base64Encoder.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <optional>
#include <sstream>
#include <vector>

#include "json_util.h"
#include "openai_internal.h"

namespace cloister::web::openai {
namespace {

namespace fs = std::filesystem;

using Poco::Dynamic::Var;
using Poco::JSON::Array;
using Poco::JSON::Object;

// OpenAI's own limit on inputs per request; the body limit (413) bounds their total size.
constexpr size_t kMaxEmbeddingInputs = 2048;

// ---- embeddings -------------------------------------------------------------------------------

struct EmbeddingsCall {
  std::vector<std::string> texts;
  std::string model;
  bool base64 = false;
  std::optional<int64_t> dimensions;
  bool as_query = false;
};

void ParseInput(Fields& f, std::vector<std::string>* texts) {
  Var input = f.Get("input");
  const std::string kTokens =
      "token arrays are not supported: send the text as a string or a list of strings";
  if (input.isString()) {
    texts->push_back(input.extract<std::string>());
  } else if (IsArray(input)) {
    auto list = input.extract<Array::Ptr>();
    if (list->size() == 0)
      return f.Fail("input", "'input' is an empty list: give at least one string");
    if (list->size() > kMaxEmbeddingInputs) {
      return f.Fail("input", "'input' has " + std::to_string(list->size()) + " strings; at most " +
                                 std::to_string(kMaxEmbeddingInputs) + " per request");
    }
    for (unsigned i = 0; i < list->size(); ++i) {
      Var item = list->get(i);
      if (item.isString())
        texts->push_back(item.extract<std::string>());
      else if (IsArray(item) || (item.isInteger() && !item.isBoolean()))
        return f.Fail("input", kTokens);
      else
        return f.Fail("input", "'input[" + std::to_string(i) + "]' must be a string");
    }
  } else {
    return f.Fail("input", "'input' is required: a string or a list of strings");
  }
  for (size_t i = 0; i < texts->size(); ++i) {
    if ((*texts)[i].empty())
      return f.Fail("input", "'input' holds an empty string (item " + std::to_string(i) + ")");
  }
}

EmbeddingsCall ParseEmbeddings(Fields& f) {
  EmbeddingsCall call;
  ParseInput(f, &call.texts);
  call.model = f.String("model").value_or("");
  std::string format = f.String("encoding_format").value_or("float");
  if (format != "float" && format != "base64")
    f.Fail("encoding_format", "'encoding_format' is float or base64, not '" + format + "'");
  call.base64 = format == "base64";
  call.dimensions = f.Integer("dimensions", 1, 1 << 20);
  std::string type = f.String("input_type").value_or("document");  // Cloister's own
  if (type != "query" && type != "document")
    f.Fail("input_type", "'input_type' is query or document, not '" + type + "'");
  call.as_query = type == "query";
  return call;
}

// The id /v1/models shows for the embedding model: its file name, without the suffix that
// marks an overridden document prefix in the stored vectors' id.
std::string PublicEmbeddingId(const std::string& stored_id) {
  return stored_id.substr(0, stored_id.find('#'));
}

// Strict only where it matters: vectors from another model are not comparable with these, so a
// client naming another model is told rather than given them.
bool NamesEmbeddingModel(const std::string& requested, const std::string& stored_id) {
  std::string id = PublicEmbeddingId(stored_id);
  std::string stem = fs::path(id).extension() == ".gguf" ? fs::path(id).stem().string() : id;
  return requested.empty() || requested == "cloister" || requested == id || requested == stem ||
         requested == stored_id;
}

// float32 values, little-endian, base64: what OpenAI's clients decode with encoding_format base64.
std::string Base64Floats(const std::vector<float>& v) {
  std::string bytes(v.size() * 4, '\0');
  for (size_t i = 0; i < v.size(); ++i) {
    uint32_t bits = 0;
    std::memcpy(&bits, &v[i], 4);
    for (int b = 0; b < 4; ++b) bytes[i * 4 + b] = static_cast<char>((bits >> (8 * b)) & 0xff);
  }
  std::ostringstream out;
  Poco::Base64Encoder encoder(out);
  encoder.rdbuf()->setLineLength(0);
  encoder << bytes;
  encoder.close();
  return out.str();
}

// Numbers in their shortest form that reads back as the same float.
void AppendFloats(const std::vector<float>& v, std::string* out) {
  char buf[32];
  *out += '[';
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) *out += ',';
    auto end = std::to_chars(buf, buf + sizeof buf, v[i]).ptr;
    out->append(buf, end);
  }
  *out += ']';
}

// Written by hand: thousands of numbers per vector, each in its shortest exact form.
std::string EmbeddingsJson(const app::TextEmbeddings& e, bool base64) {
  std::string out = R"({"object":"list","data":[)";
  for (size_t i = 0; i < e.vectors.size(); ++i) {
    if (i) out += ',';
    out += R"({"object":"embedding","index":)" + std::to_string(i) + R"(,"embedding":)";
    if (base64)
      out += '"' + Base64Floats(e.vectors[i]) + '"';
    else
      AppendFloats(e.vectors[i], &out);
    out += '}';
  }
  out += R"(],"model":)" + Stringify(Var(PublicEmbeddingId(e.model)));
  out += R"(,"usage":{"prompt_tokens":)" + std::to_string(e.tokens) + R"(,"total_tokens":)" +
         std::to_string(e.tokens) + "}}";
  return out;
}

}  // namespace

Reply Embeddings(app::KnowledgeBase& kb, const Object::Ptr& body) {
  Fields f(body);
  EmbeddingsCall call = ParseEmbeddings(f);
  if (!f.ok()) return f.Error();
  auto embedded = kb.Embed(call.texts, call.as_query);
  if (!embedded.ok()) {
    if (embedded.status().code() != StatusCode::kFailedPrecondition)
      return ErrorReply(embedded.status());
    return ErrorReply({400,
                       embedded.status().message() +
                           ": put a GGUF embedding model (such as bge-small-en-v1.5) "
                           "in the models folder and restart cloister serve",
                       "model", "no_embedding_model"});
  }
  if (!NamesEmbeddingModel(call.model, embedded->model)) {
    return ModelNotFound(
        call.model, "it embeds with '" + PublicEmbeddingId(embedded->model) + "' (GET /v1/models)");
  }
  size_t dimension = embedded->vectors.empty() ? 0 : embedded->vectors.front().size();
  if (call.dimensions && static_cast<size_t>(*call.dimensions) != dimension) {
    return ErrorReply({400,
                       "'dimensions' is " + std::to_string(*call.dimensions) + " but " +
                           PublicEmbeddingId(embedded->model) + " makes vectors of " +
                           std::to_string(dimension) + "; leave it out or set it to " +
                           std::to_string(dimension),
                       "dimensions", "invalid_dimensions"});
  }
  for (const auto& v : embedded->vectors) {
    for (float x : v) {
      if (!std::isfinite(x))
        return ErrorReply(Internal("the embedding model produced a value that is not a number"));
    }
  }
  return {200, EmbeddingsJson(*embedded, call.base64)};
}

}  // namespace cloister::web::openai
