// Standalone tests of native/core, without Node: every kernel against a float64 reference, the
// width rule, and the completeness identity of explain() on random MLPs. Built by CMake with
// -DPATHWISE_NATIVE_TESTS=ON (CI runs it, sanitizer builds run it too). Exit code 0 = all passed.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "../core/ir/network.h"
#include "../core/kernels/kernels.h"
#include "../core/path/explain.h"
#include "../core/util/error.h"

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

void test_kernels() {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  const std::size_t shapes[][3] = {{1, 1, 1}, {7, 33, 129}, {33, 7, 1}, {5, 65, 257}, {129, 1, 33}, {10, 784, 256}};
  for (const auto* table : pathwise::kernels::available()) {
    for (bool trans : {false, true}) {
      for (const auto& s : shapes) {
        const std::size_t m = s[0], n = s[1], k = s[2];
        std::vector<float> a(m * k), b(k * n), c(m * n, 123.f);
        for (auto& v : a) v = u(rng);
        for (auto& v : b) v = u(rng);
        (trans ? table->gemm_nt : table->gemm_nn)(m, n, k, a.data(), k, b.data(), trans ? k : n, c.data(), n, false);
        double worst = 0;
        for (std::size_t i = 0; i < m; ++i)
          for (std::size_t j = 0; j < n; ++j) {
            double ref = 0;
            for (std::size_t p = 0; p < k; ++p) ref += double(a[i * k + p]) * (trans ? b[j * k + p] : b[p * n + j]);
            worst = std::max(worst, std::fabs(ref - c[i * n + j]));
          }
        check(worst <= 6e-8 * double(k * k) + 1e-6, table->name, worst, 0);
      }
    }
  }
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

}  // namespace

int main() {
  test_kernels();
  test_width_rule();
  test_completeness();
  test_rejects_bad_models();
  std::printf("core tests: %d checks, %d failed (kernel %s)\n", checks, failures,
              pathwise::kernels::active().name);
  return failures == 0 ? 0 : 1;
}
