// Private JSON helpers shared by web's .cpp files.
#pragma once

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Array.h>
#include <Poco/JSON/Object.h>

#include <string>
#include <vector>

#include "cloister/app/knowledge_base.h"

namespace cloister::web {

// An object that keeps keys in insertion order, so output reads as the contract is written.
Poco::JSON::Object::Ptr NewObject();
// Compact JSON text of `value`.
std::string Stringify(const Poco::Dynamic::Var& value);
// An answer's cited sources, as AnswerJson writes them: [{"n", "chunk_id", "document": {...},
// "page", "text"}].
Poco::JSON::Array::Ptr SourcesArray(const std::vector<app::AnswerSource>& sources);

}  // namespace cloister::web
