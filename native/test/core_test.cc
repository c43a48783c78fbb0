// Standalone tests of native/core, without Node: every kernel against a float64 reference, the
// width rule, and the completeness identity of explain() on random MLPs. Built by CMake with
// -DPATHWISE_NATIVE_TESTS=ON (CI runs it, sanitizer builds run it too). Exit code 0 = all passed.
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../core/forward/forward.h"
#include "../core/ir/network.h"
#include "../core/kernels/kernels.h"
#include "../core/path/explain.h"
#include "../core/path/select.h"
#include "../core/threads/pool.h"
#include "../core/util/error.h"
#include "../core/vjp/vjp.h"

namespace {

int failures = 0;
int checks = 0;

void check(bool ok, const char* what, double a = 0, double b = 0) {
  ++checks;
  if (!ok) {
    ++failures;
    std::printf("FAIL %s (%g vs %g)\n", what, a, b);
  }
}

}  // namespace

// watch_test.cc reports through the same counters.
void check_core(bool ok, const char* what, double a, double b) { check(ok, what, a, b); }
void test_watch();
void test_conv_direct();
void test_conv_back_direct();
void test_conv_scatter();
void test_block_cache();

namespace {

// C = (accumulate ? C0 : 0) + A·op(B) with leading dimensions wider than the matrices, against
// a float64 reference; shapes cross every register tile and cache block edge (MR up to 12, NR up
// to 32, KC 256, MC 96, NC 512 and the skinny blocks).
void test_kernels() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const std::size_t shapes[][3] = {{1, 1, 1},     {7, 33, 129},  {33, 7, 1},    {5, 65, 257},
                                   {129, 1, 33},  {10, 784, 256}, {13, 31, 17}, {12, 32, 256},
                                   {97, 530, 300}, {10, 1100, 520}, {200, 70, 700}, {3, 2049, 65},
                                   {1, 1100, 300}, {2, 530, 257}};
  for (const auto* table : pathwise::kernels::available()) {
    for (bool trans : {false, true}) {
      for (bool accumulate : {false, true}) {
        for (const auto& s : shapes) {
          const std::size_t m = s[0], n = s[1], k = s[2];
          const std::size_t lda = k + 3, ldb = (trans ? k : n) + 5, ldc = n + 2;
          std::vector<float> a(m * lda), b((trans ? n : k) * ldb), c(m * ldc);
          for (auto& v : a) v = u(rng);
          for (auto& v : b) v = u(rng);
          for (auto& v : c) v = u(rng);
          const std::vector<float> c0 = c;
          (trans ? table->gemm_nt : table->gemm_nn)(m, n, k, a.data(), lda, b.data(), ldb, c.data(),
                                                    ldc, accumulate);
          double worst = 0;
          bool pad_kept = true;
          for (std::size_t i = 0; i < m; ++i) {
            for (std::size_t j = 0; j < n; ++j) {
              double ref = accumulate ? c0[i * ldc + j] : 0.0;
              for (std::size_t p = 0; p < k; ++p)
                ref += double(a[i * lda + p]) * (trans ? b[j * ldb + p] : b[p * ldb + j]);
              worst = std::max(worst, std::fabs(ref - c[i * ldc + j]));
            }
            for (std::size_t j = n; j < ldc; ++j) pad_kept &= c[i * ldc + j] == c0[i * ldc + j];
          }
          check(worst <= 6e-8 * double(k * k) + 1e-5, table->name, worst, 0);
          check(pad_kept, "columns past n are not written");
        }
      }
    }
  }
}

// Every thread count gives the same bits (each C element is computed by one thread in a fixed
// order), including products big enough to be split and ones split by rows.
void test_kernels_threads() {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  // All above the x86 kernels' 32 MFLOP threshold, so they really are split.
  const std::size_t shapes[][3] = {{10, 4096, 512}, {300, 200, 500}, {257, 513, 129}, {640, 784, 256}};
  const std::size_t saved = pathwise::threads::pool_size();
  pathwise::threads::set_pool_size(4);
  for (const auto* table : pathwise::kernels::available()) {
    for (bool trans : {false, true}) {
      for (const auto& s : shapes) {
        const std::size_t m = s[0], n = s[1], k = s[2];
        std::vector<float> a(m * k), b(k * n);
        for (auto& v : a) v = u(rng);
        for (auto& v : b) v = u(rng);
        std::vector<float> first;
        for (std::size_t t : {1, 2, 3, 4}) {
          std::vector<float> c(m * n, 9.f);
          (trans ? table->gemm_nt_threads : table->gemm_nn_threads)(
              m, n, k, a.data(), k, b.data(), trans ? k : n, c.data(), n, false, t);
          if (first.empty()) first = c;
          check(c == first, "same bits for every thread count", double(t), 1);
        }
      }
    }
  }
  pathwise::threads::set_pool_size(saved);
}

// A row of C has the same bits whatever m is (the direct small-m path and the packed path do the
// same arithmetic per element), so an explanation in a batch equals the same one alone.
void test_kernels_rows_independent_of_m() {
  std::mt19937 rng(13);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const std::size_t n = 300, k = 700;
  for (const auto* table : pathwise::kernels::available()) {
    for (bool trans : {false, true}) {
      for (std::size_t m : {1, 5, 12, 13, 24, 25, 100}) {
        std::vector<float> a(m * k), b(k * n), c(m * n), row(n);
        for (auto& v : a) v = u(rng);
        for (auto& v : b) v = u(rng);
        (trans ? table->gemm_nt : table->gemm_nn)(m, n, k, a.data(), k, b.data(), trans ? k : n, c.data(), n, false);
        bool same = true;
        for (std::size_t i = 0; i < m; i += 4) {
          (trans ? table->gemm_nt : table->gemm_nn)(1, n, k, a.data() + i * k, k, b.data(), trans ? k : n, row.data(), n, false);
          for (std::size_t j = 0; j < n; ++j) same &= row[j] == c[i * n + j];
        }
        check(same, "a row of C does not depend on m", double(m), 0);
      }
    }
  }
}

void test_pool() {
  namespace th = pathwise::threads;
  const std::size_t saved = th::pool_size();
  th::set_pool_size(3);
  check(th::pool_size() == 3, "set_pool_size", double(th::pool_size()), 3);

  // Every task runs exactly once.
  std::vector<std::atomic<int>> hits(1000);
  th::parallel_for(hits.size(), 0, [](void* ctx, std::size_t t) {
    (*static_cast<std::vector<std::atomic<int>>*>(ctx))[t]++;
  }, &hits);
  bool once = true;
  for (auto& h : hits) once &= h.load() == 1;
  check(once, "each task runs once");

  // A region inside a task runs serially on that thread, in order, and does not deadlock.
  struct Nest {
    std::atomic<int> inner_ok{0};
  } nest;
  th::parallel_for(8, 0, [](void* ctx, std::size_t) {
    auto& n = *static_cast<Nest*>(ctx);
    struct Inner {
      std::vector<std::size_t> order;
    } inner;
    th::parallel_for(5, 0, [](void* c2, std::size_t t) {
      static_cast<Inner*>(c2)->order.push_back(t);
    }, &inner);
    if (inner.order == std::vector<std::size_t>{0, 1, 2, 3, 4} && th::in_parallel_region()) n.inner_ok++;
  }, &nest);
  check(nest.inner_ok.load() == 8, "nested regions run serially", nest.inner_ok.load(), 8);

  // Two threads opening regions at once share the pool (one waits); both complete correctly.
  std::atomic<long> total{0};
  auto region = [&total] {
    for (int r = 0; r < 200; ++r)
      th::parallel_for(16, 0, [](void* ctx, std::size_t t) {
        static_cast<std::atomic<long>*>(ctx)->fetch_add(long(t));
      }, &total);
  };
  std::thread t1(region), t2(region);
  t1.join();
  t2.join();
  check(total.load() == 2L * 200 * 120, "concurrent callers", double(total.load()), 2.0 * 200 * 120);

  // An exception in a task reaches the caller; the pool stays usable.
  bool caught = false;
  try {
    th::parallel_for(64, 0, [](void*, std::size_t t) {
      if (t == 17) throw std::runtime_error("task 17");
    }, nullptr);
  } catch (const std::runtime_error& e) {
    caught = std::string(e.what()) == "task 17";
  }
  check(caught, "task exception is rethrown on the caller");
  std::atomic<int> after{0};
  th::parallel_for(10, 0, [](void* ctx, std::size_t) { static_cast<std::atomic<int>*>(ctx)->fetch_add(1); }, &after);
  check(after.load() == 10, "pool usable after an exception", after.load(), 10);

  th::set_pool_size(saved);
}

void test_width_rule() {
  using pathwise::WidthRule;
  auto pct = [](double p, std::size_t n) { return pathwise::width_to_k({WidthRule::Mode::Percent, p}, n); };
  check(pct(25, 10) == 2, "25% of 10 -> 2 (2.5 half to even)", double(pct(25, 10)), 2);
  check(pct(35, 10) == 4, "35% of 10 -> 4", double(pct(35, 10)), 4);
  check(pct(1, 3) == 1, "1% of 3 -> 1", double(pct(1, 3)), 1);
  check(pct(75, 14) == 11, "75% of 14 -> 11 ((14/100)*75 = 10.500000000000002)", double(pct(75, 14)), 11);
  check(pathwise::width_to_k({WidthRule::Mode::Count, 99}, 10) == 10, "count capped at N");
}

// A conv layer description over borrowed weights and bias.
pathwise::LayerDesc conv_desc(pathwise::Shape in, std::size_t cout, const pathwise::Window& w, std::size_t groups,
                              const std::vector<float>& weights, const std::vector<float>& bias) {
  pathwise::LayerDesc conv;
  conv.kind = pathwise::LayerKind::Conv;
  conv.in_shape = in;
  conv.out_features = cout;
  conv.weights = weights.data();
  conv.weights_len = weights.size();
  conv.bias = bias.data();
  conv.bias_len = bias.size();
  conv.window = w;
  conv.groups = groups;
  return conv;
}

void test_completeness() {
  std::mt19937 rng(3);
  std::normal_distribution<float> g(0.f, 1.f);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<std::size_t> sizes = {std::size_t(1 + rng() % 30)};
    const int hidden = 1 + rng() % 4;
    for (int h = 0; h < hidden; ++h) sizes.push_back(1 + rng() % 40);
    sizes.push_back(2 + rng() % 10);
    std::vector<std::vector<float>> weights(sizes.size()), biases(sizes.size());
    std::vector<pathwise::LayerDesc> descs;
    for (std::size_t i = 0; i + 1 < sizes.size(); ++i) {
      weights[i].resize(sizes[i] * sizes[i + 1]);
      for (auto& w : weights[i]) w = g(rng) / std::sqrt(float(sizes[i]));
      biases[i].resize(sizes[i + 1]);
      for (auto& b : biases[i]) b = 0.1f * g(rng);
      pathwise::LayerDesc d;
      d.kind = pathwise::LayerKind::Dense;
      d.in_shape = {sizes[i], 1, 1};
      d.out_features = sizes[i + 1];
      d.weights = weights[i].data();
      d.weights_len = weights[i].size();
      d.bias = biases[i].data();
      d.bias_len = biases[i].size();
      descs.push_back(d);
      if (i + 2 < sizes.size()) {
        pathwise::LayerDesc relu;
        relu.kind = pathwise::LayerKind::Relu;
        descs.push_back(relu);
      }
    }
    const auto net = pathwise::Network::build({sizes[0], 1, 1}, descs);
    std::vector<float> x(sizes[0] * 3);
    for (auto& v : x) v = g(rng);
    pathwise::ExplainOptions opt;
    opt.width = {pathwise::WidthRule::Mode::Count, double(1 + rng() % 8)};
    const auto results = pathwise::explain(net, x.data(), 3, opt);
    for (const auto& r : results) {
      double abs_sum = std::fabs(r.bias);
      for (float a : r.attribution) abs_sum += std::fabs(a);
      check(std::fabs(r.residual) <= 1e-4 * abs_sum + 1e-7, "completeness", r.residual, abs_sum);
      for (const auto& l : r.layers) check(!l.selection.units.empty(), "non-empty selection");
    }
  }
}

// `rows` cotangent rows dy at layer `at`'s output pulled back to the network input (layers at and
// below; none of them a ReLU or MaxPool, so nothing is frozen), accumulating b_P into `bias`.
pathwise::Sweep sweep_to_input(const pathwise::Network& net, std::size_t at, std::size_t rows, const std::vector<float>& dy,
                               double* bias = nullptr) {
  pathwise::Frozen frozen;
  frozen.gates.assign(net.layers().size(), nullptr);
  frozen.winners.assign(net.layers().size(), nullptr);
  pathwise::Sweep sweep;
  sweep.reset(net, rows, 1);
  sweep.cot[at] = dy;
  pathwise::sweep_back(net, frozen, sweep, 0, at + 1, bias);
  return sweep;
}

// The sparse paths of conv and dense layers (inputs or cotangent rows with at most 1/32 nonzero)
// and the dense ones (GEMM, im2col, rows batched across a block) against float64 loops, on random
// geometry: strides, pads, dilation, groups; rows of both kinds mixed in one sweep.
void test_sparse_and_dense_layers() {
  std::mt19937 rng(11);
  std::normal_distribution<float> g(0.f, 1.f);
  for (int trial = 0; trial < 60; ++trial) {
    const std::size_t groups = 1 + rng() % 2, cin = groups * (1 + rng() % 4), cout = groups * (1 + rng() % 5);
    pathwise::Window w;
    w.kh = 1 + rng() % 3;
    w.kw = 1 + rng() % 3;
    w.sh = 1 + rng() % 2;
    w.sw = 1 + rng() % 2;
    w.dh = 1 + rng() % 2;
    w.dw = 1 + rng() % 2;
    w.pt = rng() % 2;
    w.pl = rng() % 2;
    w.pb = rng() % 2;
    w.pr = rng() % 2;
    const std::size_t h = 6 + rng() % 10, wd = 6 + rng() % 10;
    const std::size_t k = (cin / groups) * w.kh * w.kw;
    std::vector<float> weights(cout * k), bias(cout);
    for (auto& v : weights) v = g(rng);
    for (auto& v : bias) v = g(rng);
    const pathwise::LayerDesc conv = conv_desc({cin, h, wd}, cout, w, groups, weights, bias);
    pathwise::LayerDesc relu, dense;
    dense.kind = pathwise::LayerKind::Dense;
    const std::size_t oh = (h + w.pt + w.pb - (w.kh - 1) * w.dh - 1) / w.sh + 1;
    const std::size_t ow = (wd + w.pl + w.pr - (w.kw - 1) * w.dw - 1) / w.sw + 1;
    const std::size_t in_size = cin * h * wd, out_size = cout * oh * ow;
    std::vector<float> dw(out_size * 2);
    for (auto& v : dw) v = g(rng);
    dense.in_shape = {out_size, 1, 1};
    dense.out_features = 2;
    dense.weights = dw.data();
    dense.weights_len = dw.size();
    const auto net = pathwise::Network::build({cin, h, wd}, {conv, relu, dense});
    const pathwise::Layer& layer = net.layers()[0];
    // Tap (o, oy, ox) ← (i, y, x) of the same group, for both references.
    const auto each_tap = [&](auto&& f) {
      for (std::size_t o = 0; o < cout; ++o)
        for (std::size_t oy = 0; oy < oh; ++oy)
          for (std::size_t ox = 0; ox < ow; ++ox)
            for (std::size_t ci = 0; ci < cin / groups; ++ci)
              for (std::size_t ky = 0; ky < w.kh; ++ky)
                for (std::size_t kx = 0; kx < w.kw; ++kx) {
                  const long y = long(oy * w.sh + ky * w.dh) - long(w.pt), x = long(ox * w.sw + kx * w.dw) - long(w.pl);
                  if (y < 0 || x < 0 || y >= long(h) || x >= long(wd)) continue;
                  const std::size_t i = (o / (cout / groups)) * (cin / groups) + ci;
                  f((o * oh + oy) * ow + ox, (i * h + std::size_t(y)) * wd + std::size_t(x),
                    double(weights[(o * (cin / groups) + ci) * w.kh * w.kw + ky * w.kw + kx]));
                }
    };
    // Four examples / rows: sparse (1/64), dense, dense, all zero (two dense rows share a block).
    const auto fill = [&](std::vector<float>& v, std::size_t size) {
      v.assign(4 * size, 0.0f);
      for (std::size_t q = 0; q < size / 64 + 1; ++q) v[rng() % size] = g(rng);
      for (std::size_t q = size; q < 3 * size; ++q) v[q] = g(rng);
    };
    std::vector<float> x, y(4 * out_size);
    fill(x, in_size);
    pathwise::ops::conv_forward(layer, x.data(), 4, y.data());
    for (std::size_t e = 0; e < 4; ++e) {
      std::vector<double> ref(out_size);
      for (std::size_t o = 0; o < out_size; ++o) ref[o] = bias[o / (oh * ow)];
      each_tap([&](std::size_t out, std::size_t in, double wt) { ref[out] += wt * x[e * in_size + in]; });
      for (std::size_t o = 0; o < out_size; ++o)
        check(std::fabs(y[e * out_size + o] - ref[o]) <= 1e-4 * (1 + std::fabs(ref[o])), "conv forward (sparse/dense)",
              y[e * out_size + o], ref[o]);
    }
    // The VJP of the conv layer alone for the same three kinds of rows.
    std::vector<float> dy;
    fill(dy, out_size);
    const pathwise::Sweep sweep = sweep_to_input(net, 0, 4, dy);
    for (std::size_t r = 0; r < 4; ++r) {
      std::vector<double> ref(in_size, 0.0);
      each_tap([&](std::size_t out, std::size_t in, double wt) { ref[in] += wt * dy[r * out_size + out]; });
      for (std::size_t i = 0; i < in_size; ++i)
        check(std::fabs(sweep.input_cot[r * in_size + i] - ref[i]) <= 1e-4 * (1 + std::fabs(ref[i])),
              "conv VJP (sparse/dense rows)", sweep.input_cot[r * in_size + i], ref[i]);
    }
    // The dense layer's forward, sparse and dense examples.
    std::vector<float> z, out(4 * 2);
    fill(z, out_size);
    pathwise::ops::dense_forward(net.layers()[2], z.data(), 4, out.data());
    for (std::size_t e = 0; e < 4; ++e)
      for (std::size_t o = 0; o < 2; ++o) {
        double ref = 0;
        for (std::size_t i = 0; i < out_size; ++i) ref += double(dw[o * out_size + i]) * z[e * out_size + i];
        check(std::fabs(out[e * 2 + o] - ref) <= 1e-4 * (1 + std::fabs(ref)), "dense forward (sparse/dense)", out[e * 2 + o], ref);
      }
  }
}

// A dense layer's VJP: rows of δ_out with at most out/8 nonzeros scatter their weight rows, the
// others go through the GEMM in runs (vjp.cc dense_back); both against a float64 loop, rows of
// both kinds interleaved so that a run is flushed between sparse rows.
void test_dense_vjp_sparse_rows() {
  std::mt19937 rng(17);
  std::normal_distribution<float> g(0.f, 1.f);
  for (int trial = 0; trial < 20; ++trial) {
    const std::size_t in = 1 + rng() % 70, out = 8 + rng() % 90, rows = 7;
    std::vector<float> weights(out * in);
    for (auto& v : weights) v = g(rng);
    pathwise::LayerDesc dense;
    dense.kind = pathwise::LayerKind::Dense;
    dense.in_shape = {in, 1, 1};
    dense.out_features = out;
    dense.weights = weights.data();
    dense.weights_len = weights.size();
    // (A network needs a gate and a dense head of at least 2 classes; only layer 0 is swept.)
    std::vector<float> head(2 * out, 0.5f);
    pathwise::LayerDesc classes;
    classes.kind = pathwise::LayerKind::Dense;
    classes.in_shape = {out, 1, 1};
    classes.out_features = 2;
    classes.weights = head.data();
    classes.weights_len = head.size();
    const auto net = pathwise::Network::build({in, 1, 1}, {dense, pathwise::LayerDesc{}, classes});
    // Rows: sparse (out/8 nonzeros, the most the scatter takes), dense, dense, zero, sparse (one
    // nonzero), one over the limit (out/8 + 1 nonzeros: the GEMM), sparse.
    std::vector<float> dy(rows * out, 0.0f);
    const std::size_t counts[rows] = {out / 8, out, out, 0, 1, out / 8 + 1, out / 8};
    for (std::size_t r = 0; r < rows; ++r) {
      std::vector<std::size_t> positions(out);
      for (std::size_t j = 0; j < out; ++j) positions[j] = j;
      std::shuffle(positions.begin(), positions.end(), rng);
      for (std::size_t q = 0; q < counts[r]; ++q) dy[r * out + positions[q]] = g(rng) + (g(rng) > 0 ? 3.0f : -3.0f);
    }
    const pathwise::Sweep sweep = sweep_to_input(net, 0, rows, dy);
    for (std::size_t r = 0; r < rows; ++r)
      for (std::size_t i = 0; i < in; ++i) {
        double ref = 0;
        for (std::size_t j = 0; j < out; ++j) ref += double(dy[r * out + j]) * double(weights[j * in + i]);
        check(std::fabs(sweep.input_cot[r * in + i] - ref) <= 1e-4 * (1 + std::fabs(ref)), "dense VJP (sparse/dense rows)",
              sweep.input_cot[r * in + i], ref);
      }
  }
}

// Gather (a map with repeats and -1 = fill) and Concat (the input read twice through the gather,
// once directly) against loops: forward values, and the VJP of dense and sparse cotangent rows with
// the fill's bias term Σ_{map[o] < 0} δ[o] · fill.
void test_gather_concat() {
  std::mt19937 rng(21);
  std::normal_distribution<float> g(0.f, 1.f);
  for (int trial = 0; trial < 40; ++trial) {
    const pathwise::Shape in_shape{1 + rng() % 3, 1 + rng() % 5, 1 + rng() % 5};
    const std::size_t d = in_shape.size();
    pathwise::LayerDesc gather, concat, relu, dense;
    gather.kind = pathwise::LayerKind::Gather;
    gather.in_shape = in_shape;
    gather.out_shape = {1 + rng() % 4, 1 + rng() % 4, 1 + rng() % 4};
    for (std::size_t o = 0; o < gather.out_shape.size(); ++o)
      gather.map.push_back(rng() % 4 == 0 ? -1 : std::int32_t(rng() % d));
    gather.fill = g(rng);
    const std::size_t m = gather.out_shape.size(), width = 2 * m + d;
    concat.kind = pathwise::LayerKind::Concat;
    concat.inputs = {0, -1, 0};
    std::vector<float> dw(2 * width);
    for (auto& v : dw) v = g(rng);
    dense.kind = pathwise::LayerKind::Dense;
    dense.in_shape = {width, 1, 1};
    dense.out_features = 2;
    dense.weights = dw.data();
    dense.weights_len = dw.size();
    const auto net = pathwise::Network::build(in_shape, {gather, concat, relu, dense});
    check(net.layers()[1].out_size() == width, "concat output size = sum of its inputs", double(net.layers()[1].out_size()), double(width));
    std::vector<float> x(3 * d);
    for (auto& v : x) v = g(rng);
    pathwise::Activations act;
    pathwise::forward_original(net, x.data(), 3, act);
    const auto gathered = [&](const float* xe, std::size_t o) { return gather.map[o] >= 0 ? xe[gather.map[o]] : gather.fill; };
    for (std::size_t e = 0; e < 3; ++e) {
      const float* xe = x.data() + e * d;
      const float* ye = act.values[1].data() + e * width;
      bool same = true;
      for (std::size_t o = 0; o < m; ++o)
        same = same && act.values[0][e * m + o] == gathered(xe, o) && ye[o] == gathered(xe, o) && ye[m + d + o] == gathered(xe, o);
      for (std::size_t i = 0; i < d; ++i) same = same && ye[m + i] == xe[i];
      check(same, "gather and concat forward copy exactly");
    }
    // Cotangent rows at the concat's output: two dense, one sparse (a single nonzero).
    std::vector<float> dy(3 * width, 0.0f);
    for (std::size_t q = 0; q < 2 * width; ++q) dy[q] = g(rng);
    dy[2 * width + rng() % width] = 1.0f;
    std::vector<double> bias(3, 0.0);
    const pathwise::Sweep sweep = sweep_to_input(net, 1, 3, dy, bias.data());
    for (std::size_t r = 0; r < 3; ++r) {
      std::vector<double> ref(d, 0.0);
      double ref_bias = 0;
      const float* row = dy.data() + r * width;
      for (std::size_t i = 0; i < d; ++i) ref[i] += row[m + i];
      for (std::size_t o = 0; o < m; ++o) {
        const double both = double(row[o]) + double(row[m + d + o]);
        if (gather.map[o] >= 0) ref[std::size_t(gather.map[o])] += both;
        else ref_bias += both * gather.fill;
      }
      for (std::size_t i = 0; i < d; ++i)
        check(std::fabs(sweep.input_cot[r * d + i] - ref[i]) <= 1e-5 * (1 + std::fabs(ref[i])), "gather/concat VJP (scatter-add)",
              sweep.input_cot[r * d + i], ref[i]);
      check(std::fabs(bias[r] - ref_bias) <= 1e-5 * (1 + std::fabs(ref_bias)), "gather fill enters the bias", bias[r], ref_bias);
    }
    // Bad descriptions are model errors, caught before anything is sized from them.
    const auto rejects = [&](pathwise::LayerDesc bad, const char* what) {
      bool threw = false;
      try {
        pathwise::Network::build(in_shape, {bad, relu, dense});
      } catch (const pathwise::Error& e) {
        threw = e.kind() == pathwise::Error::Kind::Model;
      }
      check(threw, what);
    };
    pathwise::LayerDesc bad = gather;
    bad.map[0] = std::int32_t(d);
    rejects(bad, "a gather map entry past the input is a model error");
    bad = gather;
    bad.map[0] = -2;
    rejects(bad, "a gather map entry below -1 is a model error");
    bad = gather;
    bad.map.pop_back();
    rejects(bad, "a gather map of the wrong length is a model error");
    bad = gather;
    bad.fill = std::nanf("");
    rejects(bad, "a non-finite gather fill is a model error");
    bad = concat;
    bad.inputs = {-1};
    rejects(bad, "a concat of one input is a model error");
  }
}

void test_rejects_bad_models() {
  float w[4] = {1, 2, 3, 4};
  bool threw = false;
  try {
    pathwise::LayerDesc d;
    d.kind = pathwise::LayerKind::Dense;
    d.in_shape = {2, 1, 1};
    d.out_features = 2;
    d.weights = w;
    d.weights_len = 4;
    pathwise::Network::build({3, 1, 1}, {d});
  } catch (const pathwise::Error& e) {
    threw = e.kind() == pathwise::Error::Kind::Model;
  }
  check(threw, "dims that do not chain are a model error");
}

// A general gate (docs/semantics.md "Gates beyond ReLU") on conv → gate → dense: its forward
// (fused with the conv and not), the pieces s and c, its VJP with the constants' bias term, and
// completeness of both semantics, against float64 loops; bad parameters are model errors.
void test_gates() {
  std::mt19937 rng(23);
  std::normal_distribution<float> g(0.f, 1.f);
  for (int trial = 0; trial < 20; ++trial) {
    const std::size_t cin = 1 + rng() % 3, cout = 2 + rng() % 3, h = 4 + rng() % 4, wd = 4 + rng() % 4;
    pathwise::Window w;
    w.kh = w.kw = 3;
    w.pt = w.pl = w.pb = w.pr = 1;
    std::vector<float> weights(cout * cin * 9), bias(cout);
    for (auto& v : weights) v = g(rng);
    for (auto& v : bias) v = 0.5f * g(rng);
    const pathwise::LayerDesc conv = conv_desc({cin, h, wd}, cout, w, 1, weights, bias);
    pathwise::LayerDesc gate, dense;
    gate.kind = pathwise::LayerKind::Relu;
    gate.gate.lower = trial % 4 == 0 ? -std::numeric_limits<float>::infinity() : 0.5f * g(rng);
    gate.gate.upper = gate.gate.lower + (trial % 3 == 0 ? std::numeric_limits<float>::infinity() : 0.5f + std::fabs(g(rng)));
    if (!std::isfinite(gate.gate.upper)) gate.gate.upper = std::numeric_limits<float>::infinity();
    gate.gate.lower_value = trial % 2 ? 0.3f * g(rng) : (std::isfinite(gate.gate.lower) ? gate.gate.lower : 0.0f);
    gate.gate.slope.resize(trial % 2 ? cout : 1);
    for (auto& v : gate.gate.slope) v = 0.3f * g(rng);
    const std::size_t units = cout * h * wd;
    std::vector<float> dw(units * 3);
    for (auto& v : dw) v = g(rng) / std::sqrt(float(units));
    dense.kind = pathwise::LayerKind::Dense;
    dense.in_shape = {units, 1, 1};
    dense.out_features = 3;
    dense.weights = dw.data();
    dense.weights_len = dw.size();
    const auto net = pathwise::Network::build({cin, h, wd}, {conv, gate, dense});
    const pathwise::GateParams& p = net.layers()[1].gate;
    const std::size_t n = 2, d = cin * h * wd;
    std::vector<float> x(n * d);
    for (auto& v : x) v = 2.0f * g(rng);
    pathwise::Activations plain, fused;
    pathwise::forward_original(net, x.data(), n, plain);
    pathwise::forward_original(net, x.data(), n, fused, 3);
    check(plain.values[1] == fused.values[1] && plain.gates[1] == fused.gates[1] && plain.constants[1] == fused.constants[1],
          "gate fused with its conv = unfused");
    const std::vector<float>& z = plain.values[0];
    std::vector<double> cot_in(n * units);
    std::vector<float> delta(n * units);
    for (auto& v : delta) v = g(rng);
    double bias_ref[2] = {0, 0};
    for (std::size_t q = 0; q < n * units; ++q) {
      const double zq = z[q], slope = p.slope_of((q % units) / (h * wd));
      double y = zq, s = 1, c = 0;
      if (zq <= p.lower) y = slope * (zq - p.lower) + p.lower_value, s = slope, c = p.lower_value - slope * p.lower;
      else if (zq >= p.upper) y = p.upper, s = 0, c = p.upper;
      const float cq = plain.constants[1].empty() ? 0.0f : plain.constants[1][q];
      check(std::fabs(plain.values[1][q] - y) <= 1e-5 * (1 + std::fabs(y)), "gate forward", plain.values[1][q], y);
      check(plain.gates[1][q] == float(s) && std::fabs(cq - c) <= 1e-5 * (1 + std::fabs(c)), "gate piece", plain.gates[1][q], s);
      cot_in[q] = double(delta[q]) * s;
      bias_ref[q / units] += double(delta[q]) * c;
    }
    // The gate's VJP alone: δ ⊙ s below, ⟨δ, c⟩ into the bias.
    pathwise::Frozen frozen;
    frozen.gates = {nullptr, plain.gates[1].data(), nullptr};
    frozen.constants = {nullptr, plain.constants[1].empty() ? nullptr : plain.constants[1].data(), nullptr};
    frozen.winners.assign(3, nullptr);
    pathwise::Sweep sweep;
    sweep.reset(net, n, 1);
    sweep.cot[1] = delta;
    double bias_out[2] = {0, 0};
    pathwise::sweep_back(net, frozen, sweep, 1, 2, bias_out);
    for (std::size_t q = 0; q < n * units; ++q)
      check(std::fabs(sweep.cot[0][q] - cot_in[q]) <= 1e-6 * (1 + std::fabs(cot_in[q])), "gate VJP", sweep.cot[0][q], cot_in[q]);
    for (std::size_t e = 0; e < n; ++e)
      check(std::fabs(bias_out[e] - bias_ref[e]) <= 1e-4 * (1 + std::fabs(bias_ref[e])), "gate constants in the bias", bias_out[e], bias_ref[e]);
    for (auto semantics : {pathwise::Semantics::Official, pathwise::Semantics::Linear}) {
      pathwise::ExplainOptions opt;
      opt.semantics = semantics;
      opt.width = {pathwise::WidthRule::Mode::Count, double(1 + rng() % 8)};
      for (const auto& r : pathwise::explain(net, x.data(), n, opt)) {
        double abs_sum = std::fabs(r.bias);
        for (float a : r.attribution) abs_sum += std::fabs(a);
        check(std::fabs(r.residual) <= 1e-4 * abs_sum + 1e-6, "gate completeness", r.residual, abs_sum);
      }
    }
  }
  const auto rejects = [&](auto&& tweak, const char* what) {
    float w[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    pathwise::LayerDesc gate, dense;
    gate.kind = pathwise::LayerKind::Relu;
    tweak(gate.gate);
    dense.kind = pathwise::LayerKind::Dense;
    dense.in_shape = {4, 1, 1};
    dense.out_features = 2;
    dense.weights = w;
    dense.weights_len = 8;
    bool threw = false;
    try {
      pathwise::Network::build({4, 1, 1}, {gate, dense});
    } catch (const pathwise::Error& e) {
      threw = e.kind() == pathwise::Error::Kind::Model;
    }
    check(threw, what);
  };
  rejects([](pathwise::GateParams& p) { p.lower = 1, p.upper = 0; }, "gate lower > upper");
  rejects([](pathwise::GateParams& p) { p.slope = {0.1f, 0.2f}; }, "gate slope of neither 1 nor C values");
  rejects([](pathwise::GateParams& p) { p.slope = {std::nanf("")}; }, "gate slope NaN");
  rejects([](pathwise::GateParams& p) { p.lower_value = std::numeric_limits<float>::infinity(); }, "gate lower value infinite");
  rejects([](pathwise::GateParams& p) { p.lower = std::numeric_limits<float>::infinity(); }, "gate lower +inf");
}

// Two selections alike bit for bit: units, flags, k, borderline count and every score's bits.
bool same_selection(const pathwise::Selection& a, const pathwise::Selection& b) {
  if (!(a.units == b.units && a.fallback == b.fallback && a.k == b.k && a.borderline == b.borderline &&
        a.scores.size() == b.scores.size()))
    return false;
  for (std::size_t i = 0; i < a.scores.size(); ++i)
    if (std::memcmp(&a.scores[i], &b.scores[i], sizeof(float)) != 0) return false;
  return true;
}

// select_units' width-limited path (only the units that can reach the top k get their exps) against
// scoring every unit: the same units, scores, fallback and borderline count, bit for bit, over
// contributions small (scores just above 1/C), large (saturated at 1.0, ties ranked by index),
// mixed, with ties, all-equal columns, negative activations and non-finite values.
void test_select_top_k() {
  std::mt19937 rng(19);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_real_distribution<float> uniform(0.f, 1.f);
  int compared = 0, mismatched = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    const std::size_t classes = trial % 7 == 0 ? 2 : trial % 5 == 0 ? 100 : 10;
    const std::size_t units = 64 + std::size_t(rng() % 3000);
    const std::size_t stride = units + std::size_t(rng() % 5);
    const std::size_t target = std::size_t(rng() % classes);
    const float scales[] = {1e-3f, 0.02f, 0.3f, 3.f, 30.f, 300.f};
    const float scale = scales[trial % 6];
    std::vector<float> h(units), j(classes * stride);
    const int kind = trial % 11;
    for (std::size_t u = 0; u < units; ++u) {
      const float r = uniform(rng);
      h[u] = r < 0.4f ? 0.0f : (kind == 3 && r < 0.5f ? -uniform(rng) : uniform(rng) * 2.f);
      if (kind == 9 && (u / 100) % 2 == 0) h[u] = u % 3 == 0 ? -0.0f : 0.0f;  // runs of inactive units
    }
    for (std::size_t c = 0; c < classes; ++c)
      for (std::size_t u = 0; u < units; ++u) {
        float v = normal(rng) * scale;
        if (kind == 1) v = std::round(v * 4.f) / 4.f;                      // many ties
        if (kind == 2 && u % 3 == 0) v = 0.0f;                             // all-equal columns
        if (kind == 4 && c == target) v += scale * 2.f;                    // a favoured target
        if (kind == 5 && c == target && u % 2 == 0) v = 40.f + float(u % 7);  // saturated runs
        j[c * stride + u] = v;
      }
    if (kind == 6) j[(rng() % classes) * stride + rng() % units] = std::numeric_limits<float>::quiet_NaN();
    if (kind == 7) j[(rng() % classes) * stride + rng() % units] = std::numeric_limits<float>::infinity();
    if (kind == 8) j[target * stride + rng() % units] = -std::numeric_limits<float>::infinity();
    if (kind == 9) j[(rng() % classes) * stride + rng() % 100] = std::numeric_limits<float>::infinity();  // h = 0 there
    for (std::size_t width : {std::size_t(1), std::size_t(3), std::size_t(16), std::size_t(40), units / 9}) {
      if (width == 0) continue;
      const pathwise::WidthRule rule{pathwise::WidthRule::Mode::Count, double(width)};
      const float threshold = trial % 3 == 0 ? 0.5f : 1.0f / float(classes);
      pathwise::Selection all, top;
      pathwise::ChunkedScores work;
      pathwise::TopScratch scratch;
      std::vector<float> scores;
      std::vector<std::uint8_t> identical;
      std::vector<std::int32_t> order;
      pathwise::select_units(h.data(), j.data(), stride, units, classes, target, rule, threshold, all, work, scores,
                             identical, order, nullptr);
      pathwise::select_units(h.data(), j.data(), stride, units, classes, target, rule, threshold, top, work, scores,
                             identical, order, &scratch);
      ++compared;
      if (!same_selection(all, top)) ++mismatched;
    }
  }
  check(mismatched == 0, "width-limited selection = scoring every unit", mismatched, compared);

  // A pooled layer: J scattered from a pool's output cotangent to its window winners (unit ids in
  // no particular order, -0 entries included) against select_units_pooled on the compact columns.
  int pooled_compared = 0, pooled_mismatched = 0;
  for (int trial = 0; trial < 1500; ++trial) {
    const std::size_t classes = trial % 4 == 0 ? 2 : 10, plane = 6 + std::size_t(rng() % 20);
    const std::size_t channels = 1 + std::size_t(rng() % 16), units = channels * plane * plane;
    const std::size_t half = plane / 2, columns = channels * half * half, target = std::size_t(rng() % classes);
    const float scale = trial % 3 == 0 ? 30.f : trial % 3 == 1 ? 0.05f : 1.f;
    std::vector<float> h(units), cot(classes * columns), full(classes * units, 0.0f), h_columns(columns);
    std::vector<std::int32_t> ids(columns);
    for (float& v : h) v = uniform(rng) < 0.4f ? 0.0f : uniform(rng);
    for (std::size_t ch = 0, w = 0; ch < channels; ++ch)
      for (std::size_t y = 0; y < half; ++y)
        for (std::size_t x = 0; x < half; ++x, ++w)
          ids[w] = std::int32_t(ch * plane * plane + (2 * y + rng() % 2) * plane + 2 * x + rng() % 2);
    for (std::size_t c = 0; c < classes; ++c)
      for (std::size_t w = 0; w < columns; ++w) {
        float v = normal(rng) * scale;
        if (trial % 5 == 1 && c == target) v += 25.f;
        if (w % 7 == 3) v = -0.0f;
        cot[c * columns + w] = v;
        full[c * units + std::size_t(ids[w])] = 0.0f + v;  // the pool VJP's scatter into a zeroed block
      }
    for (std::size_t w = 0; w < columns; ++w) h_columns[w] = h[std::size_t(ids[w])];
    for (std::size_t width : {std::size_t(1), std::size_t(5), std::size_t(16)}) {
      if (4 * width > units) continue;
      const pathwise::WidthRule rule{pathwise::WidthRule::Mode::Count, double(width)};
      const float threshold = 1.0f / float(classes);
      pathwise::Selection all, pooled;
      pathwise::ChunkedScores work;
      pathwise::TopScratch scratch;
      std::vector<float> scores;
      std::vector<std::uint8_t> identical;
      std::vector<std::int32_t> order;
      pathwise::select_units(h.data(), full.data(), units, units, classes, target, rule, threshold, all, work, scores,
                             identical, order, nullptr);
      if (!pathwise::select_units_pooled(h_columns.data(), cot.data(), columns, columns, ids.data(), units, classes,
                                         target, rule, threshold, pooled, scratch))
        continue;  // the caller scatters and selects as above
      ++pooled_compared;
      if (!same_selection(all, pooled)) ++pooled_mismatched;
    }
  }
  check(pooled_compared > 1000, "pooled selection exercised", pooled_compared, 1000);
  check(pooled_mismatched == 0, "pooled selection = scattered J", pooled_mismatched, pooled_compared);
}

}  // namespace

int main() {
  test_kernels();
  test_kernels_threads();
  test_kernels_rows_independent_of_m();
  test_pool();
  test_width_rule();
  test_select_top_k();
  test_completeness();
  test_sparse_and_dense_layers();
  test_dense_vjp_sparse_rows();
  test_gather_concat();
  test_rejects_bad_models();
  test_gates();
  test_watch();
  test_conv_direct();
  test_conv_back_direct();
  test_conv_scatter();
  test_block_cache();
  std::printf("core tests: %d checks, %d failed (kernel %s)\n", checks, failures,
              pathwise::kernels::active().name);
  return failures == 0 ? 0 : 1;
}
