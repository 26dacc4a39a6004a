// Writes safetensors files (for the synthetic-model generator and tests). Tensors are laid out
// in insertion order, each aligned to 64 bytes inside the data section, and the header is
// padded with spaces to a multiple of 8 bytes as the reference implementation does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"
#include "model/safetensors.h"

namespace mies::model {

class SafetensorsWriter {
 public:
  // `bytes` must hold product(shape) * dtype size bytes.
  Status Add(const std::string& name, TensorDType dtype, std::vector<int64_t> shape,
             std::vector<std::byte> bytes);
  // Lazily produced tensor: `fill` writes the tensor's bytes when the file is written, so a
  // multi-GB model never sits in memory whole.
  using FillFn = std::function<void(std::byte* dst, size_t size)>;
  Status AddLazy(const std::string& name, TensorDType dtype, std::vector<int64_t> shape,
                 FillFn fill);
  void SetMetadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
  Status Write(const std::string& path) const;
  // The serialized file, for tests that corrupt it before writing.
  std::string Serialize() const;

 private:
  std::string HeaderWithLength(std::vector<uint64_t>* begins, uint64_t* data_size) const;

  struct Entry {
    std::string name;
    TensorDType dtype;
    std::vector<int64_t> shape;
    size_t size;
    FillFn fill;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace mies::model
