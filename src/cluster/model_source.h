// The master's side of "weights from the master" (ModelConfig weightSource "master"): the
// manifest of its model directory and the files' bytes, served over the control plane
// (control_service.h) to slaves that keep no copy of the model (model_cache.h).
//
// The manifest lists the files a rank loads: config.json, generation_config.json, every
// *.safetensors and *.safetensors.index.json, each with its size and SHA-256. It is computed
// on the first request (hashing the checkpoint once: about 1 s per GB) and kept; its key, the
// SHA-256 of the listing, names the slave's cache directory.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace mies::cluster {

struct ModelManifest {
  struct File {
    std::string name;  // a plain file name (no directory part)
    uint64_t size = 0;
    std::string sha256;
  };
  std::string key;  // ManifestKey(files)
  std::vector<File> files;
  uint64_t total_bytes() const;
};

// True for the files of a model directory a rank needs (see above).
bool IsModelFile(std::string_view name);
// SHA-256 over "name size sha256\n" of every file, in order.
std::string ManifestKey(const std::vector<ModelManifest::File>& files);
// A file's size and SHA-256, read through; not followed when it is a symbolic link.
StatusOr<ModelManifest::File> DigestFile(const std::string& dir, const std::string& name);

// Largest chunk of a streamed file.
inline constexpr size_t kModelChunkBytes = 4 << 20;

class ModelSource {
 public:
  // `chunk_bytes` (0: kModelChunkBytes) and `pause` after each chunk: tests slow a transfer
  // down this way to kill a node in the middle of it.
  explicit ModelSource(std::string model_dir, size_t chunk_bytes = 0,
                       std::chrono::milliseconds pause = std::chrono::milliseconds(0))
      : dir_(std::move(model_dir)),
        chunk_bytes_(chunk_bytes > 0 ? std::min(chunk_bytes, kModelChunkBytes) : kModelChunkBytes),
        pause_(pause) {}

  // The manifest of the model directory, computed once.
  StatusOr<ModelManifest> Manifest();
  // Streams file `name` of the manifest with key `key` to `sink` in chunks of at most
  // kModelChunkBytes; `sink` returns false when the receiver went away.
  Status Stream(const std::string& key, const std::string& name,
                const std::function<bool(std::string_view)>& sink);

 private:
  const std::string dir_;
  const size_t chunk_bytes_;
  const std::chrono::milliseconds pause_;
  std::mutex mu_;  // guards manifest_ (the first request hashes the model)
  std::optional<ModelManifest> manifest_;
};

}  // namespace mies::cluster
