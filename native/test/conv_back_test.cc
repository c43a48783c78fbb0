// The direct conv VJP (vjp/conv_back_direct.h: the transposed conv through the forward's direct
// kernel, by stride phase) of every kernel table against float64 loops, on random geometry: kernel
// sizes 1–3, strides 1–3, pads up to the kernel's extent and past it, dilation, groups up to depthwise,
// channel counts across the tables' panel heights and sizes across their tiles; the same bits for
// every thread count; and through sweep_back, a row's bits do not depend on the batch, and a
// target another consumer already wrote receives the sum. Part of pathwise_core_test.
#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "../core/ir/network.h"
#include "conv_geometry.h"
#include "../core/kernels/kernels.h"
#include "../core/threads/pool.h"
#include "../core/vjp/conv_back_direct.h"
#include "../core/vjp/vjp.h"

void check_core(bool ok, const char* what, double a, double b);  // core_test.cc

namespace {

using BackGeometry = pathwise_test::ConvGeometry;

BackGeometry random_back_geometry(std::mt19937& rng, int trial) {
  BackGeometry g;
  pathwise::Window& w = g.window;
  const int kind = trial % 4;  // 0: plain, 1: two groups, 2: depthwise, 3: wide channels
  g.groups = kind == 1 ? 2 : 1;
  const std::size_t cin_g = kind == 3 ? 9 + rng() % 24 : 1 + rng() % 6;
  g.cin = g.groups * cin_g;
  if (kind == 2) {
    g.cin = 1 + rng() % 9;
    g.groups = g.cin;
  }
  g.cout = g.groups * (kind == 2 ? 1 + rng() % 2 : 1 + rng() % 20);
  w.kh = 1 + rng() % 3;
  w.kw = 1 + rng() % 3;
  w.dh = 1 + rng() % 2;
  w.dw = 1 + rng() % 2;
  w.sh = trial % 3 == 0 ? 1 : 1 + rng() % 3;
  w.sw = trial % 3 == 0 ? 1 : 1 + rng() % 3;
  // Pads mostly up to the extent (k − 1)·d (beyond it on top or left the transpose would need
  // negative pads: those layers keep im2col), sometimes one past it.
  const std::size_t eh = (w.kh - 1) * w.dh, ew = (w.kw - 1) * w.dw;
  w.pt = rng() % (eh + 1 + (trial % 7 == 0));
  w.pb = rng() % (eh + 2);
  w.pl = rng() % (ew + 1 + (trial % 7 == 0));
  w.pr = rng() % (ew + 2);
  if (w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1) w.kw = 2, w.pl = 1;  // an unpadded 1 × 1 conv's VJP is one GEMM
  g.h = 2 + rng() % (trial % 5 == 0 ? 40 : 12);
  g.w = 2 + rng() % (trial % 5 == 0 ? 40 : 12);
  g.h = std::max(g.h, (w.kh - 1) * w.dh + 1);
  g.w = std::max(g.w, (w.kw - 1) * w.dw + 1);
  return g;
}

// Rows dy (rows × out_size) at the conv's output pulled back to the input; `prior` (when not
// empty) is already in the input's cotangent, as another consumer would have left it.
std::vector<float> sweep_conv(const pathwise::Network& net, std::size_t rows, const std::vector<float>& dy,
                              const std::vector<float>& prior) {
  pathwise::Frozen frozen;
  frozen.gates.assign(net.layers().size(), nullptr);
  frozen.winners.assign(net.layers().size(), nullptr);
  pathwise::Sweep sweep;
  sweep.reset(net, rows, 1);
  sweep.cot[0] = dy;
  sweep.input_cot = prior;
  pathwise::sweep_back(net, frozen, sweep, 0, 1);
  return sweep.input_cot;
}

}  // namespace

void test_conv_back_direct() {
  std::mt19937 rng(29);
  std::normal_distribution<float> gauss(0.f, 1.f);
  const std::size_t saved = pathwise::threads::pool_size();
  pathwise::threads::set_pool_size(3);
  int fitting = 0;
  for (int trial = 0; trial < 72; ++trial) {
    BackGeometry g = random_back_geometry(rng, trial);
    if (trial >= 70) g = {1, 40, 48, 36, 36, {}};  // above the 32 MFLOP thread threshold: really split
    if (trial >= 70) g.window.kh = g.window.kw = 3, g.window.pt = g.window.pl = g.window.pb = g.window.pr = 1;
    if (trial == 71) g.window.sh = g.window.sw = 2;
    const pathwise::Window& w = g.window;
    const std::size_t cin_g = g.cin / g.groups, cout_g = g.cout / g.groups, taps = w.kh * w.kw;
    std::vector<float> weights(g.cout * cin_g * taps), dense_weights;
    for (auto& v : weights) v = gauss(rng);
    std::size_t oh = 0, ow = 0;
    const pathwise::Network net = pathwise_test::conv_net(g, weights, {}, dense_weights, oh, ow);
    const pathwise::Layer& layer = net.layers()[0];
    const std::size_t eh = (w.kh - 1) * w.dh, ew = (w.kw - 1) * w.dw;
    if (w.sh == 1 && w.sw == 1 && w.pt <= eh && w.pl <= ew)
      check_core(pathwise::ops::conv_back_direct_fits(layer), "stride-1 geometry within the extent fits", double(trial), 0);
    if (pathwise::ops::conv_back_direct_fits(layer)) ++fitting;
    check_core(pathwise::ops::conv_back_direct_applies(layer) == bool(layer.back_packed),
               "a back-packing slot at build iff the direct VJP applies", double(trial), 0);
    const std::size_t in_size = g.cin * g.h * g.w, out_size = g.cout * oh * ow;
    std::vector<float> dy(3 * out_size);
    for (auto& v : dy) v = gauss(rng);
    // float64 reference of row 0: dx[c, y, x] = Σ over outputs (o, oy, ox) whose tap reads (y, x).
    std::vector<double> ref(in_size, 0.0), mag(in_size, 0.0);
    for (std::size_t o = 0; o < g.cout; ++o)
      for (std::size_t oy = 0; oy < oh; ++oy)
        for (std::size_t ox = 0; ox < ow; ++ox)
          for (std::size_t ci = 0; ci < cin_g; ++ci)
            for (std::size_t ky = 0; ky < w.kh; ++ky)
              for (std::size_t kx = 0; kx < w.kw; ++kx) {
                const long y = long(oy * w.sh + ky * w.dh) - long(w.pt), x = long(ox * w.sw + kx * w.dw) - long(w.pl);
                if (y < 0 || x < 0 || y >= long(g.h) || x >= long(g.w)) continue;
                const std::size_t c = (o / cout_g) * cin_g + ci, q = (c * g.h + std::size_t(y)) * g.w + std::size_t(x);
                const double term = double(weights[(o * cin_g + ci) * taps + ky * w.kw + kx]) *
                                    double(dy[(o * oh + oy) * ow + ox]);
                ref[q] += term;
                mag[q] += std::fabs(term);
              }
    for (const auto* table : pathwise::kernels::available()) {
      if (!pathwise::ops::conv_back_direct_fits(layer)) break;
      pathwise::ConvBackPacked packed;
      packed.rows = table->conv_rows;
      packed.phases = pathwise::ops::conv_back_phases(layer, table->conv_rows);
      std::vector<float> first, dx(in_size), scratch;
      std::vector<std::size_t> offsets;
      for (std::size_t threads : {1, 2, 3}) {
        std::fill(dx.begin(), dx.end(), 7.0f);  // stored over: every value belongs to one phase
        pathwise::ops::conv_back_direct(layer, *table, packed, dy.data(), dx.data(), false, scratch, offsets, threads);
        if (first.empty()) first = dx;
        check_core(dx == first, "direct conv VJP: same bits for every thread count", double(threads), double(trial));
      }
      for (std::size_t q = 0; q < in_size; ++q)
        check_core(std::fabs(first[q] - ref[q]) <= 1e-5 * mag[q] + 1e-6, "direct conv VJP vs float64", first[q], ref[q]);
      std::fill(dx.begin(), dx.end(), 0.5f);
      pathwise::ops::conv_back_direct(layer, *table, packed, dy.data(), dx.data(), true, scratch, offsets);
      for (std::size_t q = 0; q < in_size; ++q)
        check_core(dx[q] == 0.5f + first[q], "direct conv VJP accumulating adds its sum once", dx[q], 0.5f + first[q]);
    }
    // The active table through sweep_back: a row's bits alone and in a batch of three, and a
    // target already written by another consumer.
    const std::vector<float> batch = sweep_conv(net, 3, dy, {});
    const std::vector<float> alone = sweep_conv(net, 1, std::vector<float>(dy.begin() + long(out_size), dy.begin() + long(2 * out_size)), {});
    check_core(std::equal(alone.begin(), alone.end(), batch.begin() + long(in_size)),
               "conv VJP: a row's bits do not depend on its batch", double(trial), 0);
    for (std::size_t q = 0; q < in_size; ++q)
      check_core(std::fabs(batch[q] - ref[q]) <= 1e-5 * mag[q] + 1e-6, "conv VJP (sweep) vs float64", batch[q], ref[q]);
    std::vector<float> prior(in_size);
    for (auto& v : prior) v = gauss(rng);
    const std::vector<float> summed = sweep_conv(net, 1, std::vector<float>(dy.begin() + long(out_size), dy.begin() + long(2 * out_size)), prior);
    const bool direct = bool(layer.back_packed);  // im2col adds tap by tap: other roundings
    for (std::size_t q = 0; q < in_size; ++q)
      check_core(direct ? summed[q] == prior[q] + alone[q] : std::fabs(summed[q] - (prior[q] + alone[q])) <= 1e-5 * (mag[q] + std::fabs(prior[q])) + 1e-6,
                 "conv VJP into a written target adds", summed[q], prior[q] + alone[q]);
  }
  check_core(fitting >= 30, "half the random geometries take the direct VJP", double(fitting), 30);
  pathwise::threads::set_pool_size(saved);
}
