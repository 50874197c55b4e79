#include <string>

#include "ui_assets.h"

namespace cloister::web::internal {

const UiAsset* FindUiAsset(std::string_view path) {
  if (path.empty() || path == "/") path = "/index.html";
  for (size_t i = 0; i < kUiAssetCount; ++i) {
    if (path == kUiAssets[i].path) return &kUiAssets[i];
  }
  return nullptr;
}

std::string_view ContentTypeFor(std::string_view path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "text/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".svg")) return "image/svg+xml";
  if (ends(".png")) return "image/png";
  if (ends(".ico")) return "image/x-icon";
  if (ends(".json")) return "application/json; charset=utf-8";
  if (ends(".woff2")) return "font/woff2";
  return "application/octet-stream";
}

}  // namespace cloister::web::internal
