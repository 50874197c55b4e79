// The version of this build, from CMake's project() version.
#pragma once

#include <string_view>

namespace cloister {

std::string_view Version();  // "0.1.0"

}  // namespace cloister
