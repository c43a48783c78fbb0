// The direct convolution (kernels/conv_f32_body.inc through forward/conv_direct.cc) of every kernel
// table against float64 loops, on random geometry: kernel sizes 1–3 (1 × 1 padded or strided),
// strides 1–3, asymmetric pads, dilation, groups up to depthwise, channel counts across the tables' panel heights
// and sizes across their tiles and task chunks; the same bits for every thread count, with and
// without the bias, and the fused ReLU as the gate on those bits; and through ops::conv_forward, an example's bits do not depend on its batch.
// Part of pathwise_core_test.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "../core/forward/conv_direct.h"
#include "../core/forward/forward.h"
#include "../core/ir/network.h"
#include "conv_geometry.h"
#include "../core/kernels/kernels.h"
#include "../core/threads/pool.h"

void check_core(bool ok, const char* what, double a, double b);  // core_test.cc

namespace {

using Geometry = pathwise_test::ConvGeometry;

Geometry random_geometry(std::mt19937& rng, int trial) {
  Geometry g;
  pathwise::Window& w = g.window;
  const int kind = trial % 4;  // 0: plain, 1: two groups, 2: depthwise, 3: 1 × 1 with padding
  g.groups = kind == 1 ? 2 : 1;
  const std::size_t cin_g = 1 + rng() % 6;
  g.cin = g.groups * cin_g;
  if (kind == 2) {
    g.cin = 1 + rng() % 9;
    g.groups = g.cin;
  }
  g.cout = g.groups * (kind == 2 ? 1 + rng() % 2 : 1 + rng() % 20);
  w.kh = kind == 3 ? 1 : 1 + rng() % 3;
  w.kw = kind == 3 ? 1 : 1 + rng() % 3;
  w.dh = 1 + rng() % 2;
  w.dw = 1 + rng() % 2;
  w.sh = 1 + rng() % 3;
  w.sw = 1 + rng() % 3;
  w.pt = rng() % 3;
  w.pl = rng() % 3;
  w.pb = rng() % 3;
  w.pr = rng() % 3;
  // A padded or strided 1 × 1 conv is not a plain GEMM.
  if ((kind == 3 || (w.kh == 1 && w.kw == 1)) && w.sh == 1 && w.sw == 1) w.pl = 1;
  g.h = 2 + rng() % (trial % 5 == 0 ? 40 : 12);
  g.w = 2 + rng() % (trial % 5 == 0 ? 40 : 12);
  g.h = std::max(g.h, (w.kh - 1) * w.dh + 1);
  g.w = std::max(g.w, (w.kw - 1) * w.dw + 1);
  return g;
}

}  // namespace

void test_conv_direct() {
  std::mt19937 rng(23);
  std::normal_distribution<float> gauss(0.f, 1.f);
  const std::size_t saved = pathwise::threads::pool_size();
  pathwise::threads::set_pool_size(3);
  for (int trial = 0; trial < 50; ++trial) {
    Geometry g = random_geometry(rng, trial);
    if (trial == 47) g = {1, 48, 40, 36, 36, {}};  // above the 32 MFLOP thread threshold: really split
    // The channel kernel's K blocks (K = 576 over 512) and tiles: rows of 7 (two rows a tile, the
    // last row alone), rows of 13 (pieces of 7 and 6), a last channel panel part padding.
    if (trial == 48) g = {1, 64, 40, 9, 7, {}};
    if (trial == 49) g = {1, 64, 72, 13, 13, {}};
    if (trial >= 47) g.window.kh = g.window.kw = 3, g.window.pt = g.window.pl = g.window.pb = g.window.pr = 1;
    const pathwise::Window& w = g.window;
    const std::size_t cin_g = g.cin / g.groups, cout_g = g.cout / g.groups, taps = w.kh * w.kw;
    std::vector<float> weights(g.cout * cin_g * taps), bias(g.cout), dense_weights;
    for (auto& v : weights) v = gauss(rng);
    for (auto& v : bias) v = gauss(rng);
    std::size_t oh = 0, ow = 0;
    const pathwise::Network net = pathwise_test::conv_net(g, weights, bias, dense_weights, oh, ow);
    const pathwise::Layer& layer = net.layers()[0];
    // Network::build packs the weights of exactly the layers the direct kernel takes; the kernel
    // itself handles every geometry, so all of them are tested below.
    check_core(pathwise::ops::conv_direct_applies(layer) == !layer.weights_packed.empty(),
               "weights packed at build iff the direct conv applies", double(trial), 0);
    const std::size_t in_size = g.cin * g.h * g.w, out_size = g.cout * oh * ow;
    std::vector<float> x(3 * in_size);
    for (auto& v : x) v = gauss(rng);
    // float64 reference of example 0, and the sum of |terms| that bounds float32 rounding.
    std::vector<double> ref(out_size), mag(out_size);
    for (std::size_t o = 0; o < g.cout; ++o)
      for (std::size_t oy = 0; oy < oh; ++oy)
        for (std::size_t ox = 0; ox < ow; ++ox) {
          double sum = bias[o], abs_sum = std::fabs(bias[o]);
          for (std::size_t ci = 0; ci < cin_g; ++ci)
            for (std::size_t ky = 0; ky < w.kh; ++ky)
              for (std::size_t kx = 0; kx < w.kw; ++kx) {
                const long y = long(oy * w.sh + ky * w.dh) - long(w.pt);
                const long xx = long(ox * w.sw + kx * w.dw) - long(w.pl);
                if (y < 0 || xx < 0 || y >= long(g.h) || xx >= long(g.w)) continue;
                const std::size_t c = (o / cout_g) * cin_g + ci;
                const double term = double(weights[(o * cin_g + ci) * taps + ky * w.kw + kx]) *
                                    double(x[(c * g.h + std::size_t(y)) * g.w + std::size_t(xx)]);
                sum += term;
                abs_sum += std::fabs(term);
              }
          ref[(o * oh + oy) * ow + ox] = sum;
          mag[(o * oh + oy) * ow + ox] = abs_sum;
        }
    for (const auto* table : pathwise::kernels::available()) {
      const std::vector<float> packed = pathwise::ops::pack_conv_weights(layer, table->conv_rows);
      std::vector<float> first, y(out_size), plain(out_size);
      std::vector<std::size_t> offsets;
      for (std::size_t threads : {1, 2, 3}) {
        std::fill(y.begin(), y.end(), 7.0f);
        pathwise::ops::conv_forward_direct(layer, *table, packed.data(), x.data(), y.data(), true, offsets,
                                           threads);
        if (first.empty()) first = y;
        check_core(y == first, "direct conv: same bits for every thread count", double(threads), double(trial));
      }
      // The ReLU fused into the copy-out: the gate applied to the same bits.
      std::vector<float> rectified(out_size);
      pathwise::ops::conv_forward_direct(layer, *table, packed.data(), x.data(), rectified.data(), true, offsets, 0,
                                         /*relu=*/true);
      for (std::size_t q = 0; q < out_size; ++q)
        check_core(rectified[q] == (first[q] > 0.0f ? first[q] : 0.0f), "direct conv: fused ReLU", rectified[q],
                   first[q]);
      // An Add fused too: (conv + bias) + residual, then the gate, each rounded as unfused.
      std::vector<float> residual(out_size), added(out_size);
      for (auto& v : residual) v = gauss(rng);
      for (bool relu : {false, true}) {
        pathwise::ops::conv_forward_direct(layer, *table, packed.data(), x.data(), added.data(), true, offsets, 0, relu,
                                           residual.data());
        for (std::size_t q = 0; q < out_size; ++q) {
          const float z = first[q] + residual[q];
          check_core(added[q] == (relu ? (z > 0.0f ? z : 0.0f) : z), "direct conv: fused Add (and ReLU)", added[q], z);
        }
      }
      for (std::size_t q = 0; q < out_size; ++q)
        check_core(std::fabs(first[q] - ref[q]) <= 1e-5 * mag[q] + 1e-6, "direct conv vs float64", first[q], ref[q]);
      pathwise::ops::conv_forward_direct(layer, *table, packed.data(), x.data(), plain.data(), false, offsets);
      for (std::size_t q = 0; q < out_size; ++q)
        check_core(std::fabs(plain[q] + bias[q / (oh * ow)] - ref[q]) <= 1e-5 * mag[q] + 1e-6,
                   "direct conv without bias vs float64", plain[q] + bias[q / (oh * ow)], ref[q]);
    }
    // The active table through conv_forward: a batch of three gives example 1 the bits it gets alone.
    std::vector<float> batch(3 * out_size), alone(out_size);
    pathwise::ops::conv_forward(layer, x.data(), 3, batch.data());
    pathwise::ops::conv_forward(layer, x.data() + in_size, 1, alone.data());
    check_core(std::equal(alone.begin(), alone.end(), batch.begin() + long(out_size)),
               "direct conv: an example's bits do not depend on its batch", double(trial), 0);
    // conv_forward with the Add and ReLU fused, on every path it takes (direct, sparse, im2col):
    // the unfused layers' bits.
    std::vector<float> residual(3 * out_size), fused(3 * out_size);
    for (auto& v : residual) v = gauss(rng);
    std::fill(x.begin() + long(2 * in_size), x.end(), 0.0f);  // example 2 all zero: the sparse path
    pathwise::ops::conv_forward(layer, x.data(), 3, batch.data());
    pathwise::ops::conv_forward(layer, x.data(), 3, fused.data(), true, true, residual.data());
    bool fused_same = true;
    for (std::size_t q = 0; q < 3 * out_size; ++q) {
      const float z = batch[q] + residual[q];
      fused_same = fused_same && fused[q] == (z > 0.0f ? z : 0.0f);
    }
    check_core(fused_same, "conv_forward: Add and ReLU fused give the unfused bits", double(trial), 0);
  }
  // Max pooling runs on the pool above 2^16 outputs, planes split across tasks: the same values and
  // winners as serially, padded (ResNet's 3 × 3 stride 2) and unpadded (VGG's 2 × 2).
  for (int padded = 0; padded < 2; ++padded) {
    pathwise::LayerDesc pool, relu, dense;
    pool.kind = pathwise::LayerKind::MaxPool;
    pool.in_shape = {32, 64, 64};
    pool.window.kh = pool.window.kw = padded ? 3 : 2;
    pool.window.sh = pool.window.sw = 2;
    if (padded) pool.window.pt = pool.window.pl = pool.window.pb = pool.window.pr = 1;
    dense.kind = pathwise::LayerKind::Dense;
    dense.in_shape = {32 * 32 * 32, 1, 1};
    dense.out_features = 2;
    std::vector<float> dense_weights(dense.in_shape.c * 2, 0.5f);
    dense.weights = dense_weights.data();
    dense.weights_len = dense_weights.size();
    const pathwise::Network net = pathwise::Network::build({32, 64, 64}, {pool, relu, dense});
    const pathwise::Layer& layer = net.layers()[0];
    std::vector<float> x(2 * layer.in_size());
    for (auto& v : x) v = std::round(gauss(rng) * 4.0f);  // ties, so the first maximum must win
    std::vector<float> y1(2 * layer.out_size()), y3(y1.size());
    std::vector<std::int32_t> w1(y1.size()), w3(y1.size());
    pathwise::threads::set_pool_size(1);
    pathwise::ops::max_pool_forward(layer, x.data(), 2, y1.data(), w1.data());
    pathwise::threads::set_pool_size(3);
    pathwise::ops::max_pool_forward(layer, x.data(), 2, y3.data(), w3.data());
    check_core(y1 == y3 && w1 == w3, "max pool: same values and winners on 1 and 3 threads", double(padded), 0);
    // Against the plain scan: every tap with a bounds test, the first strict maximum wins.
    const pathwise::Window& pw = layer.window;
    bool same = true;
    for (std::size_t e = 0; e < 2; ++e)
      for (std::size_t c = 0; c < 32; ++c)
        for (std::size_t oy = 0; oy < 32; ++oy)
          for (std::size_t ox = 0; ox < 32; ++ox) {
            float best = 0.0f;
            long arg = -1;
            for (std::size_t ky = 0; ky < pw.kh; ++ky)
              for (std::size_t kx = 0; kx < pw.kw; ++kx) {
                const long yy = long(oy * pw.sh + ky) - long(pw.pt), xx = long(ox * pw.sw + kx) - long(pw.pl);
                if (yy < 0 || xx < 0 || yy >= 64 || xx >= 64) continue;
                const long at = long(c) * 64 * 64 + yy * 64 + xx;
                const float v = x[std::size_t(long(e) * 32 * 64 * 64 + at)];
                if (arg < 0 || v > best) best = v, arg = at;
              }
            const std::size_t o = ((e * 32 + c) * 32 + oy) * 32 + ox;
            same = same && y1[o] == best && w1[o] == std::int32_t(arg);
          }
    check_core(same, "max pool vs the plain scan", double(padded), 0);
    std::vector<float> y0(y1.size());
    pathwise::ops::max_pool_forward(layer, x.data(), 2, y0.data(), nullptr);
    check_core(y0 == y1, "max pool without winners: the same values", double(padded), 0);
  }
  pathwise::threads::set_pool_size(saved);
}
