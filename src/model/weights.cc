#include "model/weights.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "kernels/int4.h"
#include "kernels/ops.h"

namespace mies::model {
namespace {

using kernels::DType;

DType FromTensorDType(TensorDType t) {
  switch (t) {
    case TensorDType::kF32:
      return DType::kF32;
    case TensorDType::kF16:
      return DType::kF16;
    case TensorDType::kBF16:
      return DType::kBF16;
    case TensorDType::kI32:  // packed GPTQ/AWQ words: Loader::Matrix routes them, never read here
    case TensorDType::kF8E4M3:  // block-scaled: Loader::SourceRow dequantizes them
      break;
  }
  return DType::kF32;
}

std::string ShapeString(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) absl::StrAppend(&out, i ? ", " : "", s[i]);
  return out + "]";
}

// How one tensor is cut for this rank: a range of rows or of columns of the [rows][cols]
// matrix (a 1-D tensor is one row), or the whole tensor.
struct Shard {
  enum class Split { kWhole, kRows, kCols };
  Split split = Split::kWhole;
  int64_t begin = 0, count = 0;
};

// The tensor roles of a layer and how each is split: the rule table of weights.h, in code.
enum class Role {
  kQ,
  kK,
  kV,
  kO,
  kGate,
  kUp,
  kDown,
  kLmHead,
  kExpertGateUp,
  kExpertDown,  // a MoE expert this rank holds (its slice of Ie)
  kSharedGateUp,
  kSharedDown,  // the shared expert (sliced like the dense MLP)
  kMlaQ,        // MLA: the query rows of this rank's heads
  kMlaO,        // MLA: o_proj's value columns of this rank's heads
};

Shard ShardFor(Role role, const HfConfig& c, const ShardLayout& l) {
  const int64_t hd = c.head_dim;
  switch (role) {
    case Role::kQ:
      return {Shard::Split::kRows, l.q_head_begin * hd, l.num_q_heads * hd};
    case Role::kK:
    case Role::kV:
      return {Shard::Split::kRows, l.kv_head_begin * hd, l.num_kv_heads * hd};
    case Role::kO:
      return {Shard::Split::kCols, l.q_head_begin * hd, l.num_q_heads * hd};
    case Role::kGate:
    case Role::kUp:
      return {Shard::Split::kRows, l.inter_begin, l.inter_size};
    case Role::kDown:
      return {Shard::Split::kCols, l.inter_begin, l.inter_size};
    case Role::kLmHead:
      return {Shard::Split::kRows, l.vocab_begin[l.tp_rank], l.vocab_local()};
    case Role::kExpertGateUp:
      return {Shard::Split::kRows, l.expert_inter_begin, l.expert_inter_size};
    case Role::kExpertDown:
      return {Shard::Split::kCols, l.expert_inter_begin, l.expert_inter_size};
    case Role::kSharedGateUp:
      return {Shard::Split::kRows, l.shared_inter_begin, l.shared_inter_size};
    case Role::kSharedDown:
      return {Shard::Split::kCols, l.shared_inter_begin, l.shared_inter_size};
    case Role::kMlaQ: {
      const int64_t qk = c.mla.qk_nope_head_dim + c.mla.qk_rope_head_dim;
      return {Shard::Split::kRows, l.q_head_begin * qk, l.num_q_heads * qk};
    }
    case Role::kMlaO:
      return {Shard::Split::kCols, l.q_head_begin * c.mla.v_head_dim,
              l.num_q_heads * c.mla.v_head_dim};
  }
  return {};
}

// float8_e4m3fn -> float: 1 sign, 4 exponent (bias 7), 3 mantissa bits, no infinities,
// S.1111.111 is NaN.
const std::array<float, 256>& E4m3Table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int b = 0; b < 256; ++b) {
      const int e = (b >> 3) & 15, m = b & 7;
      float v;
      if (e == 15 && m == 7) {
        v = std::numeric_limits<float>::quiet_NaN();
      } else if (e == 0) {
        v = std::ldexp(static_cast<float>(m) / 8.0f, -6);
      } else {
        v = std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
      }
      t[b] = (b & 0x80) ? -v : v;
    }
    return t;
  }();
  return table;
}

// One f32 row stored as `dtype` (int8: quantized with its own scale, written to *scale).
Status StoreRow(const float* row, int64_t cols, DType dtype, std::byte* dst, float* scale) {
  switch (dtype) {
    case DType::kF32:
      std::memcpy(dst, row, static_cast<size_t>(cols) * sizeof(float));
      return OkStatus();
    case DType::kBF16:
      kernels::ConvertF32ToBF16(row, cols, reinterpret_cast<uint16_t*>(dst));
      return OkStatus();
    case DType::kF16:
      kernels::ConvertF32ToF16(row, cols, reinterpret_cast<uint16_t*>(dst));
      return OkStatus();
    case DType::kInt8:
      return kernels::QuantizeRowsInt8(row, 1, cols, reinterpret_cast<int8_t*>(dst), scale);
    case DType::kInt4:  // a panel layout, not row by row: Loader::Int4
      break;
  }
  return Internal("StoreRow: dtype ", std::string(kernels::DTypeName(dtype)),
                  " is not stored row by row");
}

class Loader {
 public:
  // FP8 checkpoints: config's quantization_config weight_block_size (0 x 0: not FP8).
  Loader(const Checkpoint& ckpt, const QuantOptions& quant, const HfConfig& config)
      : ckpt_(ckpt),
        quant_(quant),
        ckpt_quant_(config.quantization),
        fp8_rows_(config.fp8_block_rows),
        fp8_cols_(config.fp8_block_cols) {}

  // The [out][in] matrix `base` (e.g. "model.layers.0.self_attn.q_proj"): its ".weight", or in a
  // GPTQ/AWQ checkpoint its ".qweight", with ".qzeros" and ".scales" checked against the shape.
  StatusOr<const TensorInfo*> Matrix(const std::string& base,
                                     const std::vector<int64_t>& shape) const {
    if (!ckpt_quant_) return Tensor(base + ".weight", shape);
    const int64_t out = shape[0], in = shape[1];
    const bool gptq = ckpt_quant_->method == "gptq";
    const int64_t group = ckpt_quant_->group_size > 0 ? ckpt_quant_->group_size : in;
    if (in % 8 != 0 || out % 8 != 0 || in % group != 0) {
      return InvalidArgument("checkpoint ", ckpt_.dir(), ": ", base, " [", out, "][", in,
                             "] cannot hold ", ckpt_quant_->method, " 4-bit weights of group size ",
                             group,
                             " (rule: both dimensions multiples of 8, in a multiple of the group)");
    }
    const int64_t groups = in / group;
    MIES_ASSIGN_OR_RETURN(const TensorInfo* qw,
                          Tensor(base + ".qweight", gptq ? std::vector<int64_t>{in / 8, out}
                                                         : std::vector<int64_t>{in, out / 8}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* qz, Tensor(base + ".qzeros", {groups, out / 8}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* sc, Tensor(base + ".scales", {groups, out}));
    if (qw->dtype != TensorDType::kI32 || qz->dtype != TensorDType::kI32 ||
        sc->dtype != TensorDType::kF16) {
      return InvalidArgument("checkpoint ", ckpt_.dir(), ": ", base,
                             " qweight/qzeros must be I32 and scales F16");
    }
    if (const TensorInfo* gi = ckpt_.Find(base + ".g_idx"); gi != nullptr) {
      if (gi->dtype != TensorDType::kI32 || gi->shape != std::vector<int64_t>{in}) {
        return InvalidArgument("checkpoint ", ckpt_.dir(), ": ", base, ".g_idx must be I32 [", in,
                               "]");
      }
      for (int64_t i = 0; i < in; ++i) {
        if (I32(*gi, i) != i / group) {
          return InvalidArgument("checkpoint ", ckpt_.dir(), ": ", base, ".g_idx[", i,
                                 "] = ", I32(*gi, i), ", not ", i / group,
                                 ": permuted (act-order) groups are not supported");
        }
      }
    }
    return qw;
  }

  // The tensor with its shape checked against `shape`.
  StatusOr<const TensorInfo*> Tensor(const std::string& name,
                                     const std::vector<int64_t>& shape) const {
    MIES_ASSIGN_OR_RETURN(const TensorInfo* t, ckpt_.Get(name));
    if (t->shape != shape) {
      return InvalidArgument("checkpoint ", ckpt_.dir(), ": tensor \"", name, "\" has shape ",
                             ShapeString(t->shape), ", config.json implies ", ShapeString(shape));
    }
    return t;
  }

  // A 1-D f32 vector (norms, biases), optionally a [begin, begin+count) slice.
  StatusOr<std::vector<float>> Vector(const std::string& name, int64_t n, int64_t begin = 0,
                                      int64_t count = -1) const {
    MIES_ASSIGN_OR_RETURN(const TensorInfo* t, Tensor(name, {n}));
    MIES_RETURN_IF_ERROR(NotFp8(*t));
    if (count < 0) count = n;
    std::vector<float> out(static_cast<size_t>(count));
    ReadRow(*t, begin, count, out.data());
    return out;
  }

  struct Part {
    const TensorInfo* t;
    Shard shard;
  };

  // Calls fn(part, source row, element offset of the row's slice) for every row of the stacked
  // shards, in order.
  template <class Fn>
  static Status ForEachRow(const std::vector<Part>& parts, Fn&& fn) {
    for (const Part& p : parts) {
      const int64_t src_cols = p.t->shape[1];
      const int64_t row0 = p.shard.split == Shard::Split::kRows ? p.shard.begin : 0;
      const int64_t nrows = p.shard.split == Shard::Split::kRows ? p.shard.count : p.t->shape[0];
      const int64_t col0 = p.shard.split == Shard::Split::kCols ? p.shard.begin : 0;
      for (int64_t i = 0; i < nrows; ++i) {
        MIES_RETURN_IF_ERROR(fn(p, row0 + i, (row0 + i) * src_cols + col0));
      }
    }
    return OkStatus();
  }

  // Builds a matrix from the shards of one or more [rows][cols] tensors, stacked by rows.
  StatusOr<LinearWeight> Linear(const std::vector<Part>& parts, DType dtype) const {
    if (parts[0].t->dtype == TensorDType::kI32) return CheckpointInt4(parts);
    int64_t rows = 0, cols = -1;
    for (const Part& p : parts) {
      const int64_t pr = p.shard.split == Shard::Split::kRows ? p.shard.count : p.t->shape[0];
      const int64_t pc = p.shard.split == Shard::Split::kCols ? p.shard.count : p.t->shape[1];
      if (cols >= 0 && pc != cols) {
        return Internal("fused weight parts disagree on columns: ", cols, " vs ", pc);
      }
      cols = pc;
      rows += pr;
    }
    LinearWeight w;
    if (dtype == DType::kInt4) return Int4(parts, rows, cols);
    w.data = AlignedBuffer(static_cast<size_t>(rows * cols * kernels::DTypeSize(dtype)));
    if (dtype == DType::kInt8) w.scales.resize(static_cast<size_t>(rows));
    std::vector<float> row(static_cast<size_t>(cols));
    int64_t r = 0;
    MIES_RETURN_IF_ERROR(
        ForEachRow(parts, [&](const Part& p, int64_t src_row, int64_t offset) -> Status {
          std::byte* dst = w.data.data() + r * cols * kernels::DTypeSize(dtype);
          const DType src = FromTensorDType(p.t->dtype);
          if (p.t->dtype != TensorDType::kF8E4M3 && src == dtype) {
            // Same dtype: a straight copy of the slice.
            std::memcpy(dst, p.t->data.data() + offset * kernels::DTypeSize(src),
                        static_cast<size_t>(cols * kernels::DTypeSize(src)));
            ++r;
            return OkStatus();
          }
          MIES_RETURN_IF_ERROR(SourceRow(p, src_row, offset, cols, row.data()));
          Status s =
              StoreRow(row.data(), cols, dtype, dst, w.scales.empty() ? nullptr : &w.scales[r]);
          if (!s.ok()) {
            return InvalidArgument("tensor \"", p.t->name, "\" row ", src_row, ": ", s.message());
          }
          ++r;
          return OkStatus();
        }));
    ReleasePages(parts);
    w.view.dtype = dtype;
    w.view.rows = rows;
    w.view.cols = cols;
    w.view.data = w.data.data();
    w.view.scales = dtype == DType::kInt8 ? w.scales.data() : nullptr;
    w.view.activations = quant_.activations;
    MIES_RETURN_IF_ERROR(kernels::ValidateWeightView(w.view));
    return w;
  }

  // The same matrix quantized to group-wise int4 (kernels/int4.h), row by row.
  StatusOr<LinearWeight> Int4(const std::vector<Part>& parts, int64_t rows, int64_t cols) const {
    MIES_ASSIGN_OR_RETURN(kernels::Int4Layout layout,
                          kernels::MakeInt4Layout(rows, cols, quant_.int4_group_size, false));
    LinearWeight w;
    w.data = AlignedBuffer(static_cast<size_t>(layout.total_bytes));
    std::memset(w.data.data(), 0, w.data.size());
    std::vector<float> row(static_cast<size_t>(cols));
    int64_t r = 0;
    MIES_RETURN_IF_ERROR(
        ForEachRow(parts, [&](const Part& p, int64_t src_row, int64_t offset) -> Status {
          MIES_RETURN_IF_ERROR(SourceRow(p, src_row, offset, cols, row.data()));
          Status s = kernels::QuantizeInt4Rows(row.data(), r++, 1, layout, w.data.data());
          if (!s.ok()) {
            return InvalidArgument("tensor \"", p.t->name, "\" row ", src_row, ": ", s.message());
          }
          return OkStatus();
        }));
    ReleasePages(parts);
    w.view = kernels::Int4View(layout, w.data.data());
    MIES_RETURN_IF_ERROR(kernels::ValidateWeightView(w.view));
    return w;
  }

  static int32_t I32(const TensorInfo& t, int64_t index) {
    int32_t v;
    std::memcpy(&v, t.data.data() + index * 4, 4);
    return v;
  }

  // A GPTQ/AWQ matrix (parts: the ".qweight" tensors Matrix() returned) unpacked into the
  // kernels' int4 layout with zero points. GPTQ: qweight [in/8][out], nibble i % 8 of row i / 8
  // is input i; qzeros [groups][out/8], nibble o % 8 is output o, stored as zero - 1. AWQ (GEMM):
  // qweight [in][out/8] and qzeros [groups][out/8], output 8j + k in nibble kAwqNibble[k]. Both:
  // scales F16 [groups][out], w = (q - zero) * scale. A row-parallel shard must start and end on
  // group boundaries.
  StatusOr<LinearWeight> CheckpointInt4(const std::vector<Part>& parts) const {
    static constexpr int kAwqNibble[8] = {0, 4, 1, 5, 2, 6, 3, 7};
    const bool gptq = ckpt_quant_->method == "gptq";
    int64_t rows = 0, cols = -1, group = 0;
    for (const Part& p : parts) {
      const int64_t out = gptq ? p.t->shape[1] : p.t->shape[1] * 8;
      const int64_t in = gptq ? p.t->shape[0] * 8 : p.t->shape[0];
      const int64_t g = ckpt_quant_->group_size > 0 ? ckpt_quant_->group_size : in;
      const int64_t pc = p.shard.split == Shard::Split::kCols ? p.shard.count : in;
      const int64_t pr = p.shard.split == Shard::Split::kRows ? p.shard.count : out;
      if (p.shard.split == Shard::Split::kCols &&
          (p.shard.begin % g != 0 || (p.shard.count % g != 0 && p.shard.begin + pc != in))) {
        return InvalidArgument(p.t->name, ": input columns [", p.shard.begin, ", ",
                               p.shard.begin + pc, ") of this rank do not start and end on ",
                               "groups of ", g, " (choose a tensor-parallel size that does)");
      }
      if ((cols >= 0 && pc != cols) || (group > 0 && g != group)) {
        return Internal("fused quantized parts disagree on columns or group size");
      }
      cols = pc;
      group = g;
      rows += pr;
    }
    MIES_ASSIGN_OR_RETURN(kernels::Int4Layout layout,
                          kernels::MakeInt4Layout(rows, cols, group, /*zero_points=*/true));
    LinearWeight w;
    w.data = AlignedBuffer(static_cast<size_t>(layout.total_bytes));
    std::memset(w.data.data(), 0, w.data.size());
    std::vector<uint8_t> q(static_cast<size_t>(cols)), z(static_cast<size_t>(layout.groups));
    std::vector<float> sc(static_cast<size_t>(layout.groups));
    int64_t r = 0;
    for (const Part& p : parts) {
      const std::string base =
          p.t->name.substr(0, p.t->name.size() - std::string(".qweight").size());
      const TensorInfo* qz = ckpt_.Find(base + ".qzeros");
      const TensorInfo* scales = ckpt_.Find(base + ".scales");
      const int64_t out = gptq ? p.t->shape[1] : p.t->shape[1] * 8;
      const int64_t o0 = p.shard.split == Shard::Split::kRows ? p.shard.begin : 0;
      const int64_t no = p.shard.split == Shard::Split::kRows ? p.shard.count : out;
      const int64_t c0 = p.shard.split == Shard::Split::kCols ? p.shard.begin : 0;
      auto nibble = [](int32_t word, int k) {
        return static_cast<uint8_t>((word >> (4 * k)) & 15);
      };
      for (int64_t o = o0; o < o0 + no; ++o, ++r) {
        for (int64_t c = 0; c < cols; ++c) {
          const int64_t i = c0 + c;
          q[static_cast<size_t>(c)] =
              gptq ? nibble(I32(*p.t, (i / 8) * out + o), static_cast<int>(i % 8))
                   : nibble(I32(*p.t, i * (out / 8) + o / 8), kAwqNibble[o % 8]);
        }
        for (int64_t g = 0; g < layout.groups; ++g) {
          const int64_t gg = c0 / group + g;
          const int32_t zw = I32(*qz, gg * (out / 8) + o / 8);
          // GPTQ stores zero - 1 and dequantizes with the nibble + 1 (so 15 reads as 16).
          z[static_cast<size_t>(g)] = static_cast<uint8_t>(
              gptq ? nibble(zw, static_cast<int>(o % 8)) + 1 : nibble(zw, kAwqNibble[o % 8]));
          uint16_t h;
          std::memcpy(&h, scales->data.data() + (gg * out + o) * 2, 2);
          sc[static_cast<size_t>(g)] = kernels::F16ToF32(h);
        }
        kernels::PackInt4Row(r, q.data(), z.data(), sc.data(), layout, w.data.data());
      }
    }
    w.view = kernels::Int4View(layout, w.data.data());
    MIES_RETURN_IF_ERROR(kernels::ValidateWeightView(w.view));
    return w;
  }

  // One source row's slice as f32 (FP8 weights dequantized with their block scales).
  Status SourceRow(const Part& p, int64_t src_row, int64_t offset, int64_t cols, float* row) const {
    if (p.t->dtype != TensorDType::kF8E4M3) {
      ReadRow(*p.t, offset, cols, row);
      return OkStatus();
    }
    MIES_ASSIGN_OR_RETURN(const TensorInfo* scale_inv, Fp8Scales(*p.t));
    ReadFp8Row(*p.t, *scale_inv, src_row, offset - src_row * p.t->shape[1], cols, row);
    return OkStatus();
  }

  // Drops the converted tensors' (and FP8 scales') mapped pages from the resident set.
  void ReleasePages(const std::vector<Part>& parts) const {
    for (const Part& p : parts) {
      p.t->ReleasePages();
      if (const TensorInfo* s = ckpt_.Find(p.t->name + "_scale_inv")) s->ReleasePages();
    }
  }

  // A matrix built from f32 rows [rows][cols] (weights the loader rearranges first, as MLA's
  // absorbed projections), stored in `dtype`.
  StatusOr<LinearWeight> FromF32(const std::vector<float>& m, int64_t rows, int64_t cols,
                                 DType dtype, const std::string& what) const {
    if (dtype == DType::kInt4) {
      MIES_ASSIGN_OR_RETURN(kernels::Int4Layout layout,
                            kernels::MakeInt4Layout(rows, cols, quant_.int4_group_size, false));
      LinearWeight w;
      w.data = AlignedBuffer(static_cast<size_t>(layout.total_bytes));
      std::memset(w.data.data(), 0, w.data.size());
      MIES_RETURN_IF_ERROR(kernels::QuantizeInt4Rows(m.data(), 0, rows, layout, w.data.data()));
      w.view = kernels::Int4View(layout, w.data.data());
      MIES_RETURN_IF_ERROR(kernels::ValidateWeightView(w.view));
      return w;
    }
    LinearWeight w;
    w.data = AlignedBuffer(static_cast<size_t>(rows * cols * kernels::DTypeSize(dtype)));
    if (dtype == DType::kInt8) w.scales.resize(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      Status s = StoreRow(m.data() + r * cols, cols, dtype,
                          w.data.data() + r * cols * kernels::DTypeSize(dtype),
                          w.scales.empty() ? nullptr : &w.scales[r]);
      if (!s.ok()) return InvalidArgument(what, " row ", r, ": ", s.message());
    }
    w.view.dtype = dtype;
    w.view.rows = rows;
    w.view.cols = cols;
    w.view.data = w.data.data();
    w.view.scales = dtype == DType::kInt8 ? w.scales.data() : nullptr;
    w.view.activations = quant_.activations;
    MIES_RETURN_IF_ERROR(kernels::ValidateWeightView(w.view));
    return w;
  }

  // Rows [row0, row0 + nrows) of a [rows][cols] tensor as f32 (any loadable dtype).
  StatusOr<std::vector<float>> Rows(const TensorInfo& t, int64_t row0, int64_t nrows) const {
    const int64_t cols = t.shape[1];
    std::vector<float> out(static_cast<size_t>(nrows * cols));
    const TensorInfo* scale_inv = nullptr;
    if (t.dtype == TensorDType::kF8E4M3) {
      MIES_ASSIGN_OR_RETURN(scale_inv, Fp8Scales(t));
    }
    for (int64_t i = 0; i < nrows; ++i) {
      if (scale_inv != nullptr) {
        ReadFp8Row(t, *scale_inv, row0 + i, 0, cols, out.data() + i * cols);
      } else {
        ReadRow(t, (row0 + i) * cols, cols, out.data() + i * cols);
      }
    }
    t.ReleasePages();
    return out;
  }

  // An error unless `t` can be read as plain values (an FP8 weight needs its block scales).
  static Status NotFp8(const TensorInfo& t) {
    if (t.dtype != TensorDType::kF8E4M3) return OkStatus();
    return InvalidArgument("tensor \"", t.name,
                           "\" is F8_E4M3; only block-scaled matrices may be (a vector or a "
                           "router must be F32, F16 or BF16)");
  }

  // The f32 [ceil(rows / block)][ceil(cols / block)] scales of an FP8 weight, checked.
  StatusOr<const TensorInfo*> Fp8Scales(const TensorInfo& t) const {
    if (fp8_rows_ <= 0 || t.shape.size() != 2) {
      return InvalidArgument("checkpoint ", ckpt_.dir(), ": tensor \"", t.name,
                             "\" is F8_E4M3 but config.json has no quantization_config "
                             "quant_method fp8 with a weight_block_size");
    }
    const std::vector<int64_t> want = {(t.shape[0] + fp8_rows_ - 1) / fp8_rows_,
                                       (t.shape[1] + fp8_cols_ - 1) / fp8_cols_};
    MIES_ASSIGN_OR_RETURN(const TensorInfo* s, Tensor(t.name + "_scale_inv", want));
    if (s->dtype != TensorDType::kF32) {
      return InvalidArgument("tensor \"", s->name, "\" must be F32, got ",
                             TensorDTypeName(s->dtype));
    }
    return s;
  }

  // Row `row`, columns [col0, col0 + count) of an FP8 weight, dequantized: e4m3 value times its
  // block's scale (DeepSeek's weight_scale_inv is the multiplier).
  void ReadFp8Row(const TensorInfo& t, const TensorInfo& scale_inv, int64_t row, int64_t col0,
                  int64_t count, float* dst) const {
    const auto& table = E4m3Table();
    const auto* bytes = reinterpret_cast<const uint8_t*>(t.data.data()) + row * t.shape[1] + col0;
    const int64_t scale_cols = scale_inv.shape[1];
    const int64_t srow = row / fp8_rows_;
    for (int64_t j = 0; j < count;) {
      const int64_t block = (col0 + j) / fp8_cols_;
      float scale;
      std::memcpy(&scale, scale_inv.data.data() + (srow * scale_cols + block) * 4, 4);
      const int64_t end = std::min(count, (block + 1) * fp8_cols_ - col0);
      for (; j < end; ++j) dst[j] = table[bytes[j]] * scale;
    }
  }

  // Converts `count` elements starting at element `offset` of `t` to f32. The source may be
  // unaligned inside the mapping, so it is copied to aligned scratch first.
  void ReadRow(const TensorInfo& t, int64_t offset, int64_t count, float* dst) const {
    const int64_t es = TensorDTypeSize(t.dtype);
    scratch_.resize(static_cast<size_t>(count * es));
    std::memcpy(scratch_.data(), t.data.data() + offset * es, scratch_.size());
    kernels::ConvertRow(scratch_.data(), FromTensorDType(t.dtype), count, dst);
  }

 private:
  const Checkpoint& ckpt_;
  QuantOptions quant_;
  std::optional<QuantizationConfig> ckpt_quant_;
  const int64_t fp8_rows_, fp8_cols_;
  mutable std::vector<std::byte> scratch_;
};

// The checkpoint names of one MoE layer's tensors, per architecture.
struct MoeNames {
  std::string router;          // [E][D]
  std::string gate, up, down;  // expert e: prefix + e + these
  std::string expert_prefix;
  std::string shared_prefix, shared_gate;  // Qwen2-MoE (DeepSeek: shared_experts, no gate)
  std::string router_bias;                 // DeepSeek-V3
};

MoeNames MoeNamesFor(const HfConfig& c, const std::string& layer) {
  MoeNames n;
  if (c.architecture == Architecture::kMixtral) {
    const std::string b = layer + "block_sparse_moe.";
    n.router = b + "gate.weight";
    n.expert_prefix = b + "experts.";
    n.gate = ".w1.weight";
    n.up = ".w3.weight";
    n.down = ".w2.weight";
    return n;
  }
  const std::string m = layer + "mlp.";
  n.router = m + "gate.weight";
  n.expert_prefix = m + "experts.";
  n.gate = ".gate_proj.weight";
  n.up = ".up_proj.weight";
  n.down = ".down_proj.weight";
  const bool deepseek =
      c.architecture == Architecture::kDeepseekV2 || c.architecture == Architecture::kDeepseekV3;
  n.shared_prefix = m + (deepseek ? "shared_experts." : "shared_expert.");
  n.shared_gate = m + "shared_expert_gate.weight";
  n.router_bias = m + "gate.e_score_correction_bias";
  return n;
}

// One MoE layer: the router (replicated), this rank's experts (only those are read), the
// shared expert's slice.
StatusOr<std::unique_ptr<MoeWeights>> LoadMoe(const Loader& ld, const HfConfig& c,
                                              const ShardLayout& l, const std::string& layer,
                                              DType dtype) {
  const int64_t D = c.hidden_size, E = c.moe.num_experts, Ie = c.moe.expert_intermediate_size;
  const MoeNames n = MoeNamesFor(c, layer);
  auto moe = std::make_unique<MoeWeights>();
  MIES_ASSIGN_OR_RETURN(const TensorInfo* router, ld.Tensor(n.router, {E, D}));
  MIES_RETURN_IF_ERROR(Loader::NotFp8(*router));
  moe->router.resize(static_cast<size_t>(E * D));
  ld.ReadRow(*router, 0, E * D, moe->router.data());
  moe->expert_begin = l.expert_begin;
  if (c.moe.topk_method == MoeConfig::TopkMethod::kNoauxTc) {
    MIES_ASSIGN_OR_RETURN(moe->router_bias, ld.Vector(n.router_bias, E));
  }
  const Shard gu = ShardFor(Role::kExpertGateUp, c, l), dn = ShardFor(Role::kExpertDown, c, l);
  for (int64_t e = l.expert_begin; e < l.expert_begin + l.num_experts; ++e) {
    const std::string x = absl::StrCat(n.expert_prefix, e);
    MIES_ASSIGN_OR_RETURN(const TensorInfo* g, ld.Tensor(x + n.gate, {Ie, D}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* u, ld.Tensor(x + n.up, {Ie, D}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* d, ld.Tensor(x + n.down, {D, Ie}));
    ExpertWeights ew;
    MIES_ASSIGN_OR_RETURN(ew.gate_up, ld.Linear({{g, gu}, {u, gu}}, dtype));
    MIES_ASSIGN_OR_RETURN(ew.down, ld.Linear({{d, dn}}, dtype));
    moe->experts.push_back(std::move(ew));
  }
  const int64_t Is = c.moe.shared_expert_intermediate_size;
  if (Is > 0) {
    const std::string s = n.shared_prefix;
    MIES_ASSIGN_OR_RETURN(const TensorInfo* g, ld.Tensor(s + "gate_proj.weight", {Is, D}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* u, ld.Tensor(s + "up_proj.weight", {Is, D}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* d, ld.Tensor(s + "down_proj.weight", {D, Is}));
    const Shard sgu = ShardFor(Role::kSharedGateUp, c, l);
    MIES_ASSIGN_OR_RETURN(moe->shared_gate_up, ld.Linear({{g, sgu}, {u, sgu}}, dtype));
    MIES_ASSIGN_OR_RETURN(moe->shared_down,
                          ld.Linear({{d, ShardFor(Role::kSharedDown, c, l)}}, dtype));
    moe->has_shared_expert = true;
    if (c.moe.shared_expert_gated) {
      MIES_ASSIGN_OR_RETURN(const TensorInfo* sg, ld.Tensor(n.shared_gate, {1, D}));
      moe->shared_expert_gate.resize(static_cast<size_t>(D));
      ld.ReadRow(*sg, 0, D, moe->shared_expert_gate.data());
    }
  }
  return moe;
}

// MLA attention of one layer on this rank: the replicated latent projections, the query
// projection of its heads, and kv_b_proj rearranged into the absorbed per-head matrices.
StatusOr<std::unique_ptr<MlaWeights>> LoadMla(const Loader& ld, const HfConfig& c,
                                              const ShardLayout& l, const std::string& a,
                                              DType dtype) {
  const MlaConfig& m = c.mla;
  const int64_t D = c.hidden_size, H = c.num_attention_heads, r = m.kv_lora_rank;
  const int64_t nope = m.qk_nope_head_dim, rope = m.qk_rope_head_dim, v = m.v_head_dim;
  auto w = std::make_unique<MlaWeights>();
  const Shard sq = ShardFor(Role::kMlaQ, c, l);
  if (m.q_lora_rank > 0) {
    MIES_ASSIGN_OR_RETURN(const TensorInfo* qa,
                          ld.Tensor(a + "q_a_proj.weight", {m.q_lora_rank, D}));
    MIES_ASSIGN_OR_RETURN(w->q_a, ld.Linear({{qa, {}}}, dtype));
    MIES_ASSIGN_OR_RETURN(w->q_a_norm, ld.Vector(a + "q_a_layernorm.weight", m.q_lora_rank));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* qb,
                          ld.Tensor(a + "q_b_proj.weight", {H * (nope + rope), m.q_lora_rank}));
    MIES_ASSIGN_OR_RETURN(w->q_b, ld.Linear({{qb, sq}}, dtype));
  } else {
    MIES_ASSIGN_OR_RETURN(const TensorInfo* q,
                          ld.Tensor(a + "q_proj.weight", {H * (nope + rope), D}));
    MIES_ASSIGN_OR_RETURN(w->q_b, ld.Linear({{q, sq}}, dtype));
  }
  MIES_ASSIGN_OR_RETURN(const TensorInfo* kva,
                        ld.Tensor(a + "kv_a_proj_with_mqa.weight", {r + rope, D}));
  MIES_ASSIGN_OR_RETURN(w->kv_a, ld.Linear({{kva, {}}}, dtype));
  MIES_ASSIGN_OR_RETURN(w->kv_a_norm, ld.Vector(a + "kv_a_layernorm.weight", r));
  // kv_b_proj [H*(nope+v)][r]: per head, nope key rows then v value rows.
  MIES_ASSIGN_OR_RETURN(const TensorInfo* kvb,
                        ld.Tensor(a + "kv_b_proj.weight", {H * (nope + v), r}));
  const int64_t Hl = l.num_q_heads;
  MIES_ASSIGN_OR_RETURN(std::vector<float> rows,
                        ld.Rows(*kvb, l.q_head_begin * (nope + v), Hl * (nope + v)));
  std::vector<float> uk_t(static_cast<size_t>(Hl * r * nope)), uv(static_cast<size_t>(Hl * v * r));
  for (int64_t h = 0; h < Hl; ++h) {
    const float* head = rows.data() + h * (nope + v) * r;
    for (int64_t n = 0; n < nope; ++n) {
      for (int64_t j = 0; j < r; ++j) uk_t[(h * r + j) * nope + n] = head[n * r + j];
    }
    std::copy(head + nope * r, head + (nope + v) * r, uv.begin() + h * v * r);
  }
  MIES_ASSIGN_OR_RETURN(w->uk_t, ld.FromF32(uk_t, Hl * r, nope, dtype, kvb->name + " (keys)"));
  MIES_ASSIGN_OR_RETURN(w->uv, ld.FromF32(uv, Hl * v, r, dtype, kvb->name + " (values)"));
  return w;
}

}  // namespace

StatusOr<std::optional<kernels::DType>> ParseWeightDType(std::string_view name) {
  if (name == "auto" || name.empty()) return std::optional<kernels::DType>();
  auto d = kernels::ParseDType(name);
  if (!d.ok()) {
    return InvalidArgument("dtype \"", std::string(name),
                           "\" is not supported (supported: auto, float32, bfloat16, float16, "
                           "int8, int4, int4-g128)");
  }
  return std::optional<kernels::DType>(*d);
}

StatusOr<WeightFormat> ParseWeightFormat(std::string_view dtype, std::string_view activations) {
  WeightFormat f;
  if (activations == "float32") {
    f.quant.activations = kernels::Activations::kF32;
  } else if (activations != "auto" && !activations.empty()) {
    return InvalidArgument("activationDtype \"", std::string(activations),
                           "\" is not supported (supported: auto, float32)");
  }
  constexpr std::string_view kGroup = "int4-g";
  if (dtype.substr(0, kGroup.size()) == kGroup) {
    int64_t g = 0;
    const std::string_view digits = dtype.substr(kGroup.size());
    for (char ch : digits) g = (ch >= '0' && ch <= '9' && g < 1'000'000) ? g * 10 + (ch - '0') : -1;
    if (digits.empty() || g <= 0 || g % 8 != 0) {
      return InvalidArgument("dtype \"", std::string(dtype),
                             "\": the int4 group size must be a positive multiple of 8 (e.g. "
                             "int4-g32, int4-g128)");
    }
    f.dtype = kernels::DType::kInt4;
    f.quant.int4_group_size = g;
    return f;
  }
  MIES_ASSIGN_OR_RETURN(f.dtype, ParseWeightDType(dtype));
  return f;
}

AlignedBuffer::AlignedBuffer(size_t bytes) : size_(bytes) {
  const size_t rounded = (bytes + 63) / 64 * 64;
  ptr_.reset(static_cast<std::byte*>(std::aligned_alloc(64, rounded == 0 ? 64 : rounded)));
}

void AlignedBuffer::Free::operator()(std::byte* p) const { std::free(p); }

int64_t ShardLayout::vocab_local() const { return vocab_begin[tp_rank + 1] - vocab_begin[tp_rank]; }

StatusOr<ShardLayout> ComputeShardLayout(const HfConfig& c, const ParallelConfig& p) {
  if (p.tp_size < 1 || p.tp_rank < 0 || p.tp_rank >= p.tp_size) {
    return InvalidArgument("tensor parallel rank ", p.tp_rank, " of size ", p.tp_size,
                           " is out of range");
  }
  const int64_t tp = p.tp_size, r = p.tp_rank;
  const int64_t H = c.num_attention_heads, KV = c.num_key_value_heads;
  if (H % tp != 0) {
    return InvalidArgument("num_attention_heads ", H, " cannot be split evenly over tp_size ", tp,
                           " (rule: heads must be a multiple of the tensor-parallel size)");
  }
  if (tp <= KV ? KV % tp != 0 : tp % KV != 0) {
    return InvalidArgument("num_key_value_heads ", KV, " cannot be split over tp_size ", tp,
                           " (rule: KV heads a multiple of tp_size, or tp_size a multiple of "
                           "KV heads so each rank keeps one replicated KV head)");
  }
  if (c.intermediate_size < tp || c.vocab_size < tp) {
    return InvalidArgument("tp_size ", tp, " exceeds intermediate_size ", c.intermediate_size,
                           " or vocab_size ", c.vocab_size);
  }
  ShardLayout l;
  l.tp_rank = p.tp_rank;
  l.num_q_heads = H / tp;
  l.q_head_begin = r * l.num_q_heads;
  l.num_kv_heads = tp <= KV ? KV / tp : 1;
  l.kv_head_begin = l.q_head_begin / (H / KV);  // the KV head the first local query head reads
  l.inter_begin = r * c.intermediate_size / tp;
  l.inter_size = (r + 1) * c.intermediate_size / tp - l.inter_begin;
  for (int64_t i = 0; i <= tp; ++i) l.vocab_begin.push_back(i * c.vocab_size / tp);
  if (c.is_moe()) {
    const int64_t E = c.moe.num_experts, ep = p.moe_ep;
    if (ep < 1 || tp % ep != 0) {
      return InvalidArgument("moe_ep ", ep, " must divide the tensor-parallel size ", tp,
                             " (moe_ep x moe_tp = world size)");
    }
    if (E % ep != 0) {
      return InvalidArgument("num_experts ", E, " cannot be split evenly over moe_ep ", ep,
                             " (rule: expert parallelism gives every rank group the same number "
                             "of whole experts)");
    }
    const int64_t moe_tp = tp / ep, Ie = c.moe.expert_intermediate_size;
    if (Ie < moe_tp) {
      return InvalidArgument("moe_intermediate_size ", Ie, " cannot be sliced over moe_tp ",
                             moe_tp);
    }
    l.num_experts = E / ep;
    l.expert_begin = p.ep_rank() * l.num_experts;
    const int64_t s = p.moe_tp_rank();
    l.expert_inter_begin = s * Ie / moe_tp;
    l.expert_inter_size = (s + 1) * Ie / moe_tp - l.expert_inter_begin;
    const int64_t Is = c.moe.shared_expert_intermediate_size;
    if (Is > 0 && Is < tp) {
      return InvalidArgument("shared_expert_intermediate_size ", Is, " cannot be sliced over ", tp,
                             " ranks");
    }
    l.shared_inter_begin = r * Is / tp;
    l.shared_inter_size = (r + 1) * Is / tp - l.shared_inter_begin;
  }
  return l;
}

int64_t ModelWeights::MatmulWeightBytes() const {
  int64_t total = lm_head.bytes();
  for (const auto& L : layers) {
    total += L.qkv.bytes() + L.o.bytes() + L.gate_up.bytes() + L.down.bytes();
    if (L.mla) total += L.mla->bytes();
    if (L.moe) {
      for (const auto& e : L.moe->experts) total += e.gate_up.bytes() + e.down.bytes();
      total += L.moe->shared_gate_up.bytes() + L.moe->shared_down.bytes();
    }
  }
  return total;
}

int64_t ModelWeights::ActiveWeightBytes(double experts_per_layer) const {
  double total = static_cast<double>(lm_head.bytes());
  for (const auto& L : layers) {
    total += static_cast<double>(L.qkv.bytes() + L.o.bytes() + L.gate_up.bytes() + L.down.bytes());
    if (L.mla) total += static_cast<double>(L.mla->bytes());
    if (L.moe && !L.moe->experts.empty()) {
      const auto& e = L.moe->experts[0];
      total += experts_per_layer * static_cast<double>(e.gate_up.bytes() + e.down.bytes());
      total += static_cast<double>(L.moe->shared_gate_up.bytes() + L.moe->shared_down.bytes() +
                                   L.moe->router.size() * sizeof(float));
    }
  }
  return static_cast<int64_t>(total);
}

StatusOr<ModelWeights> LoadWeights(const Checkpoint& ckpt, const HfConfig& c,
                                   const ParallelConfig& parallel,
                                   std::optional<kernels::DType> dtype_opt,
                                   const QuantOptions& quant) {
  ModelWeights w;
  MIES_ASSIGN_OR_RETURN(w.layout, ComputeShardLayout(c, parallel));
  const ShardLayout& l = w.layout;
  const int64_t D = c.hidden_size, I = c.intermediate_size, V = c.vocab_size;
  const int64_t hd = c.head_dim, H = c.num_attention_heads, KV = c.num_key_value_heads;
  const std::string pre = "model.";

  MIES_ASSIGN_OR_RETURN(const TensorInfo* embed, ckpt.Get(pre + "embed_tokens.weight"));
  if (embed->shape != std::vector<int64_t>{V, D}) {
    return InvalidArgument("checkpoint ", ckpt.dir(), ": model.embed_tokens.weight has shape ",
                           ShapeString(embed->shape), ", config.json implies [", V, ", ", D,
                           "] (vocab_size, hidden_size)");
  }
  w.dtype = dtype_opt ? *dtype_opt : FromTensorDType(embed->dtype);
  if (c.quantization) {  // GPTQ / AWQ: the checkpoint's own 4-bit weights
    if (dtype_opt && *dtype_opt != DType::kInt4) {
      return InvalidArgument("checkpoint ", ckpt.dir(), " is ", c.quantization->method,
                             "-quantized (4-bit): dtype must be auto or int4, got ",
                             std::string(kernels::DTypeName(*dtype_opt)));
    }
    w.dtype = DType::kInt4;
  }
  const bool quantized = w.dtype == DType::kInt8 || w.dtype == DType::kInt4;
  w.embed_dtype = quantized ? DType::kF32 : w.dtype;
  Loader ld(ckpt, quant, c);

  {  // Embedding table, replicated.
    MIES_ASSIGN_OR_RETURN(LinearWeight e, ld.Linear({{embed, {}}}, w.embed_dtype));
    w.embedding = std::move(e.data);
  }
  MIES_ASSIGN_OR_RETURN(w.final_norm, ld.Vector(pre + "norm.weight", D));

  const TensorInfo* head = ckpt.Find("lm_head.weight");
  if (head == nullptr) {
    if (!c.tie_word_embeddings) {
      return InvalidArgument("checkpoint ", ckpt.dir(),
                             ": lm_head.weight is missing and tie_word_embeddings is false");
    }
    head = embed;
  }
  MIES_ASSIGN_OR_RETURN(head, ld.Tensor(head->name, {V, D}));
  // int4 models keep an int8 lm_head, as llama.cpp's Q4 files keep a wider output matrix: the
  // logits see its error directly.
  const DType head_dtype = w.dtype == DType::kInt4 ? DType::kInt8 : w.dtype;
  MIES_ASSIGN_OR_RETURN(w.lm_head, ld.Linear({{head, ShardFor(Role::kLmHead, c, l)}}, head_dtype));

  for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = absl::StrCat(pre, "layers.", i, ".");
    const std::string a = p + "self_attn.";
    LayerWeights L;
    MIES_ASSIGN_OR_RETURN(L.input_norm, ld.Vector(p + "input_layernorm.weight", D));
    MIES_ASSIGN_OR_RETURN(L.post_attention_norm,
                          ld.Vector(p + "post_attention_layernorm.weight", D));
    if (c.is_mla()) {
      MIES_ASSIGN_OR_RETURN(L.mla, LoadMla(ld, c, l, a, w.dtype));
      MIES_ASSIGN_OR_RETURN(const TensorInfo* o,
                            ld.Tensor(a + "o_proj.weight", {D, H * c.mla.v_head_dim}));
      MIES_ASSIGN_OR_RETURN(L.o, ld.Linear({{o, ShardFor(Role::kMlaO, c, l)}}, w.dtype));
    } else {
      MIES_ASSIGN_OR_RETURN(const TensorInfo* q, ld.Matrix(a + "q_proj", {H * hd, D}));
      MIES_ASSIGN_OR_RETURN(const TensorInfo* k, ld.Matrix(a + "k_proj", {KV * hd, D}));
      MIES_ASSIGN_OR_RETURN(const TensorInfo* v, ld.Matrix(a + "v_proj", {KV * hd, D}));
      const Shard sq = ShardFor(Role::kQ, c, l), sk = ShardFor(Role::kK, c, l),
                  sv = ShardFor(Role::kV, c, l);
      MIES_ASSIGN_OR_RETURN(L.qkv, ld.Linear({{q, sq}, {k, sk}, {v, sv}}, w.dtype));
      if (c.qkv_bias) {
        MIES_ASSIGN_OR_RETURN(auto bq, ld.Vector(a + "q_proj.bias", H * hd, sq.begin, sq.count));
        MIES_ASSIGN_OR_RETURN(auto bk, ld.Vector(a + "k_proj.bias", KV * hd, sk.begin, sk.count));
        MIES_ASSIGN_OR_RETURN(auto bv, ld.Vector(a + "v_proj.bias", KV * hd, sv.begin, sv.count));
        L.qkv_bias = std::move(bq);
        L.qkv_bias.insert(L.qkv_bias.end(), bk.begin(), bk.end());
        L.qkv_bias.insert(L.qkv_bias.end(), bv.begin(), bv.end());
      }
      if (c.qk_norm) {
        MIES_ASSIGN_OR_RETURN(L.q_norm, ld.Vector(a + "q_norm.weight", hd));
        MIES_ASSIGN_OR_RETURN(L.k_norm, ld.Vector(a + "k_norm.weight", hd));
      }
      MIES_ASSIGN_OR_RETURN(const TensorInfo* o, ld.Matrix(a + "o_proj", {D, H * hd}));
      MIES_ASSIGN_OR_RETURN(L.o, ld.Linear({{o, ShardFor(Role::kO, c, l)}}, w.dtype));
      if (c.o_bias) {
        MIES_ASSIGN_OR_RETURN(L.o_bias, ld.Vector(a + "o_proj.bias", D));
      }
    }

    if (c.IsSparseLayer(i)) {
      MIES_ASSIGN_OR_RETURN(L.moe, LoadMoe(ld, c, l, p, w.dtype));
      w.layers.push_back(std::move(L));
      continue;
    }
    const std::string m = p + "mlp.";
    MIES_ASSIGN_OR_RETURN(const TensorInfo* g, ld.Matrix(m + "gate_proj", {I, D}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* u, ld.Matrix(m + "up_proj", {I, D}));
    MIES_ASSIGN_OR_RETURN(const TensorInfo* dn, ld.Matrix(m + "down_proj", {D, I}));
    MIES_ASSIGN_OR_RETURN(
        L.gate_up,
        ld.Linear({{g, ShardFor(Role::kGate, c, l)}, {u, ShardFor(Role::kUp, c, l)}}, w.dtype));
    MIES_ASSIGN_OR_RETURN(L.down, ld.Linear({{dn, ShardFor(Role::kDown, c, l)}}, w.dtype));
    w.layers.push_back(std::move(L));
  }
  return w;
}

}  // namespace mies::model
