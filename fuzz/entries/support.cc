#include "support.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace mies::fuzz {
namespace {

namespace fs = std::filesystem;

void RemoveScratch();

std::string MakeScratch() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/mies-fuzz-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) Die("cannot create the fuzz scratch directory");
  return pattern;
}

// Never destroyed: RemoveScratch runs from atexit, after function-local statics made later
// than its registration are gone.
const std::string& ScratchOnce() {
  static const std::string* const dir = [] {
    auto* d = new std::string(MakeScratch());
    std::atexit(RemoveScratch);
    return d;
  }();
  return *dir;
}

void RemoveScratch() {
  std::error_code ec;
  fs::remove_all(ScratchOnce(), ec);
}

}  // namespace

const std::string& ScratchDir() { return ScratchOnce(); }

std::string WriteScratchFile(const std::string& name, std::string_view data) {
  const std::string path = ScratchDir() + "/" + name;
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) Die("cannot write a fuzz scratch file");
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) {
      ::close(fd);
      Die("cannot write a fuzz scratch file");
    }
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

std::string SharedDir() {
  const char* env = std::getenv("MIES_SHARED_DIR");
  if (env != nullptr && *env != '\0') return env;
  return MIES_SHARED_DIR;
}

const std::string& Stories260KDir() {
  static const std::string dir = [] {
    const fs::path src = fs::path(SharedDir()) / "models" / "stories260K";
    const fs::path dst = fs::path(ScratchDir()) / "stories260K";
    std::error_code ec;
    fs::create_directory(dst, ec);
    if (ec) Die("cannot create the model copy");
    ::chmod(dst.c_str(), 0750);
    for (const auto& entry : fs::directory_iterator(src, ec)) {
      const fs::path to = dst / entry.path().filename();
      fs::copy_file(entry.path(), to, fs::copy_options::overwrite_existing, ec);
      if (ec) Die("cannot copy shared/models/stories260K (is MIES_SHARED_DIR right?)");
      ::chmod(to.c_str(), 0640);
    }
    if (ec) Die("cannot read shared/models/stories260K (is MIES_SHARED_DIR right?)");
    return dst.string();
  }();
  return dir;
}

void QuietLogging() { spdlog::set_level(spdlog::level::off); }

void Die(std::string_view what) {
  std::fprintf(stderr, "mies fuzz: %.*s\n", static_cast<int>(what.size()), what.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace mies::fuzz
