#include "server/console_assets.h"

namespace mies::server {

const EmbeddedFile* FindConsoleFile(std::string_view name) {
  if (name.empty()) name = "index.html";
  for (const EmbeddedFile& f : EmbeddedFiles()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

std::string_view ConsoleContentType(std::string_view name) {
  if (name.empty() || name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  if (name.ends_with(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace mies::server
