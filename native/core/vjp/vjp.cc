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
      double sum = 0.0;
      for (std::size_t p = 0; p < plane; ++p) sum += row[c * plane + p];
      dot += sum * double(layer.bias[c]);
    }
    bias[r] += dot;
  }
}

void conv_back(const Layer& layer, const float* cot, std::size_t rows, float* target, std::vector<float>& cols) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * layer.window.kh * layer.window.kw, positions = os.h * os.w;
  const auto& gemm = kernels::active();
  const bool pointwise = ops::conv_is_pointwise(layer);
  const std::size_t block = ops::conv_block(layer);
  cols.resize(k * block);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t gi = 0; gi < g; ++gi) {
      const float* dy = cot + r * os.size() + gi * cout_g * positions;
      float* dx = target + r * is.size() + gi * cin_g * is.h * is.w;
      const float* wt = layer.weights_t.data() + gi * k * cout_g;
      if (pointwise) {  // dx (K × P) += Wᵀ (K × Cout_g) · dy (Cout_g × P)
        gemm.gemm_nn(k, positions, cout_g, wt, cout_g, dy, positions, dx, positions, true);
        continue;
      }
      for (std::size_t p0 = 0; p0 < positions; p0 += block) {
        const std::size_t count = std::min(block, positions - p0);
        gemm.gemm_nn(k, count, cout_g, wt, cout_g, dy + p0, positions, cols.data(), count, false);
        ops::col2im_add(layer, cols.data(), p0, count, dx);
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
  const auto& gemm = kernels::active();
  std::vector<float> cols;
  for (std::size_t i = hi; i-- > lo;) {
    std::vector<float>& own = s.cot[i];
    if (own.empty()) continue;  // nothing flows through this layer
    const Layer& layer = layers[i];
    const float* cot = own.data();
    const std::size_t rows = s.rows, out = layer.out_size(), in = layer.in_size();
    if (bias && layer.has_bias()) accumulate_bias(layer, cot, rows, bias);
    switch (layer.kind) {
      case LayerKind::Dense: {
        // δ_in[rows × in] (+)= δ_out[rows × out] · W[out × in]: all rows in one product.
        std::vector<float>& t = layer.inputs[0] < 0 ? s.input_cot : s.cot[std::size_t(layer.inputs[0])];
        const bool fresh = t.empty();
        if (fresh) t.resize(rows * in);
        gemm.gemm_nn(rows, in, out, cot, out, layer.weights.data(), in, t.data(), in, !fresh);
        break;
      }
      case LayerKind::Conv: conv_back(layer, cot, rows, target_of(net, s, layer.inputs[0]), cols); break;
      case LayerKind::Relu: {
        const float* gate = frozen.gates[i];
        if (!gate) throw Error(Error::Kind::Runtime, "internal: ReLU layer without a frozen gate");
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
