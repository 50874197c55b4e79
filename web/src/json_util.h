// Private JSON helpers shared by web's .cpp files.
#pragma once

#include <Poco/Dynamic/Var.h>
#include <Poco/JSON/Object.h>

#include <string>

namespace cloister::web {

// An object that keeps keys in insertion order, so output reads as the contract is written.
Poco::JSON::Object::Ptr NewObject();
// Compact JSON text of `value`.
std::string Stringify(const Poco::Dynamic::Var& value);

}  // namespace cloister::web
