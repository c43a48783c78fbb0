#include "forward.h"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "../kernels/kernels.h"
#include "conv_direct.h"
#include "../threads/pool.h"
#include "../vjp/block_cache.h"
#include "../util/error.h"

namespace pathwise {
namespace ops {

bool sparse_nonzeros(const float* v, std::size_t count, std::vector<std::uint32_t>& nonzeros) {
  // A path network's activations above l_min are masked to `width` units per layer (64 of 100,352
  // for VGG16's conv5 at width 64), and so are the cotangents of its sweeps: scattering only the
  // nonzeros beats the dense product below a 1/32 density (a dense conv runs ~16 multiply-adds per
  // cycle through the GEMM, the scatter about one).
  // All-zero runs are skipped 32 values at a time (the value-by-value scan of a masked layer's
  // gate, 28,800 units on the toy CIFAR CNN, was ~5 % of its explanation).
  const std::size_t limit = count / kSparseDivisor;
  nonzeros.clear();
  std::size_t q = 0;
  for (; q + 32 <= count; q += 32) {
    std::uint32_t any = 0;
    for (std::size_t k = q; k < q + 32; ++k) {  // an integer OR reduction: it vectorises
      std::uint32_t bits;
      std::memcpy(&bits, v + k, sizeof bits);
      any |= bits & 0x7fffffffu;  // ±0 are zero; NaN is not
    }
    if (!any) continue;
    for (std::size_t k = q; k < q + 32; ++k)
      if (v[k] != 0.0f) {
        if (nonzeros.size() >= limit) return false;
        nonzeros.push_back(std::uint32_t(k));
      }
  }
  for (; q < count; ++q)
    if (v[q] != 0.0f) {
      if (nonzeros.size() >= limit) return false;
      nonzeros.push_back(std::uint32_t(q));
    }
  return true;
}

void dense_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias) {
  const std::size_t in_size = layer.in_size(), out_size = layer.out_size();
  for (std::size_t e = 0; e < n; ++e) {
    if (with_bias) std::copy(layer.bias.begin(), layer.bias.end(), out + e * out_size);
    else std::fill(out + e * out_size, out + (e + 1) * out_size, 0.0f);
  }
  if (!layer.weights_t.empty()) {
    // Sparse examples add their nonzeros' rows of Wᵀ; the others go through the GEMM, one product
    // for a run of them (a row of the product does not depend on how many rows it has).
    std::vector<std::uint32_t> nonzeros;
    std::size_t run = 0;  // dense examples [e − run, e) not yet multiplied
    const auto flush = [&](std::size_t end) {
      if (run == 0) return;
      const std::size_t e0 = end - run;
      kernels::active().gemm_nn(run, out_size, in_size, in + e0 * in_size, in_size, layer.weights_t.data(), out_size,
                                out + e0 * out_size, out_size, /*accumulate=*/true);
      run = 0;
    };
    for (std::size_t e = 0; e < n; ++e) {
      if (!sparse_nonzeros(in + e * in_size, in_size, nonzeros)) {
        ++run;
        continue;
      }
      flush(e);
      float* y = out + e * out_size;
      for (std::uint32_t i : nonzeros) {
        const float v = in[e * in_size + i];
        const float* w = layer.weights_t.data() + std::size_t(i) * out_size;
        for (std::size_t o = 0; o < out_size; ++o) y[o] += v * w[o];
      }
    }
    flush(n);
    return;
  }
  kernels::active().gemm_nt(n, out_size, in_size, in, in_size, layer.weights.data(), in_size, out,
                            out_size, /*accumulate=*/true);
}

bool conv_is_pointwise(const Layer& layer) {
  const Window& w = layer.window;
  return w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0;
}

// Floats of im2col per block, as a power of two (see conv_block; -D to tune).
#ifndef PATHWISE_CONV_BLOCK_LOG2
#define PATHWISE_CONV_BLOCK_LOG2 20
#endif
constexpr unsigned kConvBlockLog2 = PATHWISE_CONV_BLOCK_LOG2;

std::size_t conv_block(const Layer& layer) {
  // 1 Mi floats (4 MiB) of im2col per block instead of 115 MB for VGG conv1_2. The GEMM packs A
  // (the weights) once per call, fused into its first column panel, so the call's width decides
  // what that costs: at 1 MiB, VGG's K = 4608 layers ran 56-column products and the packing
  // micro-kernel took 19 % of an explanation (perf); at 4 MiB (227 columns, all 196 positions of
  // conv5) VGG16 forward went 441 → 392–418 ms and explain 1.13–1.16 → 0.94–0.99 s (1 thread, busy
  // machine); 8 MiB measured no better.
  const std::size_t k = (layer.in_shape.c / layer.groups) * layer.window.kh * layer.window.kw;
  const std::size_t positions = layer.out_shape.h * layer.out_shape.w;
  return std::max<std::size_t>(1, std::min(positions, (std::size_t(1) << kConvBlockLog2) / std::max<std::size_t>(k, 1)));
}

std::size_t conv_back_block(const Layer& layer) {
  // The VJP also gathers Cout_g × block of δ_out when a block spans rows: the same 4 MiB bound.
  const std::size_t cout_g = layer.out_shape.c / layer.groups;
  const std::size_t k = (layer.in_shape.c / layer.groups) * layer.window.kh * layer.window.kw;
  return std::max<std::size_t>(1, (std::size_t(1) << kConvBlockLog2) / std::max<std::size_t>({k, cout_g, 1}));
}

std::size_t conv_scratch_floats(const Layer& layer, std::size_t rows) {
  if (layer.kind != LayerKind::Conv || conv_is_pointwise(layer)) return 0;
  const std::size_t k = (layer.in_shape.c / layer.groups) * layer.window.kh * layer.window.kw;
  const std::size_t cout_g = layer.out_shape.c / layer.groups, positions = layer.out_shape.h * layer.out_shape.w;
  const std::size_t back = conv_back_block(layer);
  const std::size_t columns = std::max(std::min(conv_block(layer), positions),
                                       rows >= back ? back : std::min(back, rows * positions));
  const std::size_t im2col = (k + cout_g) * columns;
  // The direct forward's padded input and C grid (conv_direct.h), for the active kernel table.
  return conv_direct_applies(layer) ? std::max(im2col, conv_direct_scratch_floats(layer, kernels::active())) : im2col;
}

// im2col and col2im walk the output positions row by row, and within a row only the span of
// output columns whose tap lands inside the input, found once per kernel column: no division and no
// bounds test per element (the tested walk cost 17 % of a Fashion-CNN explanation in col2im alone,
// perf; with unit stride the span is a contiguous copy or add the compiler vectorises).
// Rows [r0, r1) of the K = Cin_g · kh · kw rows.
template <bool Scatter>
static void im2col_walk(const Layer& layer, const float* cols_in, float* cols_out, std::size_t ld,
                        std::size_t p0, std::size_t count, const float* in_group, float* grad_group,
                        std::size_t r0, std::size_t r1) {
  const Shape& is = layer.in_shape;
  const Window& w = layer.window;
  const std::size_t ow = layer.out_shape.w;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  const std::size_t sw = w.sw;
  for (std::size_t r = r0; r < r1; ++r) {
    const std::size_t ci = r / (w.kh * w.kw), ky = r / w.kw % w.kh, kx = r % w.kw;
    const std::size_t plane_offset = ci * is.h * is.w;
    // Output columns ox with 0 <= ox·sw + shift < iw lie in [lo, hi).
    const std::ptrdiff_t shift = std::ptrdiff_t(kx * w.dw) - std::ptrdiff_t(w.pl);
    const std::ptrdiff_t s = std::ptrdiff_t(sw);
    const std::ptrdiff_t lo_raw = shift >= 0 ? 0 : (-shift + s - 1) / s;
    const std::ptrdiff_t hi_raw = iw - shift <= 0 ? 0 : (iw - shift - 1) / s + 1;
    const std::size_t lo = std::size_t(std::min<std::ptrdiff_t>(lo_raw, std::ptrdiff_t(ow)));
    const std::size_t hi = std::size_t(std::max<std::ptrdiff_t>(std::min<std::ptrdiff_t>(hi_raw, std::ptrdiff_t(ow)), std::ptrdiff_t(lo)));
    std::size_t j = 0, oy = p0 / ow, ox = p0 % ow;
    float* out_row = Scatter ? nullptr : cols_out + r * ld;
    const float* in_row = Scatter ? cols_in + r * ld : nullptr;
    while (j < count) {
      const std::size_t run = std::min(count - j, ow - ox);  // positions left in this output row
      const std::ptrdiff_t y = std::ptrdiff_t(oy * w.sh + ky * w.dh) - std::ptrdiff_t(w.pt);
      const std::size_t a = std::max(ox, lo), b = std::min(ox + run, hi);  // in-bounds [a, b)
      if (y < 0 || y >= ih || a >= b) {
        if constexpr (!Scatter) std::fill(out_row + j, out_row + j + run, 0.0f);
      } else {
        // Span element a + t reads input column (a + t)·sw + shift, in bounds by construction.
        const std::size_t first = plane_offset + std::size_t(y * iw + shift + std::ptrdiff_t(a * sw));
        const std::size_t len = b - a;
        if constexpr (Scatter) {
          const float* src = in_row + j + (a - ox);
          float* dst = grad_group + first;
          if (sw == 1) {
            for (std::size_t t = 0; t < len; ++t) dst[t] += src[t];
          } else {
            for (std::size_t t = 0; t < len; ++t) dst[t * sw] += src[t];
          }
        } else {
          float* dst = out_row + j;
          std::fill(dst, dst + (a - ox), 0.0f);
          const float* src = in_group + first;
          float* span = dst + (a - ox);
          if (sw == 1) {
            for (std::size_t t = 0; t < len; ++t) span[t] = src[t];
          } else {
            for (std::size_t t = 0; t < len; ++t) span[t] = src[t * sw];
          }
          std::fill(span + len, dst + run, 0.0f);
        }
      }
      j += run;
      ox = 0;
      ++oy;
    }
  }
}

namespace {
struct WalkJob {
  const Layer* layer;
  const float* cols_in;
  float* cols_out;
  std::size_t ld, p0, count;
  const float* in_group;
  float* grad_group;
  std::size_t rows_per_task, rows;
};
template <bool Scatter>
void walk_task(void* ctx, std::size_t t) {
  const WalkJob& j = *static_cast<const WalkJob*>(ctx);
  const std::size_t r0 = t * j.rows_per_task;
  im2col_walk<Scatter>(*j.layer, j.cols_in, j.cols_out, j.ld, j.p0, j.count, j.in_group, j.grad_group, r0,
                       std::min(j.rows, r0 + j.rows_per_task));
}
// im2col and col2im are memory passes the size of the GEMM's B operand: serial, they were 4–8 %
// of a 2-thread VGG16 explanation (perf) while the other core waited. Above 2^18 elements they run
// on the pool in row tasks; col2im's tasks are whole input channels (every row of a channel
// scatters into that channel's plane only), so each element is summed in the serial order.
template <bool Scatter>
void walk(const Layer& layer, const float* cols_in, float* cols_out, std::size_t ld, std::size_t p0,
          std::size_t count, const float* in_group, float* grad_group) {
  const std::size_t taps = layer.window.kh * layer.window.kw, rows = (layer.in_shape.c / layer.groups) * taps;
  const std::size_t threads = threads::pool_size();
  if (threads < 2 || rows * count < (std::size_t(1) << 18) || threads::in_parallel_region() || rows < 2 * taps) {
    im2col_walk<Scatter>(layer, cols_in, cols_out, ld, p0, count, in_group, grad_group, 0, rows);
    return;
  }
  const std::size_t channels_per_task = (rows / taps + 4 * threads - 1) / (4 * threads);
  WalkJob job{&layer, cols_in, cols_out, ld, p0, count, in_group, grad_group, channels_per_task * taps, rows};
  threads::parallel_for((rows + job.rows_per_task - 1) / job.rows_per_task, threads, walk_task<Scatter>, &job);
}
}  // namespace

void im2col(const Layer& layer, const float* in_group, std::size_t p0, std::size_t count, float* cols) {
  walk<false>(layer, nullptr, cols, count, p0, count, in_group, nullptr);
}

void col2im_add(const Layer& layer, const float* cols, std::size_t ld, std::size_t p0, std::size_t count,
                float* in_group) {
  walk<true>(layer, cols, nullptr, ld, p0, count, nullptr, in_group);
}

// An Add layer in place (y + r, as the Add computes a + b).
static void add_residual(float* y, const float* r, std::size_t count) {
  for (std::size_t q = 0; q < count; ++q) y[q] = y[q] + r[q];
}

// A ReLU gate in place, as gate_forward computes it (z > 0 ? z : 0).
static void rectify(float* y, std::size_t count) {
  for (std::size_t q = 0; q < count; ++q) y[q] = y[q] > 0.0f ? y[q] : 0.0f;
}

// One example's conv output from the nonzeros of its input: each input value meets the taps that
// cover it, and adds its weight column (over the group's output channels) at each.
static void conv_forward_sparse(const Layer& layer, const float* in, const std::vector<std::uint32_t>& nonzeros,
                                float* out) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * w.kh * w.kw, positions = os.h * os.w, plane = is.h * is.w;
  for (std::uint32_t q : nonzeros) {
    const float v = in[q];
    const std::size_t c = q / plane, rem = q % plane, y = rem / is.w, x = rem % is.w;
    const std::size_t gi = c / cin_g, ci = c % cin_g;
    for (std::size_t ky = 0; ky < w.kh; ++ky) {
      // Output row oy reads input row oy·sh + ky·dh − pt.
      const std::ptrdiff_t ty = std::ptrdiff_t(y + w.pt) - std::ptrdiff_t(ky * w.dh);
      if (ty < 0 || std::size_t(ty) % w.sh != 0 || std::size_t(ty) / w.sh >= os.h) continue;
      const std::size_t oy = std::size_t(ty) / w.sh;
      for (std::size_t kx = 0; kx < w.kw; ++kx) {
        const std::ptrdiff_t tx = std::ptrdiff_t(x + w.pl) - std::ptrdiff_t(kx * w.dw);
        if (tx < 0 || std::size_t(tx) % w.sw != 0 || std::size_t(tx) / w.sw >= os.w) continue;
        const std::size_t ox = std::size_t(tx) / w.sw, r = (ci * w.kh + ky) * w.kw + kx;
        const float* wcol = layer.weights_t.data() + gi * k * cout_g + r * cout_g;
        float* o = out + gi * cout_g * positions + oy * os.w + ox;
        for (std::size_t co = 0; co < cout_g; ++co) o[co * positions] += v * wcol[co];
      }
    }
  }
}

void conv_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias, bool relu,
                  const float* residual) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * layer.window.kh * layer.window.kw, positions = os.h * os.w;
  const auto& gemm = kernels::active();
  const bool pointwise = conv_is_pointwise(layer);
  const std::size_t block = conv_block(layer);
  const bool direct = !layer.weights_packed.empty() && layer.packed_rows == gemm.conv_rows;
  std::vector<float> cols;
  std::vector<std::size_t> offsets;
  std::vector<std::uint32_t> nonzeros;
  for (std::size_t e = 0; e < n; ++e) {
    if (sparse_nonzeros(in + e * is.size(), is.size(), nonzeros)) {
      float* y = out + e * os.size();
      for (std::size_t c = 0; c < os.c; ++c)
        std::fill(y + c * positions, y + (c + 1) * positions, with_bias ? layer.bias[c] : 0.0f);
      conv_forward_sparse(layer, in + e * is.size(), nonzeros, y);
      if (residual) add_residual(y, residual + e * os.size(), os.size());
      if (relu) rectify(y, os.size());
      continue;
    }
    if (direct) {
      conv_forward_direct(layer, gemm, layer.weights_packed.data(), in + e * is.size(), out + e * os.size(), with_bias,
                          offsets, 0, relu, residual ? residual + e * os.size() : nullptr);
      continue;
    }
    if (!pointwise) cols.resize(k * std::min(block, positions));
    for (std::size_t gi = 0; gi < g; ++gi) {
      const float* x = in + e * is.size() + gi * cin_g * is.h * is.w;
      float* y = out + e * os.size() + gi * cout_g * positions;
      const float* wg = layer.weights.data() + gi * cout_g * k;
      if (pointwise) {
        gemm.gemm_nn(cout_g, positions, k, wg, k, x, positions, y, positions, false);
      } else {
        for (std::size_t p0 = 0; p0 < positions; p0 += block) {
          const std::size_t count = std::min(block, positions - p0);
          im2col(layer, x, p0, count, cols.data());
          gemm.gemm_nn(cout_g, count, k, wg, k, cols.data(), count, y + p0, positions, false);
        }
      }
    }
    float* y = out + e * os.size();
    if (with_bias)
      for (std::size_t c = 0; c < os.c; ++c) {
        const float b = layer.bias[c];
        for (std::size_t p = 0; p < positions; ++p) y[c * positions + p] += b;
      }
    if (residual) add_residual(y, residual + e * os.size(), os.size());
    if (relu) rectify(y, os.size());
  }
}

// Max-pool planes [plane0, plane1) of the batch (plane e·C + c: channel c of example e). Each
// window is scanned over its in-bounds taps in row-major order; the first one starts the scan and a
// later tap wins only when strictly greater: the first maximum in scan order wins, as in PyTorch, a
// NaN never wins (a window of NaNs keeps its first element), a window with no tap inside gives 0
// and -1. winners may be null.
static void max_pool_planes(const Layer& layer, const float* in, float* out, std::int32_t* winners,
                            std::size_t plane0, std::size_t plane1) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  if (w.kh == 2 && w.kw == 2 && w.sh == 2 && w.sw == 2 && w.dh == 1 && w.dw == 1 && w.pt == 0 && w.pl == 0 &&
      2 * os.h <= is.h && 2 * os.w <= is.w) {
    // 2 × 2 stride-2 windows wholly inside the input (every pool of the VGG-style CNNs): the same
    // scan order and strict `>` as below, as selects over a row of windows. On the Fashion CNN's
    // small planes (16 × 26 × 26) the general code below, with its per-call window tables, was
    // 22 % of an explanation against 10 % for this form (perf, 1 thread).
    const std::int32_t iw32 = std::int32_t(is.w);
    for (std::size_t ec = plane0; ec < plane1; ++ec) {
      const std::size_t e = ec / os.c, c = ec % os.c;
      const std::size_t plane_offset = c * is.h * is.w;
      const float* plane = in + e * is.size() + plane_offset;
      float* o = out + e * os.size() + c * os.h * os.w;
      std::int32_t* win = winners ? winners + e * os.size() + c * os.h * os.w : nullptr;
      for (std::size_t oy = 0; oy < os.h; ++oy) {
        const std::size_t row = 2 * oy * is.w;
        const float* __restrict r0 = plane + row;
        const float* __restrict r1 = r0 + is.w;
        float* __restrict orow = o + oy * os.w;
        if (!win) {
          for (std::size_t ox = 0; ox < os.w; ++ox) {
            const float v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
            const float b1 = v1 > v0 ? v1 : v0, b2 = v2 > b1 ? v2 : b1;
            orow[ox] = v3 > b2 ? v3 : b2;
          }
          continue;
        }
        std::int32_t* __restrict wrow = win + oy * os.w;
        const std::int32_t base = std::int32_t(plane_offset + row);
        for (std::size_t ox = 0; ox < os.w; ++ox) {
          const float v0 = r0[2 * ox], v1 = r0[2 * ox + 1], v2 = r1[2 * ox], v3 = r1[2 * ox + 1];
          const bool t1 = v1 > v0;
          const float b1 = t1 ? v1 : v0;
          const std::int32_t tap1 = t1 ? 1 : 0;
          const bool t2 = v2 > b1;
          const float b2 = t2 ? v2 : b1;
          const std::int32_t tap2 = t2 ? iw32 : tap1;
          const bool t3 = v3 > b2;
          orow[ox] = t3 ? v3 : b2;
          wrow[ox] = base + 2 * std::int32_t(ox) + (t3 ? iw32 + 1 : tap2);
        }
      }
    }
    return;
  }
  // The taps of each window that land inside the input, [lo, hi) per output row and column, found
  // once (a bounds test and a signed index per tap made ResNet18's 3 × 3 stride-2 pool 8 % of its
  // forward, perf).
  const auto inside = [](std::size_t o, std::size_t s, std::size_t d, std::size_t pad, std::size_t k, std::ptrdiff_t size) {
    std::size_t lo = 0, hi = 0;
    const std::ptrdiff_t start = std::ptrdiff_t(o * s) - std::ptrdiff_t(pad);
    while (lo < k && start + std::ptrdiff_t(lo * d) < 0) ++lo;
    hi = lo;
    while (hi < k && start + std::ptrdiff_t(hi * d) < size) ++hi;
    return std::pair<std::size_t, std::size_t>(lo, hi);
  };
  std::vector<std::pair<std::size_t, std::size_t>> rows(os.h), cols(os.w);
  for (std::size_t oy = 0; oy < os.h; ++oy) rows[oy] = inside(oy, w.sh, w.dh, w.pt, w.kh, ih);
  for (std::size_t ox = 0; ox < os.w; ++ox) cols[ox] = inside(ox, w.sw, w.dw, w.pl, w.kw, iw);
  // Output columns [full_lo, full_hi) have every tap of their window row inside (a run: the
  // windows move monotonically). Rows whose windows are whole vertically take those columns tap by
  // tap across the run, a loop over ox the compiler vectorises (VGG's 2 × 2 and ResNet's 3 × 3
  // stride-2 pools: 3.7 → 1.4 ms for VGG's first, 64 × 224 × 224); the same taps in the same order.
  std::size_t full_lo = os.w, full_hi = os.w;
  for (std::size_t ox = 0; ox < os.w; ++ox)
    if (cols[ox].first == 0 && cols[ox].second == w.kw) {
      if (full_lo == os.w) full_lo = ox;
      full_hi = ox + 1;
    }
  for (std::size_t ec = plane0; ec < plane1; ++ec) {
    const std::size_t e = ec / os.c, c = ec % os.c;
    const std::size_t plane_offset = c * is.h * is.w;
    const float* plane = in + e * is.size() + plane_offset;
    float* out_plane = out + e * os.size() + c * os.h * os.w;
    std::int32_t* win_plane = winners ? winners + e * os.size() + c * os.h * os.w : nullptr;
    const auto one = [&](std::size_t oy, std::size_t ox) {
      const auto [ky0, ky1] = rows[oy];
      const auto [kx0, kx1] = cols[ox];
      float best = 0.0f;
      std::int32_t arg = -1;
      if (ky0 < ky1 && kx0 < kx1) {
        const std::size_t y0 = oy * w.sh - w.pt, x0 = ox * w.sw - w.pl;  // wrap-around cancels below
        std::size_t at = (y0 + ky0 * w.dh) * is.w + x0 + kx0 * w.dw;
        best = plane[at];
        for (std::size_t ky = ky0; ky < ky1; ++ky) {
          const std::size_t row = (y0 + ky * w.dh) * is.w + x0;
          for (std::size_t kx = ky == ky0 ? kx0 + 1 : kx0; kx < kx1; ++kx) {
            const float v = plane[row + kx * w.dw];
            const bool take = v > best;
            best = take ? v : best;
            at = take ? row + kx * w.dw : at;
          }
        }
        arg = std::int32_t(plane_offset + at);
      }
      out_plane[oy * os.w + ox] = best;
      if (win_plane) win_plane[oy * os.w + ox] = arg;
    };
    for (std::size_t oy = 0; oy < os.h; ++oy) {
      const bool whole_rows = rows[oy].first == 0 && rows[oy].second == w.kh;
      const std::size_t lo = whole_rows ? full_lo : os.w, hi = whole_rows ? full_hi : os.w;
      for (std::size_t ox = 0; ox < lo; ++ox) one(oy, ox);
      if (lo < hi) {
        float* o = out_plane + oy * os.w;
        std::int32_t* win = win_plane ? win_plane + oy * os.w : nullptr;
        // Window (oy, ox) starts at input index first + ox·sw (lo ≥ 1 when pl > 0, so no wrap).
        const std::size_t first = (oy * w.sh - w.pt) * is.w - w.pl, sw = w.sw;
        for (std::size_t ox = lo; ox < hi; ++ox) o[ox] = plane[first + ox * sw];
        if (win)
          for (std::size_t ox = lo; ox < hi; ++ox) win[ox] = std::int32_t(plane_offset + first + ox * sw);
        for (std::size_t ky = 0; ky < w.kh; ++ky)
          for (std::size_t kx = ky == 0 ? 1 : 0; kx < w.kw; ++kx) {
            const std::size_t tap = first + ky * w.dh * is.w + kx * w.dw;
            if (win) {
              for (std::size_t ox = lo; ox < hi; ++ox) {
                const float v = plane[tap + ox * sw];
                const bool take = v > o[ox];
                o[ox] = take ? v : o[ox];
                win[ox] = take ? std::int32_t(plane_offset + tap + ox * sw) : win[ox];
              }
            } else {
              for (std::size_t ox = lo; ox < hi; ++ox) {
                const float v = plane[tap + ox * sw];
                o[ox] = v > o[ox] ? v : o[ox];
              }
            }
          }
      }
      for (std::size_t ox = hi; ox < os.w; ++ox) one(oy, ox);
    }
  }
}

namespace {
struct PoolJob {
  const Layer* layer;
  const float* in;
  float* out;
  std::int32_t* winners;
  std::size_t planes, planes_per_task;
};
void pool_task(void* ctx, std::size_t t) {
  const PoolJob& j = *static_cast<const PoolJob*>(ctx);
  const std::size_t p0 = t * j.planes_per_task;
  max_pool_planes(*j.layer, j.in, j.out, j.winners, p0, std::min(j.planes, p0 + j.planes_per_task));
}
}  // namespace

void max_pool_forward(const Layer& layer, const float* in, std::size_t n, float* out, std::int32_t* winners) {
  // Each plane is pooled alone, so planes split across the pool give the same bits; over 2^16
  // outputs they do (serial, ResNet18's 3 × 3 stride-2 pool was 3 % of a 2-thread forward on one
  // core while the other waited, perf).
  const std::size_t planes = n * layer.out_shape.c, pool = threads::pool_size();
  if (pool < 2 || threads::in_parallel_region() || n * layer.out_size() < (std::size_t(1) << 16)) {
    max_pool_planes(layer, in, out, winners, 0, planes);
    return;
  }
  PoolJob job{&layer, in, out, winners, planes, (planes + 4 * pool - 1) / (4 * pool)};
  threads::parallel_for((planes + job.planes_per_task - 1) / job.planes_per_task, pool, pool_task, &job);
}

float avg_pool_divisor(const Layer& layer, std::size_t oy, std::size_t ox) {
  const Window& w = layer.window;
  const std::ptrdiff_t ih = std::ptrdiff_t(layer.in_shape.h), iw = std::ptrdiff_t(layer.in_shape.w);
  std::ptrdiff_t y0 = std::ptrdiff_t(oy * w.sh) - std::ptrdiff_t(w.pt), x0 = std::ptrdiff_t(ox * w.sw) - std::ptrdiff_t(w.pl);
  std::ptrdiff_t y1 = std::min<std::ptrdiff_t>(y0 + std::ptrdiff_t(w.kh), ih + std::ptrdiff_t(w.pb));
  std::ptrdiff_t x1 = std::min<std::ptrdiff_t>(x0 + std::ptrdiff_t(w.kw), iw + std::ptrdiff_t(w.pr));
  if (w.count_include_pad) return float((y1 - y0) * (x1 - x0));
  y0 = std::max<std::ptrdiff_t>(y0, 0);
  x0 = std::max<std::ptrdiff_t>(x0, 0);
  y1 = std::min(y1, ih);
  x1 = std::min(x1, iw);
  return float(std::max<std::ptrdiff_t>(1, (y1 - y0) * (x1 - x0)));
}

void avg_pool_forward(const Layer& layer, const float* in, std::size_t n, float* out) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t c = 0; c < os.c; ++c) {
      const float* plane = in + e * is.size() + c * is.h * is.w;
      for (std::size_t oy = 0; oy < os.h; ++oy)
        for (std::size_t ox = 0; ox < os.w; ++ox) {
          float sum = 0.0f;
          for (std::size_t ky = 0; ky < w.kh; ++ky) {
            const std::ptrdiff_t y = std::ptrdiff_t(oy * w.sh + ky * w.dh) - std::ptrdiff_t(w.pt);
            if (y < 0 || y >= ih) continue;
            for (std::size_t kx = 0; kx < w.kw; ++kx) {
              const std::ptrdiff_t x = std::ptrdiff_t(ox * w.sw + kx * w.dw) - std::ptrdiff_t(w.pl);
              if (x >= 0 && x < iw) sum += plane[y * iw + x];
            }
          }
          out[e * os.size() + (c * os.h + oy) * os.w + ox] = sum / avg_pool_divisor(layer, oy, ox);
        }
    }
}

// Without trapping math GCC vectorises the selects below (with it, it keeps the pieces' products
// behind branches: a product may raise an FP exception the branch would have skipped); no value
// changes. clang has no such attribute and vectorises or not on its own.
#if defined(__GNUC__) && !defined(__clang__)
#define PATHWISE_NO_TRAPPING_MATH __attribute__((optimize("no-trapping-math")))
#else
#define PATHWISE_NO_TRAPPING_MATH
#endif

// A block of units of one channel of a non-ReLU gate: slope s and constant c of each unit's piece
// (z ≤ lower: the lower piece; else z ≥ upper: the constant upper; else the identity), out = z on
// the identity piece, else s·z + c. True when some c is nonzero.
PATHWISE_NO_TRAPPING_MATH static bool gate_block(const float* z_in, float* s_out, float* c_out, float* out,
                                                 std::size_t count, float lower, float upper, float slope,
                                                 float c_low) {
  int any_constant = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const float z = z_in[i];
    const bool low = z <= lower;
    const bool high = !low & (z >= upper);
    float s = low ? slope : 1.0f;
    float c = low ? c_low : 0.0f;
    s = high ? 0.0f : s;
    c = high ? upper : c;
    s_out[i] = s;
    c_out[i] = c;
    const float piece = s * z + c;
    out[i] = ((s == 1.0f) & (c == 0.0f)) ? z : piece;
    any_constant |= int(c != 0.0f);
  }
  return any_constant != 0;
}

void gate_forward(const Layer& layer, const float* in, std::size_t n, float* out, float* gates,
                  std::vector<float>* constants) {
  const std::size_t size = layer.out_size();
  const GateParams& g = layer.gate;
  if (g.is_relu()) {
    for (std::size_t q = 0; q < n * size; ++q) {
      const bool on = in[q] > 0.0f;
      out[q] = on ? in[q] : 0.0f;
      if (gates) gates[q] = on ? 1.0f : 0.0f;
    }
    if (constants) constants->clear();
    return;
  }
  // The pieces of docs/semantics.md; the lower piece is evaluated as s·z + c, the very map the
  // frozen path network applies, so a path network that keeps every unit reproduces these bits.
  // (out may alias in: each z is read before its output is written.)
  const std::size_t plane = layer.out_shape.h * layer.out_shape.w;
  if (constants) constants->assign(n * size, 0.0f);
  bool any_constant = false;
  // Branch-free over blocks of a plane, z copied first (out may be in): the branchy loop was 21–24 %
  // of a MobileNetV2 forward (ReLU6, perf); the same piece and the same expression per unit.
  constexpr std::size_t kBlock = 256;
  float zb[kBlock], sb[kBlock], cb[kBlock];
  float* const constants_data = constants ? constants->data() : nullptr;
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t ch = 0; ch < layer.out_shape.c; ++ch) {
      const float slope = g.slope_of(ch), c_low = g.lower_value - slope * g.lower;
      const float lower = g.lower, upper = g.upper;
      const std::size_t base = e * size + ch * plane;
      for (std::size_t q0 = base; q0 < base + plane; q0 += kBlock) {
        const std::size_t count = std::min(kBlock, base + plane - q0);
        std::copy(in + q0, in + q0 + count, zb);
        const bool block_constant = gate_block(zb, sb, cb, out + q0, count, lower, upper, slope, c_low);
        if (gates) std::copy(sb, sb + count, gates + q0);
        if (constants_data) std::copy(cb, cb + count, constants_data + q0);
        any_constant = any_constant || block_constant;
      }
    }
  if (constants && !any_constant) std::vector<float>().swap(*constants);
}

void affine_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias) {
  const Shape& s = layer.in_shape;
  const std::size_t plane = s.h * s.w;
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t c = 0; c < s.c; ++c) {
      const float a = layer.weights[c], b = with_bias ? layer.bias[c] : 0.0f;
      const float* src = in + e * s.size() + c * plane;
      float* dst = out + e * s.size() + c * plane;
      for (std::size_t p = 0; p < plane; ++p) dst[p] = a * src[p] + b;
    }
}

void gather_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias) {
  const std::size_t in_size = layer.in_size(), out_size = layer.out_size();
  const float fill = with_bias ? layer.fill : 0.0f;
  const std::int32_t* map = layer.map.data();
  for (std::size_t e = 0; e < n; ++e) {
    const float* x = in + e * in_size;
    float* y = out + e * out_size;
    for (std::size_t o = 0; o < out_size; ++o) y[o] = map[o] >= 0 ? x[map[o]] : fill;
  }
}

void concat_forward(const std::vector<const float*>& inputs, const std::vector<std::size_t>& sizes, std::size_t n,
                    float* out) {
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t j = 0; j < inputs.size(); ++j) {
      const float* x = inputs[j] + e * sizes[j];
      out = std::copy(x, x + sizes[j], out);
    }
}

}  // namespace ops

namespace {

// A Concat layer of the network: its producers' values (read through values_of) concatenated.
template <class ValuesOf>
void run_concat(const Network& net, const Layer& layer, ValuesOf values_of, std::size_t n, std::vector<float>& y) {
  std::vector<const float*> inputs;
  std::vector<std::size_t> sizes;
  for (int p : layer.inputs) {
    inputs.push_back(values_of(p));
    sizes.push_back(net.producer_size(p));
  }
  y.resize(n * layer.out_size());
  ops::concat_forward(inputs, sizes, n, y.data());
}

// Sizes a value or gate buffer of the forward to `floats`. Storage too small for it is replaced by a
// large block from the block cache (vjp/block_cache.h) when one is there: an explanation's forward
// buffers, fresh every call, faulted in every page (VGG16 at width 64 depth 5: ~15–30 K faults and
// ~5 % of a call, perf); the chunk that held them hands them back (path/explain.cc). What resize
// keeps of a cached block's old values is overwritten: every layer writes all of its output.
void size_buffer(std::vector<float>& y, std::size_t floats) {
  if (y.capacity() < floats && floats >= block_cache::kMinFloats) block_cache::take(y, floats);
  y.resize(floats);
}

// Runs layer i on inputs a (and b for Add). For a ReLU, `mask` selects the MaskLayer and `gates`
// receives the gate of the frozen network; for a MaxPool, `winners` receives the routing.
// A gate layer's `constants` receives its units' constants (mask_constant: the masked gate's).
void run_layer(const Layer& layer, const float* a, const float* b, std::size_t n, const float* mask,
               const std::int32_t* fixed, std::vector<float>& y, std::vector<float>* gates,
               std::vector<std::int32_t>* winners, bool with_bias = true, const float* mask_constant = nullptr,
               std::vector<float>* constants = nullptr) {
  size_buffer(y, n * layer.out_size());
  switch (layer.kind) {
    case LayerKind::Dense: ops::dense_forward(layer, a, n, y.data(), with_bias); break;
    case LayerKind::Conv: ops::conv_forward(layer, a, n, y.data(), with_bias); break;
    case LayerKind::MaxPool: {
      if (fixed) {
        const std::size_t out = layer.out_size(), in = layer.in_size();
        for (std::size_t e = 0; e < n; ++e)
          for (std::size_t o = 0; o < out; ++o) {
            const std::int32_t w = fixed[e * out + o];
            y[e * out + o] = w < 0 ? 0.0f : a[e * in + std::size_t(w)];
          }
        if (winners) winners->assign(fixed, fixed + y.size());
        break;
      }
      // Without a caller for the routing (forward_logits), none is written: a fresh scratch vector
      // for it (VGG's first pool: 12.8 MB zero-filled and page-faulted in) made that pool 9 ms.
      if (winners) winners->resize(y.size());
      ops::max_pool_forward(layer, a, n, y.data(), winners ? winners->data() : nullptr);
      break;
    }
    case LayerKind::AvgPool: ops::avg_pool_forward(layer, a, n, y.data()); break;
    case LayerKind::Affine: ops::affine_forward(layer, a, n, y.data(), with_bias); break;
    case LayerKind::Gather: ops::gather_forward(layer, a, n, y.data(), with_bias); break;
    case LayerKind::Concat: throw Error(Error::Kind::Runtime, "internal: Concat runs through run_concat");
    case LayerKind::Add:
      for (std::size_t q = 0; q < y.size(); ++q) y[q] = a[q] + b[q];
      break;
    case LayerKind::Relu:
      if (mask) {
        for (std::size_t q = 0; q < y.size(); ++q) y[q] = mask[q] * a[q];
        if (gates) gates->assign(mask, mask + y.size());
        if (mask_constant)
          for (std::size_t q = 0; q < y.size(); ++q) y[q] += mask_constant[q];
        if (constants) constants->clear();  // the caller holds the masked gate's constants
      } else {
        if (gates) size_buffer(*gates, y.size());
        ops::gate_forward(layer, a, n, y.data(), gates ? gates->data() : nullptr, constants);
      }
      break;
  }
}

}  // namespace

void forward_range(const Network& net, const float* x, std::size_t n, std::size_t first,
                   const Activations* below, const std::vector<const float*>& masks, Activations& out,
                   const std::vector<const std::int32_t*>* fixed_winners, bool with_bias, std::size_t fuse_below,
                   const std::vector<const float*>* mask_constants) {
  const auto& layers = net.layers();
  const std::size_t count = layers.size();
  out.n = n;
  out.values.resize(count);
  out.gates.resize(count);
  out.constants.resize(count);
  out.winners.resize(count);
  auto values_of = [&](int p) -> const float* {
    if (p < 0) return x;
    const std::size_t i = std::size_t(p);
    return i < first ? below->values[i].data() : out.values[i].data();
  };
  for (std::size_t i = first; i < count; ++i) {
    const Layer& layer = layers[i];
    const float* a = values_of(layer.inputs[0]);
    const float* b = layer.inputs.size() > 1 ? values_of(layer.inputs[1]) : nullptr;
    const float* mask = i < masks.size() ? masks[i] : nullptr;
    const std::int32_t* fixed = fixed_winners && i < fixed_winners->size() ? (*fixed_winners)[i] : nullptr;
    if (layer.kind == LayerKind::Concat) {  // k inputs; never fused (it keeps its values)
      run_concat(net, layer, values_of, n, out.values[i]);
      continue;
    }
    const bool fuse = i + 1 < fuse_below && layers[i + 1].kind == LayerKind::Relu && layer.kind != LayerKind::Relu &&
                      net.consumers()[i].size() == 1 && net.consumers()[i][0] == i + 1 &&
                      (i + 1 >= masks.size() || !masks[i + 1]);
    if (fuse) {
      // Layer i's output feeds only the unmasked ReLU i + 1: computed into the ReLU's buffer and
      // rectified in place, layer i keeping no values (VGG16 below conv5_1: 13 M floats, 53 MB,
      // that every explanation wrote and page-faulted in).
      std::vector<float>& y = out.values[i + 1];
      run_layer(layer, a, b, n, nullptr, fixed, y, &out.gates[i], &out.winners[i], with_bias);
      std::vector<float>& gates = out.gates[i + 1];
      size_buffer(gates, y.size());
      ops::gate_forward(layers[i + 1], y.data(), n, y.data(), gates.data(), &out.constants[i + 1]);
      std::vector<float>().swap(out.values[i]);
      ++i;
      continue;
    }
    const float* mask_constant = mask_constants && i < mask_constants->size() ? (*mask_constants)[i] : nullptr;
    run_layer(layer, a, b, n, mask, fixed, out.values[i], &out.gates[i], &out.winners[i], with_bias, mask_constant,
              &out.constants[i]);
  }
}

void jvp_frozen(const Network& net, const Activations& orig, const float* v, std::size_t n, Activations& out) {
  const auto& layers = net.layers();
  std::vector<const float*> gates(layers.size(), nullptr);
  std::vector<const std::int32_t*> winners(layers.size(), nullptr);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind == LayerKind::Relu) gates[i] = orig.gates[i].data();
    if (layers[i].kind == LayerKind::MaxPool) winners[i] = orig.winners[i].data();
  }
  forward_range(net, v, n, 0, nullptr, gates, out, &winners, /*with_bias=*/false);
}

void forward_original(const Network& net, const float* x, std::size_t n, Activations& out, std::size_t keep_from) {
  forward_range(net, x, n, 0, nullptr, {}, out, nullptr, true, keep_from);
}

namespace {
// The activation buffers of this thread's last forward_logits call, for the next one: fresh ones
// were page-faulted in and zero-filled on every call, serially on the calling thread (ResNet18:
// memset and page faults 3–4 % of a 2-thread forward, perf). At most kLogitsCacheBytes are kept.
constexpr std::size_t kLogitsCacheBytes = std::size_t(64) << 20;
thread_local std::vector<std::vector<float>> t_logits_buffers;
}  // namespace

std::vector<float> forward_logits(const Network& net, const float* x, std::size_t n) {
  // Keeps an activation only until its last consumer has run (a chain holds two at a time).
  const auto& layers = net.layers();
  const auto& consumers = net.consumers();
  std::vector<std::vector<float>> values(layers.size());
  std::vector<std::size_t> pending(layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) pending[i] = consumers[i].size();
  // Freed activations are reused for later outputs: a fresh vector per layer page-faulted in all of
  // VGG16's 54 MB of activations on every call (kernel page zeroing and faults, 8 % of a forward, perf).
  // They keep their size: a cleared vector resized up is zero-filled first, a pass over every
  // activation that the layer then overwrites (memset, 1.3 % of a VGG16 forward, perf).
  std::vector<std::vector<float>> spare = std::move(t_logits_buffers);
  t_logits_buffers.clear();
  const auto release_inputs = [&](const Layer& layer) {
    for (int p : layer.inputs)
      if (p >= 0 && --pending[std::size_t(p)] == 0 && !values[std::size_t(p)].empty())
        spare.push_back(std::move(values[std::size_t(p)]));
  };
  const auto only_reader = [&](std::size_t i, std::size_t reader) {
    return reader < layers.size() && consumers[i].size() == 1 && consumers[i][0] == reader;
  };
  const auto plain_relu = [&](std::size_t i) {
    return i < layers.size() && layers[i].kind == LayerKind::Relu && layers[i].gate.is_relu();
  };
  for (std::size_t i = 0; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    // Chains run as one layer, the later ones fused into the first's output pass: a Conv whose only
    // reader is an Add (ResNet's second conv of a block and its shortcut) adds the Add's other input
    // in its copy-out; a Conv or that Add or an Add whose only reader is a plain ReLU rectifies
    // there (the conv's copy-out is parallel; the separate passes were serial, and each a pass over
    // the activation). The same bits: (conv + bias) + residual, then z > 0 ? z : 0, each rounded
    // as the unfused layers round it (a + b = b + a exactly).
    std::size_t last = i;  // the last layer of the chain
    const float* residual = nullptr;
    if (layer.kind == LayerKind::Conv && only_reader(i, i + 1) && layers[i + 1].kind == LayerKind::Add &&
        layers[i + 1].inputs.size() == 2 && (layers[i + 1].inputs[0] == int(i)) != (layers[i + 1].inputs[1] == int(i))) {
      const int other = layers[i + 1].inputs[0] == int(i) ? layers[i + 1].inputs[1] : layers[i + 1].inputs[0];
      residual = other < 0 ? x : values[std::size_t(other)].data();
      last = i + 1;
    }
    bool relu = false;
    if ((layer.kind == LayerKind::Conv || layer.kind == LayerKind::Add) && only_reader(last, last + 1) &&
        plain_relu(last + 1)) {
      relu = true;
      ++last;
    }
    const std::size_t need = n * layer.out_size();
    std::size_t fit = spare.size();
    for (std::size_t s = 0; s < spare.size(); ++s)
      if (spare[s].size() >= need && (fit == spare.size() || spare[s].size() < spare[fit].size())) fit = s;
    if (fit < spare.size()) {
      values[last] = std::move(spare[fit]);
      spare.erase(spare.begin() + std::ptrdiff_t(fit));
    }
    auto values_of = [&](int p) -> const float* { return p < 0 ? x : values[std::size_t(p)].data(); };
    const float* b = layer.inputs.size() > 1 ? values_of(layer.inputs[1]) : nullptr;
    if (last > i) {
      std::vector<float>& y = values[last];
      y.resize(need);
      if (layer.kind == LayerKind::Conv) {
        ops::conv_forward(layer, values_of(layer.inputs[0]), n, y.data(), /*with_bias=*/true, relu, residual);
      } else {  // Add + ReLU
        const float* a = values_of(layer.inputs[0]);
        for (std::size_t q = 0; q < need; ++q) {
          const float z = a[q] + b[q];
          y[q] = z > 0.0f ? z : 0.0f;
        }
      }
      for (std::size_t j = i; j <= last; ++j) release_inputs(layers[j]);
      i = last;
      continue;
    }
    if (layer.kind == LayerKind::Concat)
      run_concat(net, layer, values_of, n, values[i]);
    else
      run_layer(layer, values_of(layer.inputs[0]), b, n, nullptr, nullptr, values[i], nullptr, nullptr);
    release_inputs(layer);
  }
  std::vector<float> logits(values.back().begin(), values.back().end());  // not a recycled buffer's capacity
  for (auto& v : values)
    if (!v.empty()) spare.push_back(std::move(v));
  // The largest first, while they fit.
  std::sort(spare.begin(), spare.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  std::size_t kept = 0;
  for (auto& v : spare)
    if ((kept + v.size()) * sizeof(float) <= kLogitsCacheBytes) {
      kept += v.size();
      t_logits_buffers.push_back(std::move(v));
    }
  return logits;
}

std::size_t argmax_first(const float* values, std::size_t count) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < count; ++j)
    if (values[j] > values[best]) best = j;
  return best;
}

}  // namespace pathwise
