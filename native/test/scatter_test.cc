// The conv VJP of rows that share their kept units (vjp/conv_back_sparse.cc: conv_back_kept, the
// kernel tables' conv_scatter) against the per-row scalar scatter conv_back_sparse_row, bit for
// bit (±0 included; NaN matches NaN), for every kernel table and thread count: random
// geometry (kernel sizes 1–3, strides, dilation, asymmetric pads, groups up to depthwise), kept
// units with windows in the padding, rows per example on both sides of the tables' lane counts,
// rows with ±0, ±inf and NaN at kept units, targets holding ±0, NaN and other values (added to) or
// garbage (fresh: written, not read). Part of pathwise_core_test.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "../core/ir/network.h"
#include "../core/kernels/kernels.h"
#include "../core/threads/pool.h"
#include "../core/vjp/conv_back_sparse.h"

void check_core(bool ok, const char* what, double a, double b);  // core_test.cc

namespace {

pathwise::Layer random_conv(std::mt19937& rng, int trial) {
  std::normal_distribution<float> g(0.f, 1.f);
  pathwise::Layer layer;
  layer.kind = pathwise::LayerKind::Conv;
  pathwise::Window& w = layer.window;
  const int kind = trial % 4;  // 0: plain, 1: two groups, 2: depthwise, 3: resnet-like 3 × 3 on 7 × 7
  layer.groups = kind == 1 ? 2 : 1;
  std::size_t cin = layer.groups * (1 + rng() % 6), cout = layer.groups * (1 + rng() % 12);
  if (kind == 2) {
    cin = cout = 1 + rng() % 9;
    layer.groups = cin;
  }
  w.kh = 1 + rng() % 3;
  w.kw = 1 + rng() % 3;
  w.sh = 1 + rng() % 3;
  w.sw = 1 + rng() % 3;
  w.dh = 1 + rng() % 2;
  w.dw = 1 + rng() % 2;
  w.pt = rng() % 3;
  w.pl = rng() % 3;
  w.pb = rng() % 3;
  w.pr = rng() % 3;
  std::size_t h = 2 + rng() % 12, wd = 2 + rng() % 12;
  if (kind == 3) {
    cin = 8 + rng() % 40;
    cout = 8 + rng() % 40;
    w = pathwise::Window{};
    w.kh = w.kw = 3;
    w.pt = w.pl = w.pb = w.pr = 1;
    h = wd = 7;
  }
  h = std::max(h, (w.kh - 1) * w.dh + 1);
  wd = std::max(wd, (w.kw - 1) * w.dw + 1);
  layer.in_shape = {cin, h, wd};
  layer.out_shape = {cout, (h + w.pt + w.pb - (w.kh - 1) * w.dh - 1) / w.sh + 1,
                     (wd + w.pl + w.pr - (w.kw - 1) * w.dw - 1) / w.sw + 1};
  layer.weights.resize(cout * (cin / layer.groups) * w.kh * w.kw);
  for (auto& v : layer.weights) v = g(rng);
  return layer;
}

// Every bit of every value, ±0 included; a NaN matches any NaN. (Which NaN a sum of two NaNs gives
// follows the order of the machine instruction's operands, which the compiler picks for the
// scalar code: the -O1 sanitizer build and the -O3 build differ there.)
bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (!(std::isnan(a[i]) && std::isnan(b[i])) && std::memcmp(&a[i], &b[i], sizeof(float)) != 0) return false;
  return true;
}

}  // namespace

void test_conv_scatter() {
  std::mt19937 rng(23);
  std::normal_distribution<float> g(0.f, 1.f);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const std::size_t saved = pathwise::threads::pool_size();
  std::size_t blocked = 0, cases = 0;
  for (int trial = 0; trial < 48; ++trial) {
    const pathwise::Layer layer = random_conv(rng, trial);
    const std::size_t in = layer.in_size(), out = layer.out_size();
    const std::size_t per_choices[] = {1, 3, 4, 7, 8, 9, 16, 17, 31, 32, 33, 70};
    const std::size_t per = per_choices[rng() % 12], examples = 1 + rng() % 2, rows = per * examples;
    // Kept units per example: a few, or many (up to every unit), ascending.
    std::vector<std::vector<std::uint32_t>> kept(examples);
    for (auto& units : kept) {
      const std::size_t want = rng() % 3 == 0 ? out : 1 + rng() % std::max<std::size_t>(1, out / 3);
      for (std::uint32_t q = 0; q < out; ++q)
        if (rng() % out < want) units.push_back(q);
    }
    std::vector<float> dy(rows * out, 0.0f);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::uint32_t q : kept[r / per]) {
        const unsigned pick = rng() % 64;
        dy[r * out + q] = pick == 0 ? 0.0f : pick == 1 ? -0.0f : pick == 2 ? inf : pick == 3 ? -inf : pick == 4 ? nan : g(rng);
      }
    std::vector<float> start(rows * in);
    for (auto& v : start) {
      const unsigned pick = rng() % 16;
      v = pick == 0 ? 0.0f : pick == 1 ? -0.0f : pick == 2 ? nan : g(rng);
    }
    for (bool fresh : {false, true}) {
      // The reference: each row's nonzeros through the scalar scatter (a fresh target is +0 first).
      std::vector<float> expect = start;
      if (fresh) std::fill(expect.begin(), expect.end(), 0.0f);
      for (std::size_t r = 0; r < rows; ++r) {
        std::vector<std::uint32_t> nonzeros;
        for (std::uint32_t q : kept[r / per])
          if (dy[r * out + q] != 0.0f) nonzeros.push_back(q);
        pathwise::conv_back_sparse_row(layer, dy.data() + r * out, nonzeros, expect.data() + r * in);
      }
      for (const auto* table : pathwise::kernels::available())
        for (bool force : {false, true})
          for (std::size_t threads : {1, 2, 3}) {
            pathwise::threads::set_pool_size(threads);
            std::vector<float> got = start;
            if (fresh) std::fill(got.begin(), got.end(), nan);  // garbage: must be written, never read
            pathwise::ConvScatterScratch scratch;
            scratch.force_blocked = force;
            pathwise::conv_back_kept(layer, dy.data(), rows, per, kept, got.data(), fresh, scratch, table);
            check_core(same_bits(got, expect), "conv_back_kept: the bits of the per-row scatter", double(trial),
                       double(threads));
            blocked += scratch.blocked_examples;
            cases += examples;
          }
    }
  }
  pathwise::threads::set_pool_size(saved);
  // Over half the examples went through conv_scatter (all forced ones with a unit in the input, some
  // chosen), or the comparison would say little.
  check_core(blocked * 2 > cases, "conv_back_kept: conv_scatter was tested", double(blocked), double(cases));
}
