#include "model/safetensors_writer.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>

#include "nlohmann/json.hpp"

namespace mies::model {

Status SafetensorsWriter::AddLazy(const std::string& name, TensorDType dtype,
                                  std::vector<int64_t> shape, FillFn fill) {
  int64_t numel = 1;
  for (int64_t d : shape) {
    if (d < 0) return InvalidArgument("tensor ", name, ": negative dimension ", d);
    numel *= d;
  }
  for (const auto& e : entries_) {
    if (e.name == name) return InvalidArgument("tensor ", name, " added twice");
  }
  entries_.push_back({name, dtype, std::move(shape),
                      static_cast<size_t>(numel * TensorDTypeSize(dtype)), std::move(fill)});
  return OkStatus();
}

Status SafetensorsWriter::Add(const std::string& name, TensorDType dtype,
                              std::vector<int64_t> shape, std::vector<std::byte> bytes) {
  int64_t numel = 1;
  for (int64_t d : shape) numel *= d;
  if (static_cast<int64_t>(bytes.size()) != numel * TensorDTypeSize(dtype)) {
    return InvalidArgument("tensor ", name, ": ", bytes.size(), " bytes given, shape needs ",
                           numel * TensorDTypeSize(dtype));
  }
  auto shared = std::make_shared<std::vector<std::byte>>(std::move(bytes));
  return AddLazy(name, dtype, std::move(shape), [shared](std::byte* dst, size_t size) {
    if (size > 0) std::memcpy(dst, shared->data(), size);
  });
}

std::string SafetensorsWriter::HeaderWithLength(std::vector<uint64_t>* begins,
                                                uint64_t* data_size) const {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  uint64_t offset = 0;
  for (const auto& e : entries_) {
    offset = (offset + 63) / 64 * 64;  // 64-byte aligned tensors (relative to the data start)
    begins->push_back(offset);
    header[e.name] = {{"dtype", TensorDTypeName(e.dtype)},
                      {"shape", e.shape},
                      {"data_offsets", {offset, offset + e.size}}};
    offset += e.size;
  }
  *data_size = offset;
  std::string text = header.dump();
  while ((8 + text.size()) % 64 != 0) text.push_back(' ');  // data section starts aligned
  std::string out;
  uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + text;
}

std::string SafetensorsWriter::Serialize() const {
  std::vector<uint64_t> begins;
  uint64_t data_size = 0;
  std::string out = HeaderWithLength(&begins, &data_size);
  const size_t data_start = out.size();
  out.resize(data_start + data_size, '\0');
  for (size_t i = 0; i < entries_.size(); ++i) {
    entries_[i].fill(reinterpret_cast<std::byte*>(out.data() + data_start + begins[i]),
                     entries_[i].size);
  }
  return out;
}

Status SafetensorsWriter::Write(const std::string& path) const {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) return Internal("cannot create ", path, ": ", std::strerror(errno));
  std::vector<uint64_t> begins;
  uint64_t data_size = 0;
  const std::string head = HeaderWithLength(&begins, &data_size);
  f.write(head.data(), static_cast<std::streamsize>(head.size()));
  uint64_t pos = 0;
  static const char zeros[64] = {};
  std::vector<std::byte> buf;
  for (size_t i = 0; i < entries_.size(); ++i) {
    f.write(zeros, static_cast<std::streamsize>(begins[i] - pos));
    buf.resize(entries_[i].size);
    entries_[i].fill(buf.data(), buf.size());
    f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(buf.size()));
    pos = begins[i] + entries_[i].size;
  }
  f.flush();
  if (!f) return Internal("cannot write ", path, ": ", std::strerror(errno));
  return OkStatus();
}

}  // namespace mies::model
