#include "vjp.h"

#include <algorithm>

#include "../forward/forward.h"
#include "../kernels/kernels.h"
#include "../util/error.h"

namespace pathwise {

void Sweep::reset(const Network& net, std::size_t rows_, std::size_t rows_per_example_) {
  rows = rows_;
  rows_per_example = rows_per_example_;
  cot.assign(net.layers().size(), {});
  input_cot.clear();
}

namespace {

// The cotangent buffer of producer p, zero-filled on first use.
float* target_of(const Network& net, Sweep& s, int p) {
  std::vector<float>& t = p < 0 ? s.input_cot : s.cot[std::size_t(p)];
  if (t.empty()) t.assign(s.rows * (p < 0 ? net.input_size() : net.layers()[std::size_t(p)].out_size()), 0.0f);
  return t.data();
}

void accumulate_bias(const Layer& layer, const float* cot, std::size_t rows, double* bias) {
  const std::size_t out = layer.out_size(), channels = layer.out_shape.c, plane = out / channels;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = cot + r * out;
    double dot = 0.0;
    for (std::size_t c = 0; c < channels; ++c) {
      // Four partial sums: one float64 chain was latency-bound (4 cycles an add) at 13 % of a
      // Fashion-CNN explanation's sweep time (perf).
      double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
      const float* v = row + c * plane;
      std::size_t p = 0;
      for (; p + 4 <= plane; p += 4) {
        s0 += v[p];
        s1 += v[p + 1];
        s2 += v[p + 2];
        s3 += v[p + 3];
      }
      for (; p < plane; ++p) s0 += v[p];
      dot += ((s0 + s1) + (s2 + s3)) * double(layer.bias[c]);
    }
    bias[r] += dot;
  }
}

// A dense layer's δ_in[rows × in] (+)= δ_out[rows × out] · W[out × in]. A row of δ_out with at most
// out / kDenseSparseDivisor nonzeros adds those weight rows (contiguous, `in` floats each) instead
// of joining the product: a path network's sweeps above l_min are that sparse (a masked ReLU keeps
// `width` units), and a product with few rows reads all of W for them — the Fashion MLP's final
// VJP (one row, 16 of 256 units kept at width 16) read 784 × 256 weights for 16 × 784 of work, a
// fifth of its explanation (perf). The product reaches ~16 multiply-adds a cycle on such short
// rows and the scatter ~4, hence 1/8 (a conv's scatter, which walks windows, uses 1/32). Which way
// a row goes depends on that row alone, so a row's result does not depend on the batch.
constexpr std::size_t kDenseSparseDivisor = 8;

void dense_back(const Layer& layer, const float* cot, std::size_t rows, float* target, bool accumulate,
                std::vector<std::uint32_t>& nonzeros) {
  const std::size_t out = layer.out_size(), in = layer.in_size(), limit = out / kDenseSparseDivisor;
  const float* weights = layer.weights.data();
  std::size_t run = 0;  // dense rows [r − run, r) not yet multiplied
  const auto flush = [&](std::size_t end) {
    if (run == 0) return;
    const std::size_t r0 = end - run;
    kernels::active().gemm_nn(run, in, out, cot + r0 * out, out, weights, in, target + r0 * in, in, accumulate);
    run = 0;
  };
  for (std::size_t r = 0; r < rows; ++r) {
    const float* dy = cot + r * out;
    nonzeros.clear();
    bool sparse = true;
    for (std::size_t j = 0; j < out && sparse; ++j)
      if (dy[j] != 0.0f) {
        sparse = nonzeros.size() < limit;
        nonzeros.push_back(std::uint32_t(j));
      }
    if (!sparse) {
      ++run;
      continue;
    }
    flush(r);
    float* __restrict dx = target + r * in;
    if (!accumulate) std::fill(dx, dx + in, 0.0f);
    // Four weight rows per pass over δ_in: one pass a row spent most of its time loading and
    // storing δ_in (perf, Fashion MLP).
    std::size_t q = 0;
    for (; q + 4 <= nonzeros.size(); q += 4) {
      const float v0 = dy[nonzeros[q]], v1 = dy[nonzeros[q + 1]], v2 = dy[nonzeros[q + 2]], v3 = dy[nonzeros[q + 3]];
      const float* __restrict w0 = weights + std::size_t(nonzeros[q]) * in;
      const float* __restrict w1 = weights + std::size_t(nonzeros[q + 1]) * in;
      const float* __restrict w2 = weights + std::size_t(nonzeros[q + 2]) * in;
      const float* __restrict w3 = weights + std::size_t(nonzeros[q + 3]) * in;
      for (std::size_t i = 0; i < in; ++i) dx[i] += (v0 * w0[i] + v1 * w1[i]) + (v2 * w2[i] + v3 * w3[i]);
    }
    for (; q < nonzeros.size(); ++q) {
      const float v = dy[nonzeros[q]];
      const float* __restrict w = weights + std::size_t(nonzeros[q]) * in;
      for (std::size_t i = 0; i < in; ++i) dx[i] += v * w[i];
    }
  }
  flush(rows);
}

// δ_in += Wᵀ·δ_out for one row from the nonzeros of δ_out: each adds its weight row (Cin_g × kh ×
// kw) at the input positions its window covers. The sweeps of a path network are this sparse
// above l_min: a masked ReLU leaves `width` units of δ (ops::sparse_nonzeros).
void conv_back_sparse_row(const Layer& layer, const float* dy, const std::vector<std::uint32_t>& nonzeros, float* dx) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * w.kh * w.kw, positions = os.h * os.w, plane = is.h * is.w;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  for (std::uint32_t q : nonzeros) {
    const float v = dy[q];
    const std::size_t co = q / positions, p = q % positions, oy = p / os.w, ox = p % os.w;
    const float* wrow = layer.weights.data() + co * k;
    float* dxg = dx + (co / cout_g) * cin_g * plane;
    for (std::size_t ci = 0; ci < cin_g; ++ci)
      for (std::size_t ky = 0; ky < w.kh; ++ky) {
        const std::ptrdiff_t y = std::ptrdiff_t(oy * w.sh + ky * w.dh) - std::ptrdiff_t(w.pt);
        if (y < 0 || y >= ih) continue;
        const float* wr = wrow + (ci * w.kh + ky) * w.kw;
        float* row = dxg + ci * plane + std::size_t(y * iw);
        for (std::size_t kx = 0; kx < w.kw; ++kx) {
          const std::ptrdiff_t x = std::ptrdiff_t(ox * w.sw + kx * w.dw) - std::ptrdiff_t(w.pl);
          if (x >= 0 && x < iw) row[x] += v * wr[kx];
        }
      }
  }
}

// δ_in += Wᵀ·δ_out. Sparse rows scatter their nonzeros; the dense rows of a group share one column
// space: the GEMM's columns run over (row, output position), so the C class rows of a sweep make
// one product of rows·P columns per block instead of one of P per row. A block that spans rows
// gathers their δ_out columns first; col2im then scatters each row's share. Which path a row takes
// depends on that row alone, so a row's result does not depend on the batch.
void conv_back(const Layer& layer, const float* cot, std::size_t rows, float* target, std::vector<float>& cols,
               std::vector<float>& gathered, std::vector<std::uint32_t>& nonzeros) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * layer.window.kh * layer.window.kw, positions = os.h * os.w;
  const auto& gemm = kernels::active();
  const bool pointwise = ops::conv_is_pointwise(layer);
  std::vector<std::size_t> dense;
  for (std::size_t r = 0; r < rows; ++r) {
    const float* dy = cot + r * os.size();
    if (ops::sparse_nonzeros(dy, os.size(), nonzeros)) {
      conv_back_sparse_row(layer, dy, nonzeros, target + r * is.size());
      continue;
    }
    if (!pointwise) {
      dense.push_back(r);
      continue;
    }
    for (std::size_t gi = 0; gi < g; ++gi)  // dx (K × P) += Wᵀ (K × Cout_g) · dy (Cout_g × P)
      gemm.gemm_nn(k, positions, cout_g, layer.weights_t.data() + gi * k * cout_g, cout_g,
                   dy + gi * cout_g * positions, positions, target + r * is.size() + gi * cin_g * is.h * is.w,
                   positions, true);
  }
  if (dense.empty()) return;
  const std::size_t block = ops::conv_back_block(layer), total = dense.size() * positions;
  cols.resize(k * std::min(block, total));
  for (std::size_t gi = 0; gi < g; ++gi) {
    const float* wt = layer.weights_t.data() + gi * k * cout_g;
    for (std::size_t c0 = 0; c0 < total; c0 += block) {
      const std::size_t count = std::min(block, total - c0), d0 = c0 / positions, p0 = c0 % positions;
      const float* b;
      std::size_t ldb;
      if (p0 + count <= positions) {  // within one row: read δ_out in place
        b = cot + dense[d0] * os.size() + gi * cout_g * positions + p0;
        ldb = positions;
      } else {
        gathered.resize(cout_g * count);
        for (std::size_t o = 0; o < cout_g; ++o)
          for (std::size_t j = 0, d = d0, p = p0; j < count;) {
            const std::size_t run = std::min(count - j, positions - p);
            const float* src = cot + dense[d] * os.size() + (gi * cout_g + o) * positions + p;
            std::copy(src, src + run, gathered.data() + o * count + j);
            j += run;
            ++d;
            p = 0;
          }
        b = gathered.data();
        ldb = count;
      }
      gemm.gemm_nn(k, count, cout_g, wt, cout_g, b, ldb, cols.data(), count, false);
      for (std::size_t j = 0, d = d0, p = p0; j < count;) {
        const std::size_t run = std::min(count - j, positions - p);
        ops::col2im_add(layer, cols.data() + j, count, p, run,
                        target + dense[d] * is.size() + gi * cin_g * is.h * is.w);
        j += run;
        ++d;
        p = 0;
      }
    }
  }
}

void avg_pool_back(const Layer& layer, const float* cot, std::size_t rows, float* target) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < os.c; ++c) {
      float* plane = target + r * is.size() + c * is.h * is.w;
      for (std::size_t oy = 0; oy < os.h; ++oy)
        for (std::size_t ox = 0; ox < os.w; ++ox) {
          const float g = cot[r * os.size() + (c * os.h + oy) * os.w + ox] / ops::avg_pool_divisor(layer, oy, ox);
          for (std::size_t ky = 0; ky < w.kh; ++ky) {
            const std::ptrdiff_t y = std::ptrdiff_t(oy * w.sh + ky * w.dh) - std::ptrdiff_t(w.pt);
            if (y < 0 || y >= ih) continue;
            for (std::size_t kx = 0; kx < w.kw; ++kx) {
              const std::ptrdiff_t x = std::ptrdiff_t(ox * w.sw + kx * w.dw) - std::ptrdiff_t(w.pl);
              if (x >= 0 && x < iw) plane[y * iw + x] += g;
            }
          }
        }
    }
}

}  // namespace

void sweep_back(const Network& net, const Frozen& frozen, Sweep& s, std::size_t lo, std::size_t hi, double* bias) {
  const auto& layers = net.layers();
  std::vector<float> cols, gathered;
  std::vector<std::uint32_t> nonzeros;
  for (std::size_t i = hi; i-- > lo;) {
    std::vector<float>& own = s.cot[i];
    if (own.empty()) continue;  // nothing flows through this layer
    const Layer& layer = layers[i];
    const float* cot = own.data();
    const std::size_t rows = s.rows, out = layer.out_size(), in = layer.in_size();
    if (bias && layer.has_bias()) accumulate_bias(layer, cot, rows, bias);
    switch (layer.kind) {
      case LayerKind::Dense: {
        std::vector<float>& t = layer.inputs[0] < 0 ? s.input_cot : s.cot[std::size_t(layer.inputs[0])];
        const bool fresh = t.empty();
        if (fresh) t.resize(rows * in);
        dense_back(layer, cot, rows, t.data(), !fresh, nonzeros);
        break;
      }
      case LayerKind::Conv:
        conv_back(layer, cot, rows, target_of(net, s, layer.inputs[0]), cols, gathered, nonzeros);
        break;
      case LayerKind::Relu: {
        const float* gate = frozen.gates[i];
        if (!gate) throw Error(Error::Kind::Runtime, "internal: gate layer without a frozen gate");
        const float* constant = i < frozen.constants.size() ? frozen.constants[i] : nullptr;
        if (bias && constant)
          for (std::size_t r = 0; r < rows; ++r) {
            const float* c = constant + (r / s.rows_per_example) * out;
            double dot = 0.0;
            for (std::size_t u = 0; u < out; ++u) dot += double(cot[r * out + u]) * double(c[u]);
            bias[r] += dot;
          }
        float* t = target_of(net, s, layer.inputs[0]);
        for (std::size_t r = 0; r < rows; ++r) {
          const float* g = gate + (r / s.rows_per_example) * out;
          if (frozen.guided)
            for (std::size_t u = 0; u < out; ++u) t[r * out + u] += std::max(0.0f, cot[r * out + u] * g[u]);
          else
            for (std::size_t u = 0; u < out; ++u) t[r * out + u] += cot[r * out + u] * g[u];
        }
        break;
      }
      case LayerKind::MaxPool: {
        const std::int32_t* win = frozen.winners[i];
        if (!win) throw Error(Error::Kind::Runtime, "internal: MaxPool layer without frozen winners");
        float* t = target_of(net, s, layer.inputs[0]);
        for (std::size_t r = 0; r < rows; ++r) {
          const std::int32_t* wr = win + (r / s.rows_per_example) * out;
          for (std::size_t o = 0; o < out; ++o)
            if (wr[o] >= 0) t[r * in + std::size_t(wr[o])] += cot[r * out + o];
        }
        break;
      }
      case LayerKind::AvgPool: avg_pool_back(layer, cot, rows, target_of(net, s, layer.inputs[0])); break;
      case LayerKind::Affine: {
        float* t = target_of(net, s, layer.inputs[0]);
        const std::size_t plane = layer.in_shape.h * layer.in_shape.w;
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t c = 0; c < layer.in_shape.c; ++c) {
            const float a = layer.weights[c];
            for (std::size_t p = 0; p < plane; ++p) t[r * in + c * plane + p] += a * cot[r * in + c * plane + p];
          }
        break;
      }
      case LayerKind::Gather: {
        // Scatter-add: an input value read by several outputs receives the sum of their
        // cotangents; a fill value is a constant, entering b_P as ⟨δ_out, fill⟩ over its outputs.
        float* t = target_of(net, s, layer.inputs[0]);
        const std::int32_t* map = layer.map.data();
        for (std::size_t r = 0; r < rows; ++r) {
          const float* dy = cot + r * out;
          float* dx = t + r * in;
          double constant = 0.0;
          for (std::size_t o = 0; o < out; ++o) {
            if (map[o] >= 0) dx[map[o]] += dy[o];
            else constant += double(dy[o]);
          }
          if (bias) bias[r] += constant * double(layer.fill);
        }
        break;
      }
      case LayerKind::Concat: {
        // Each producer receives its own columns of the cotangent rows (summed if it is read twice).
        std::size_t offset = 0;
        for (int p : layer.inputs) {
          const std::size_t size = net.producer_size(p);
          float* t = target_of(net, s, p);
          for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t q = 0; q < size; ++q) t[r * size + q] += cot[r * out + offset + q];
          offset += size;
        }
        break;
      }
      case LayerKind::Add:
        for (int p : layer.inputs) {
          float* t = target_of(net, s, p);
          for (std::size_t q = 0; q < rows * out; ++q) t[q] += cot[q];
        }
        break;
    }
    std::vector<float>().swap(own);
  }
}

}  // namespace pathwise
