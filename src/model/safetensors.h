// safetensors reader (our own parser; the format is: 8-byte little-endian header length N,
// N bytes of JSON header, then the raw tensor data). The file is memory-mapped read-only.
//
// Every header field is validated before any tensor byte is touched: N within the file, JSON
// valid and an object, each tensor entry with a known dtype, a shape of non-negative dims, and
// data_offsets [begin, end) inside the data section, begin <= end, end - begin ==
// product(shape) * dtype size (overflow-checked), and no two tensors overlapping.
// `__metadata__` (string -> string) is allowed and kept. A hostile file therefore yields a
// Status naming the file, the tensor and the rule — it never crashes or reads out of bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "common/status.h"

namespace mies::model {

// Tensor element types we load. Others (F64, I8, ...) are rejected with their name. F8_E4M3
// (float8_e4m3fn) is read only as a block-scaled weight (weights.cc, DeepSeek's FP8 checkpoints);
// I32 holds the packed 4-bit weights of GPTQ/AWQ checkpoints (qweight, qzeros, g_idx) and nothing
// else.
enum class TensorDType { kF32, kF16, kBF16, kF8E4M3, kI32 };

const char* TensorDTypeName(TensorDType dtype);  // "F32", "F16", "BF16", "F8_E4M3", "I32"
int64_t TensorDTypeSize(TensorDType dtype);

struct TensorInfo {
  // Drops this tensor's pages from the process's resident set (MADV_DONTNEED on the whole pages
  // inside it; they stay in the page cache and read back on the next access). The loader calls
  // it once it has converted a tensor, so peak RSS during a load is the weights kept plus about
  // one tensor, not the weights plus every mapped byte read.
  void ReleasePages() const;

  std::string name;
  TensorDType dtype = TensorDType::kF32;
  std::vector<int64_t> shape;
  // Points into the mapping; may be unaligned (the format does not require alignment), so
  // read it with memcpy-style access, never through a cast to float*.
  std::span<const std::byte> data;

  int64_t numel() const;
};

// A read-only memory mapping of a whole file (RAII).
class MappedFile {
 public:
  static StatusOr<std::unique_ptr<MappedFile>> Open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  std::span<const std::byte> bytes() const { return {data_, size_}; }
  const std::string& path() const { return path_; }

 private:
  MappedFile(std::string path, const std::byte* data, size_t size)
      : path_(std::move(path)), data_(data), size_(size) {}
  std::string path_;
  const std::byte* data_;
  size_t size_;
};

// Upper bound on the JSON header: real checkpoints have a few hundred KB; this stops a hostile
// length from making us allocate gigabytes.
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

class SafetensorsFile {
 public:
  static StatusOr<std::unique_ptr<SafetensorsFile>> Open(const std::string& path);

  const std::string& path() const { return file_->path(); }
  // nullptr when absent.
  const TensorInfo* Find(const std::string& name) const;
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  std::unique_ptr<MappedFile> file_;
  std::map<std::string, TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A model checkpoint: one model.safetensors, or the shards named by
// model.safetensors.index.json ("weight_map": tensor name -> file name in the same directory).
class Checkpoint {
 public:
  static StatusOr<std::unique_ptr<Checkpoint>> Open(const std::string& model_dir);

  // nullptr when absent.
  const TensorInfo* Find(const std::string& name) const;
  // Error naming the tensor and the directory when absent.
  StatusOr<const TensorInfo*> Get(const std::string& name) const;
  const std::string& dir() const { return dir_; }
  size_t num_tensors() const { return index_.size(); }
  std::vector<std::string> TensorNames() const;

 private:
  Checkpoint() = default;
  std::string dir_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorInfo*> index_;
};

}  // namespace mies::model
