#include "model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "common/file_check.h"
#include "common/json_depth.h"
#include "nlohmann/json.hpp"

namespace mies::model {
namespace {

using nlohmann::json;

struct ParsedHeaderEntry {
  std::string name;
  TensorDType dtype;
  std::vector<int64_t> shape;
  uint64_t begin;  // relative to the data section
  uint64_t end;
};

// Known safetensors dtype names we do not load, so the error can say "unsupported" rather
// than "unknown".
constexpr const char* kOtherDtypes[] = {"F64", "F8_E5M2", "I64", "I16", "I8",
                                        "U64", "U32",     "U16", "U8",  "BOOL"};

StatusOr<TensorDType> ParseDType(const std::string& s, const std::string& where) {
  if (s == "F32") return TensorDType::kF32;
  if (s == "F16") return TensorDType::kF16;
  if (s == "BF16") return TensorDType::kBF16;
  if (s == "F8_E4M3") return TensorDType::kF8E4M3;
  if (s == "I32") return TensorDType::kI32;
  for (const char* other : kOtherDtypes) {
    if (s == other) {
      return InvalidArgument(where, ": dtype ", s,
                             " is not supported (supported: F32, F16, BF16, F8_E4M3, I32)");
    }
  }
  return InvalidArgument(where, ": unknown dtype \"", s,
                         "\" (supported: F32, F16, BF16, F8_E4M3, I32)");
}

// Reads a non-negative integer that fits in int64 from a JSON value.
bool AsNonNegative(const json& v, uint64_t* out) {
  if (v.is_number_unsigned()) {
    *out = v.get<uint64_t>();
    return *out <= static_cast<uint64_t>(INT64_MAX);
  }
  if (v.is_number_integer()) {
    int64_t i = v.get<int64_t>();
    if (i < 0) return false;
    *out = static_cast<uint64_t>(i);
    return true;
  }
  return false;
}

StatusOr<std::vector<ParsedHeaderEntry>> ParseHeader(std::string_view text, uint64_t data_size,
                                                     const std::string& file,
                                                     std::map<std::string, std::string>* metadata) {
  MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, absl::StrCat("safetensors ", file, ": header")));
  json header = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded()) {
    return InvalidArgument("safetensors ", file, ": header is not valid JSON");
  }
  if (!header.is_object()) {
    return InvalidArgument("safetensors ", file, ": header must be a JSON object, got ",
                           header.type_name());
  }
  std::vector<ParsedHeaderEntry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) {
        return InvalidArgument("safetensors ", file, ": __metadata__ must be an object");
      }
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) {
          return InvalidArgument("safetensors ", file, ": __metadata__ value of \"", m.key(),
                                 "\" must be a string");
        }
        (*metadata)[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = absl::StrCat("safetensors ", file, ": tensor \"", name, "\"");
    if (!v.is_object()) return InvalidArgument(where, ": entry must be an object");
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) {
      return InvalidArgument(where, ": missing string field \"dtype\"");
    }
    ParsedHeaderEntry e;
    e.name = name;
    MIES_ASSIGN_OR_RETURN(e.dtype, ParseDType(dt->get<std::string>(), where));
    auto shape = v.find("shape");
    if (shape == v.end() || !shape->is_array()) {
      return InvalidArgument(where, ": missing array field \"shape\"");
    }
    // numel * element size, overflow-checked against the largest possible file.
    unsigned __int128 bytes = static_cast<unsigned __int128>(TensorDTypeSize(e.dtype));
    for (const json& d : *shape) {
      uint64_t dim = 0;
      if (!AsNonNegative(d, &dim)) {
        return InvalidArgument(where, ": shape entries must be non-negative integers, got ",
                               d.dump());
      }
      e.shape.push_back(static_cast<int64_t>(dim));
      bytes *= dim;
      if (bytes > static_cast<unsigned __int128>(INT64_MAX)) {
        return InvalidArgument(where, ": shape ", shape->dump(), " is too large");
      }
    }
    auto off = v.find("data_offsets");
    if (off == v.end() || !off->is_array() || off->size() != 2) {
      return InvalidArgument(where, ": \"data_offsets\" must be an array [begin, end]");
    }
    if (!AsNonNegative((*off)[0], &e.begin) || !AsNonNegative((*off)[1], &e.end)) {
      return InvalidArgument(where, ": data_offsets must be non-negative integers, got ",
                             off->dump());
    }
    if (e.begin > e.end) {
      return InvalidArgument(where, ": data_offsets ", off->dump(), " has begin > end");
    }
    if (e.end > data_size) {
      return InvalidArgument(where, ": data_offsets ", off->dump(),
                             " point outside the data section (", data_size, " bytes)");
    }
    if (static_cast<unsigned __int128>(e.end - e.begin) != bytes) {
      return InvalidArgument(where, ": data_offsets ", off->dump(), " span ", e.end - e.begin,
                             " bytes but shape ", shape->dump(), " of ", TensorDTypeName(e.dtype),
                             " needs ", static_cast<uint64_t>(bytes), " bytes");
    }
    entries.push_back(std::move(e));
  }
  // No overlap: sorted by begin, each tensor starts at or after the previous one's end.
  // (Zero-sized tensors take no bytes and cannot overlap anything.)
  std::vector<const ParsedHeaderEntry*> sorted;
  for (const auto& e : entries) {
    if (e.end > e.begin) sorted.push_back(&e);
  }
  std::sort(sorted.begin(), sorted.end(),
            [](const auto* a, const auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i) {
    if (sorted[i]->begin < sorted[i - 1]->end) {
      return InvalidArgument("safetensors ", file, ": tensors \"", sorted[i - 1]->name, "\" [",
                             sorted[i - 1]->begin, ", ", sorted[i - 1]->end, ") and \"",
                             sorted[i]->name, "\" [", sorted[i]->begin, ", ", sorted[i]->end,
                             ") overlap");
    }
  }
  return entries;
}

}  // namespace

const char* TensorDTypeName(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF32:
      return "F32";
    case TensorDType::kF16:
      return "F16";
    case TensorDType::kBF16:
      return "BF16";
    case TensorDType::kF8E4M3:
      return "F8_E4M3";
    case TensorDType::kI32:
      return "I32";
  }
  return "?";
}

int64_t TensorDTypeSize(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF32:
    case TensorDType::kI32:
      return 4;
    case TensorDType::kF8E4M3:
      return 1;
    default:
      return 2;
  }
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

StatusOr<std::unique_ptr<MappedFile>> MappedFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFound("cannot open ", path, ": ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Internal("cannot stat ", path, ": ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return InvalidArgument(path, ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  const std::byte* data = nullptr;
  if (size > 0) {
    void* p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int err = errno;
      ::close(fd);
      return Internal("cannot mmap ", path, ": ", std::strerror(err));
    }
    data = static_cast<const std::byte*>(p);
  }
  ::close(fd);  // the mapping stays valid
  return std::unique_ptr<MappedFile>(new MappedFile(path, data, size));
}

void TensorInfo::ReleasePages() const {
  static const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(data.data());
  const uintptr_t first = (begin + page - 1) / page * page;
  const uintptr_t last = (begin + data.size()) / page * page;
  // Advice only: a failure costs memory, not correctness.
  if (last > first) ::madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);
}

MappedFile::~MappedFile() {
  if (data_ != nullptr) ::munmap(const_cast<std::byte*>(data_), size_);
}

StatusOr<std::unique_ptr<SafetensorsFile>> SafetensorsFile::Open(const std::string& path) {
  MIES_ASSIGN_OR_RETURN(auto file, MappedFile::Open(path));
  std::span<const std::byte> bytes = file->bytes();
  if (bytes.size() < 8) {
    return InvalidArgument("safetensors ", path, ": file is ", bytes.size(),
                           " bytes, shorter than the 8-byte header length");
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<uint8_t>(bytes[i]);
  if (n > bytes.size() - 8) {
    return InvalidArgument("safetensors ", path, ": header length ", n, " exceeds the file (",
                           bytes.size() - 8, " bytes after the length)");
  }
  if (n > kMaxSafetensorsHeaderBytes) {
    return InvalidArgument("safetensors ", path, ": header length ", n, " exceeds the limit of ",
                           kMaxSafetensorsHeaderBytes, " bytes");
  }
  if (n < 2) {
    return InvalidArgument("safetensors ", path, ": header length ", n,
                           " is too small for a JSON object");
  }
  std::string_view text(reinterpret_cast<const char*>(bytes.data() + 8), n);
  std::span<const std::byte> data_section = bytes.subspan(8 + n);
  std::unique_ptr<SafetensorsFile> out(new SafetensorsFile());
  MIES_ASSIGN_OR_RETURN(auto entries,
                        ParseHeader(text, data_section.size(), path, &out->metadata_));
  for (auto& e : entries) {
    TensorInfo info;
    info.name = e.name;
    info.dtype = e.dtype;
    info.shape = std::move(e.shape);
    info.data = data_section.subspan(e.begin, e.end - e.begin);
    out->tensors_.emplace(e.name, std::move(info));
  }
  out->file_ = std::move(file);
  return out;
}

const TensorInfo* SafetensorsFile::Find(const std::string& name) const {
  auto it = tensors_.find(name);
  return it == tensors_.end() ? nullptr : &it->second;
}

StatusOr<std::unique_ptr<Checkpoint>> Checkpoint::Open(const std::string& model_dir) {
  namespace fs = std::filesystem;
  std::unique_ptr<Checkpoint> ckpt(new Checkpoint());
  ckpt->dir_ = model_dir;
  const fs::path dir(model_dir);
  const fs::path index_path = dir / "model.safetensors.index.json";
  std::error_code ec;
  if (fs::exists(index_path, ec)) {
    MIES_ASSIGN_OR_RETURN(std::string text, ReadWholeFile(index_path.string()));
    MIES_RETURN_IF_ERROR(CheckJsonTextDepth(text, index_path.string()));
    json index = json::parse(text, nullptr, false);
    if (index.is_discarded() || !index.is_object()) {
      return InvalidArgument(index_path.string(), ": not a valid JSON object");
    }
    auto wm = index.find("weight_map");
    if (wm == index.end() || !wm->is_object() || wm->empty()) {
      return InvalidArgument(index_path.string(),
                             ": missing or empty object \"weight_map\" (tensor name -> file)");
    }
    std::map<std::string, SafetensorsFile*> by_file;
    for (auto it = wm->begin(); it != wm->end(); ++it) {
      if (!it.value().is_string()) {
        return InvalidArgument(index_path.string(), ": weight_map entry \"", it.key(),
                               "\" must be a file name string");
      }
      const std::string fname = it.value().get<std::string>();
      // Shards live next to the index: a path component would let the index point anywhere.
      if (fname.empty() || fname.find('/') != std::string::npos || fname == "." || fname == "..") {
        return InvalidArgument(index_path.string(), ": weight_map entry \"", it.key(),
                               "\" names \"", fname,
                               "\" (rule: a plain file name in the model directory)");
      }
      auto f = by_file.find(fname);
      if (f == by_file.end()) {
        MIES_ASSIGN_OR_RETURN(auto shard, SafetensorsFile::Open((dir / fname).string()));
        f = by_file.emplace(fname, shard.get()).first;
        ckpt->files_.push_back(std::move(shard));
      }
      const TensorInfo* info = f->second->Find(it.key());
      if (info == nullptr) {
        return InvalidArgument(index_path.string(), ": tensor \"", it.key(), "\" is mapped to ",
                               fname, " but that file does not contain it");
      }
      ckpt->index_[it.key()] = info;
    }
    return ckpt;
  }
  const fs::path single = dir / "model.safetensors";
  if (!fs::exists(single, ec)) {
    return NotFound("model directory ", model_dir,
                    " has neither model.safetensors nor model.safetensors.index.json");
  }
  MIES_ASSIGN_OR_RETURN(auto file, SafetensorsFile::Open(single.string()));
  for (const auto& [name, info] : file->tensors()) ckpt->index_[name] = &info;
  ckpt->files_.push_back(std::move(file));
  return ckpt;
}

const TensorInfo* Checkpoint::Find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

StatusOr<const TensorInfo*> Checkpoint::Get(const std::string& name) const {
  const TensorInfo* t = Find(name);
  if (t == nullptr) return NotFound("checkpoint ", dir_, ": tensor \"", name, "\" is missing");
  return t;
}

std::vector<std::string> Checkpoint::TensorNames() const {
  std::vector<std::string> names;
  for (const auto& [name, info] : index_) names.push_back(name);
  return names;
}

}  // namespace mies::model
