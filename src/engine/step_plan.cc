// Byte layout of a step plan (little-endian, version 1):
//   u32 magic "MSP1" | u16 version | u8 flags (bit0 shutdown) | u64 step_id
//   u32 num_sequences, each: u64 seq_id | i64 start_pos | u8 flags (bit0 all_logits,
//       bit1 want_logits) | u32 n, n x i32 tokens | u32 m, m x i32 block_table
//   u32 num_copies, each: i32 src | i32 dst
// Every count is checked against the bytes left before anything is allocated, and trailing
// bytes are an error, so a corrupt or truncated buffer gives a Status, never a crash.
#include "engine/step_plan.h"

#include <cstring>

namespace mies::engine {
namespace {

constexpr uint32_t kMagic = 0x3150534D;  // "MSP1" read as little-endian u32
constexpr uint16_t kVersion = 1;

class Writer {
 public:
  template <typename T>
  void Put(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // x86/ARM hosts are little-endian
    out_.append(b, sizeof(T));
  }
  void PutIds(const std::vector<int32_t>& ids) {
    Put<uint32_t>(static_cast<uint32_t>(ids.size()));
    if (!ids.empty()) {
      out_.append(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
    }
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(const std::string& b) : b_(b) {}
  template <typename T>
  Status Get(T* v, const char* what) {
    if (b_.size() - pos_ < sizeof(T)) {
      return InvalidArgument("step plan: truncated at byte ", pos_, " reading ", what);
    }
    std::memcpy(v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return OkStatus();
  }
  Status GetIds(std::vector<int32_t>* ids, const char* what) {
    uint32_t n = 0;
    MIES_RETURN_IF_ERROR(Get(&n, what));
    if (static_cast<uint64_t>(n) * sizeof(int32_t) > b_.size() - pos_) {
      return InvalidArgument("step plan: ", what, " count ", n, " exceeds the ", b_.size() - pos_,
                             " bytes left");
    }
    ids->resize(n);
    if (n > 0) std::memcpy(ids->data(), b_.data() + pos_, n * sizeof(int32_t));
    pos_ += n * sizeof(int32_t);
    return OkStatus();
  }
  size_t left() const { return b_.size() - pos_; }
  size_t pos() const { return pos_; }

 private:
  const std::string& b_;
  size_t pos_ = 0;
};

// Smallest encoded sequence: ids, start, flags, two empty lists.
constexpr size_t kMinSequenceBytes = 8 + 8 + 1 + 4 + 4;

}  // namespace

std::string StepPlan::Serialize() const {
  Writer w;
  w.Put<uint32_t>(kMagic);
  w.Put<uint16_t>(kVersion);
  w.Put<uint8_t>(shutdown ? 1 : 0);
  w.Put<uint64_t>(step_id);
  w.Put<uint32_t>(static_cast<uint32_t>(sequences.size()));
  for (const StepSequence& s : sequences) {
    w.Put<uint64_t>(s.seq_id);
    w.Put<int64_t>(s.start_pos);
    w.Put<uint8_t>((s.all_logits ? 1 : 0) | (s.want_logits ? 2 : 0));
    w.PutIds(s.tokens);
    w.PutIds(s.block_table);
  }
  w.Put<uint32_t>(static_cast<uint32_t>(block_copies.size()));
  for (const auto& [src, dst] : block_copies) {
    w.Put<int32_t>(src);
    w.Put<int32_t>(dst);
  }
  return w.Take();
}

StatusOr<StepPlan> StepPlan::Deserialize(const std::string& bytes) {
  Reader r(bytes);
  uint32_t magic = 0;
  uint16_t version = 0;
  uint8_t flags = 0;
  MIES_RETURN_IF_ERROR(r.Get(&magic, "magic"));
  if (magic != kMagic) return InvalidArgument("step plan: bad magic 0x", absl::Hex(magic));
  MIES_RETURN_IF_ERROR(r.Get(&version, "version"));
  if (version != kVersion) {
    return InvalidArgument("step plan: version ", version, " is not supported (expected ", kVersion,
                           ")");
  }
  StepPlan plan;
  MIES_RETURN_IF_ERROR(r.Get(&flags, "flags"));
  if (flags & ~1u) return InvalidArgument("step plan: unknown flag bits ", int{flags});
  plan.shutdown = flags & 1;
  MIES_RETURN_IF_ERROR(r.Get(&plan.step_id, "step_id"));
  uint32_t n = 0;
  MIES_RETURN_IF_ERROR(r.Get(&n, "sequence count"));
  if (static_cast<uint64_t>(n) * kMinSequenceBytes > r.left()) {
    return InvalidArgument("step plan: sequence count ", n, " exceeds the ", r.left(),
                           " bytes left");
  }
  plan.sequences.resize(n);
  for (uint32_t i = 0; i < n; ++i) {
    StepSequence& s = plan.sequences[i];
    uint8_t sf = 0;
    MIES_RETURN_IF_ERROR(r.Get(&s.seq_id, "seq_id"));
    MIES_RETURN_IF_ERROR(r.Get(&s.start_pos, "start_pos"));
    if (s.start_pos < 0) {
      return InvalidArgument("step plan: sequence ", i, " has negative start_pos ", s.start_pos);
    }
    MIES_RETURN_IF_ERROR(r.Get(&sf, "sequence flags"));
    if (sf & ~3u) return InvalidArgument("step plan: sequence ", i, " has unknown flag bits");
    s.all_logits = sf & 1;
    s.want_logits = sf & 2;
    MIES_RETURN_IF_ERROR(r.GetIds(&s.tokens, "tokens"));
    MIES_RETURN_IF_ERROR(r.GetIds(&s.block_table, "block_table"));
  }
  uint32_t copies = 0;
  MIES_RETURN_IF_ERROR(r.Get(&copies, "copy count"));
  if (static_cast<uint64_t>(copies) * 8 > r.left()) {
    return InvalidArgument("step plan: copy count ", copies, " exceeds the ", r.left(),
                           " bytes left");
  }
  plan.block_copies.resize(copies);
  for (auto& [src, dst] : plan.block_copies) {
    MIES_RETURN_IF_ERROR(r.Get(&src, "copy src"));
    MIES_RETURN_IF_ERROR(r.Get(&dst, "copy dst"));
  }
  if (r.left() != 0) {
    return InvalidArgument("step plan: ", r.left(), " trailing bytes after byte ", r.pos());
  }
  return plan;
}

}  // namespace mies::engine
