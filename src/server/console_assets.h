// The console's files (console/ in the repository), compiled into the binary at build time
// (cmake/embed_files.cmake), served by the management plane at /console.
#pragma once

#include <span>
#include <string_view>

namespace mies::server {

struct EmbeddedFile {
  std::string_view name;  // base name: "index.html", "console.js", ...
  std::string_view body;
};

// Every embedded file (generated source).
std::span<const EmbeddedFile> EmbeddedFiles();

// The console file named `name` ("" or "index.html": the page); null when there is none.
const EmbeddedFile* FindConsoleFile(std::string_view name);

// Content-Type by extension: .html, .js, .css, .svg; else application/octet-stream.
std::string_view ConsoleContentType(std::string_view name);

}  // namespace mies::server
