#include "kernels/int4.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/dtype.h"

namespace mies::kernels {
namespace {

int64_t Align64(int64_t n) { return (n + 63) / 64 * 64; }

struct Int4Parts {
  uint8_t* data;
  uint16_t* scales;
  uint8_t* zeros;
  float* comp;
};

Int4Parts Parts(const Int4Layout& l, std::byte* blob) {
  return {reinterpret_cast<uint8_t*>(blob + l.data_offset),
          reinterpret_cast<uint16_t*>(blob + l.scales_offset),
          l.zero_points ? reinterpret_cast<uint8_t*>(blob + l.zeros_offset) : nullptr,
          reinterpret_cast<float*>(blob + l.comp_offset)};
}

// Byte and shift of weight (row j of its panel, column c) inside the panel's data.
inline int64_t NibbleByte(int64_t j, int64_t c) { return (c / 8) * 64 + 4 * j + (c % 4); }
inline int NibbleShift(int64_t c) { return (c % 8) >= 4 ? 4 : 0; }

}  // namespace

StatusOr<Int4Layout> MakeInt4Layout(int64_t rows, int64_t cols, int64_t group_size,
                                    bool zero_points) {
  if (rows <= 0 || cols <= 0) {
    return InvalidArgument("int4 weight shape [", rows, "][", cols, "] must be positive");
  }
  if (group_size <= 0 || group_size % 8 != 0) {
    return InvalidArgument("int4 group size ", group_size, " must be a positive multiple of 8");
  }
  Int4Layout l;
  l.rows = rows;
  l.cols = cols;
  l.group_size = group_size;
  l.zero_points = zero_points;
  l.panels = (rows + kInt4PanelRows - 1) / kInt4PanelRows;
  l.groups = (cols + group_size - 1) / group_size;
  l.padded_cols = l.groups * group_size;
  const int64_t prow = l.panels * kInt4PanelRows;
  l.data_offset = 0;
  l.scales_offset = Align64(prow * l.padded_cols / 2);
  l.zeros_offset = l.scales_offset + Align64(prow * l.groups * 2);
  l.comp_offset = l.zeros_offset + (zero_points ? Align64(prow * l.groups) : 0);
  l.total_bytes = l.comp_offset + Align64(prow * 4);
  return l;
}

WeightView Int4View(const Int4Layout& l, const std::byte* blob) {
  WeightView v;
  v.dtype = DType::kInt4;
  v.rows = l.rows;
  v.cols = l.cols;
  v.data = blob + l.data_offset;
  v.group_size = l.group_size;
  v.group_scales = reinterpret_cast<const uint16_t*>(blob + l.scales_offset);
  v.group_zeros = l.zero_points ? reinterpret_cast<const uint8_t*>(blob + l.zeros_offset) : nullptr;
  v.row_comp = reinterpret_cast<const float*>(blob + l.comp_offset);
  v.activations = Activations::kReduced;
  return v;
}

void PackInt4Row(int64_t r, const uint8_t* q, const uint8_t* zeros, const float* scales,
                 const Int4Layout& l, std::byte* blob) {
  Int4Parts p = Parts(l, blob);
  const int64_t panel = r / kInt4PanelRows, j = r % kInt4PanelRows;
  uint8_t* data = p.data + panel * kInt4PanelRows * l.padded_cols / 2;
  double comp = 0;
  for (int64_t g = 0; g < l.groups; ++g) {
    // Zero points up to 16: GPTQ stores zero - 1 in a nibble, and its dequantization reads 15
    // back as 16.
    const uint8_t z = l.zero_points ? std::min<uint8_t>(zeros[g], 16) : 8;
    const uint16_t s16 = F32ToF16(scales[g]);
    p.scales[(panel * l.groups + g) * kInt4PanelRows + j] = s16;
    if (l.zero_points) p.zeros[(panel * l.groups + g) * kInt4PanelRows + j] = z;
    int64_t qsum = 0;
    for (int64_t c = g * l.group_size; c < (g + 1) * l.group_size; ++c) {
      const uint8_t v = c < l.cols ? static_cast<uint8_t>(q[c] & 15) : z;
      qsum += static_cast<int64_t>(v) - z;
      uint8_t& byte = data[NibbleByte(j, c)];
      const int shift = NibbleShift(c);
      byte = static_cast<uint8_t>((byte & ~(15 << shift)) | (v << shift));
    }
    comp += 128.0 * static_cast<double>(F16ToF32(s16)) * static_cast<double>(qsum);
  }
  p.comp[r] = static_cast<float>(comp);
}

Status QuantizeInt4Rows(const float* src, int64_t r0, int64_t n, const Int4Layout& l,
                        std::byte* blob) {
  std::vector<uint8_t> q(static_cast<size_t>(l.cols)), zeros(static_cast<size_t>(l.groups));
  std::vector<float> scales(static_cast<size_t>(l.groups));
  for (int64_t i = 0; i < n; ++i) {
    const float* row = src + i * l.cols;
    for (int64_t g = 0; g < l.groups; ++g) {
      const int64_t c0 = g * l.group_size, c1 = std::min(l.cols, c0 + l.group_size);
      float lo = 0, hi = 0, big = 0;  // min, max, the value of largest magnitude
      for (int64_t c = c0; c < c1; ++c) {
        if (!std::isfinite(row[c])) {
          return InvalidArgument("int4 quantization: weight [", r0 + i, "][", c, "] = ", row[c],
                                 " is not finite");
        }
        lo = std::min(lo, row[c]);
        hi = std::max(hi, row[c]);
        if (std::fabs(row[c]) > std::fabs(big)) big = row[c];
      }
      float s;
      int z;
      if (l.zero_points) {
        s = F16ToF32(F32ToF16((hi - lo) / 15.0f));
        z = s == 0 ? 8 : static_cast<int>(std::clamp(std::nearbyint(-lo / s), 0.0f, 15.0f));
      } else {
        s = F16ToF32(F32ToF16(big / -8.0f));
        z = 8;
      }
      scales[static_cast<size_t>(g)] = s;
      zeros[static_cast<size_t>(g)] = static_cast<uint8_t>(z);
      for (int64_t c = c0; c < c1; ++c) {
        const float v = s == 0 ? static_cast<float>(z) : std::nearbyint(row[c] / s) + z;
        q[static_cast<size_t>(c)] = static_cast<uint8_t>(std::clamp(v, 0.0f, 15.0f));
      }
    }
    PackInt4Row(r0 + i, q.data(), zeros.data(), scales.data(), l, blob);
  }
  return OkStatus();
}

namespace {

// Unpacked q of row r, group g's zero point and scale, from a view.
struct Int4Access {
  const WeightView& w;
  int64_t padded_cols, groups;
  explicit Int4Access(const WeightView& v)
      : w(v),
        padded_cols((v.cols + v.group_size - 1) / v.group_size * v.group_size),
        groups(padded_cols / v.group_size) {}
  int Q(int64_t r, int64_t c) const {
    const auto* data = static_cast<const uint8_t*>(w.data) +
                       (r / kInt4PanelRows) * kInt4PanelRows * padded_cols / 2;
    return (data[NibbleByte(r % kInt4PanelRows, c)] >> NibbleShift(c)) & 15;
  }
  int64_t Index(int64_t r, int64_t g) const {
    return ((r / kInt4PanelRows) * groups + g) * kInt4PanelRows + r % kInt4PanelRows;
  }
  int Z(int64_t r, int64_t g) const {
    return w.group_zeros != nullptr ? w.group_zeros[Index(r, g)] : 8;
  }
  float S(int64_t r, int64_t g) const { return F16ToF32(w.group_scales[Index(r, g)]); }
};

}  // namespace

float Int4Weight(const WeightView& w, int64_t r, int64_t c) {
  Int4Access a(w);
  const int64_t g = c / w.group_size;
  return static_cast<float>(a.Q(r, c) - a.Z(r, g)) * a.S(r, g);
}

void Int4RowsPortable(const int8_t* xq, int64_t ldx, int64_t m, const float* sx,
                      const WeightView& w, const float* bias, int64_t p0, int64_t p1, float* y) {
  Int4Access a(w);
  const int64_t r1 = std::min(w.rows, p1 * kInt4PanelRows);
  std::vector<int> q(static_cast<size_t>(w.cols));
  for (int64_t r = p0 * kInt4PanelRows; r < r1; ++r) {
    for (int64_t c = 0; c < w.cols; ++c) q[static_cast<size_t>(c)] = a.Q(r, c);
    for (int64_t i = 0; i < m; ++i) {
      const int8_t* xi = xq + i * ldx;
      float acc = 0;
      for (int64_t g = 0; g < a.groups; ++g) {
        const int z = a.Z(r, g);
        int32_t sum = 0;
        const int64_t c1 = std::min(w.cols, (g + 1) * w.group_size);
        for (int64_t c = g * w.group_size; c < c1; ++c)
          sum += xi[c] * (q[static_cast<size_t>(c)] - z);
        acc += a.S(r, g) * static_cast<float>(sum);
      }
      y[i * w.rows + r] = sx[i] * acc + (bias != nullptr ? bias[r] : 0.0f);
    }
  }
}

}  // namespace mies::kernels
