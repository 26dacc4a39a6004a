#include "cluster/model_source.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

#include "cluster/digest.h"
#include "common/logging.h"

namespace mies::cluster {
namespace {

namespace fs = std::filesystem;

// Closes a file descriptor (RAII).
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

uint64_t ModelManifest::total_bytes() const {
  uint64_t n = 0;
  for (const File& f : files) n += f.size;
  return n;
}

bool IsModelFile(std::string_view name) {
  return name == "config.json" || name == "generation_config.json" ||
         name.ends_with(".safetensors") || name.ends_with(".safetensors.index.json");
}

std::string ManifestKey(const std::vector<ModelManifest::File>& files) {
  Sha256 h;
  for (const auto& f : files) h.Update(absl::StrCat(f.name, " ", f.size, " ", f.sha256, "\n"));
  return h.Final();
}

StatusOr<ModelManifest::File> DigestFile(const std::string& dir, const std::string& name) {
  const std::string path = (fs::path(dir) / name).string();
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) return NotFound("cannot open ", path, ": ", std::strerror(errno));
  ModelManifest::File out;
  out.name = name;
  Sha256 h;
  std::string buf(kModelChunkBytes, '\0');
  while (true) {
    const ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot read ", path, ": ", std::strerror(errno));
    if (n == 0) break;
    h.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    out.size += static_cast<uint64_t>(n);
  }
  out.sha256 = h.Final();
  return out;
}

StatusOr<ModelManifest> ModelSource::Manifest() {
  std::lock_guard lock(mu_);
  if (manifest_) return *manifest_;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    const std::string name = e.path().filename().string();
    if (IsModelFile(name) && e.is_regular_file()) names.push_back(name);
  }
  if (ec) return NotFound("cannot list the model directory ", dir_, ": ", ec.message());
  std::sort(names.begin(), names.end());
  if (std::find(names.begin(), names.end(), "config.json") == names.end()) {
    return NotFound("the model directory ", dir_, " has no config.json");
  }
  ModelManifest m;
  for (const std::string& name : names) {
    MIES_ASSIGN_OR_RETURN(ModelManifest::File f, DigestFile(dir_, name));
    m.files.push_back(std::move(f));
  }
  m.key = ManifestKey(m.files);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  MIES_LOG_INFO("master: model manifest of {}: {} files, {} bytes, hashed in {:.2f} s (key {})",
                dir_, m.files.size(), m.total_bytes(), s, m.key.substr(0, 16));
  manifest_ = m;
  return m;
}

Status ModelSource::Stream(const std::string& key, const std::string& name,
                           const std::function<bool(std::string_view)>& sink) {
  MIES_ASSIGN_OR_RETURN(ModelManifest m, Manifest());
  if (key != m.key) {
    return FailedPrecondition("the master's model changed (manifest key ", m.key.substr(0, 16),
                              ", asked for ", key.substr(0, 16), "); fetch the manifest again");
  }
  auto it = std::find_if(m.files.begin(), m.files.end(),
                         [&](const ModelManifest::File& f) { return f.name == name; });
  if (it == m.files.end()) return NotFound("\"", name, "\" is not a file of the master's model");
  const std::string path = (fs::path(dir_) / name).string();
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW)};
  if (f.fd < 0) return NotFound("cannot open ", path, ": ", std::strerror(errno));
  std::string buf(chunk_bytes_, '\0');
  while (true) {
    const ssize_t n = ::read(f.fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Internal("cannot read ", path, ": ", std::strerror(errno));
    if (n == 0) return OkStatus();
    if (!sink(std::string_view(buf.data(), static_cast<size_t>(n)))) {
      return absl::CancelledError(absl::StrCat("the receiver of ", name, " went away"));
    }
    if (pause_.count() > 0) std::this_thread::sleep_for(pause_);
  }
}

}  // namespace mies::cluster
