// The browser UI's files, compiled into the binary from web/ui by cmake/EmbedFiles.cmake, so
// one binary serves everything and nothing is fetched from anywhere else (no CDN, works offline).
#pragma once

#include <cstddef>
#include <string_view>

namespace cloister::web::internal {

struct UiAsset {
  const char* path;  // "/index.html", "/app.js", ...
  const unsigned char* data;
  size_t size;
};

extern const UiAsset kUiAssets[];
extern const size_t kUiAssetCount;

// The asset at a URL path ("/" is "/index.html"); nullptr when there is none.
const UiAsset* FindUiAsset(std::string_view path);

// The Content-Type for a file name, by extension ("application/octet-stream" if unknown).
std::string_view ContentTypeFor(std::string_view path);

}  // namespace cloister::web::internal
