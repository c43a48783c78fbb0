#include "baselines.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "../forward/forward.h"
#include "../util/error.h"
#include "../vjp/vjp.h"

namespace pathwise {

namespace {

// Working memory of one example (one IG point) in a gradient pass with `rows` cotangent rows per
// example: the cached forward (values plus a ReLU's gate or a pool's routing: at most twice the
// activations), at most three live cotangent blocks of the widest layer, the input and its
// cotangent.
std::size_t bytes_per_example(const Network& net, std::size_t rows) {
  return sizeof(float) * (2 * net.total_activation() + 3 * rows * net.max_width() + (2 + rows) * net.input_size());
}

// Examples (IG points) per engine batch: as many as keep the batch's working set near 4 MiB, the
// size where the cached forward and the cotangents stay in cache between the forward and the
// backward pass — and never above the memory bound. Integrated gradients (50 points per image, 32
// images), ms per explanation on the Fashion CNN (working set ~0.4 MB per point) for chunks of
// 4/8/16/64/256/1600 points: 31/29/32/34/60/54; on the MLP (~32 KB per point): 7.3/5.6/3.3/2.3/2.4
// /2.5 (AMD EPYC, 1 MiB L2 per core, 32 MiB L3, AVX-512 kernels).
std::size_t chunk_size(const Network& net, std::size_t rows, std::size_t requested, std::size_t max_bytes, std::size_t total) {
  if (requested > 0) return std::min(requested, total);
  const std::size_t per = bytes_per_example(net, rows);
  const std::size_t fit = std::max<std::size_t>(1, std::min((std::size_t(4) << 20) / per, max_bytes / per));
  return std::min(fit, total);
}

Frozen freeze(const Network& net, const Activations& act, bool guided) {
  const auto& layers = net.layers();
  Frozen f;
  f.guided = guided;
  f.gates.assign(layers.size(), nullptr);
  f.constants.assign(layers.size(), nullptr);
  f.winners.assign(layers.size(), nullptr);
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (layers[i].kind == LayerKind::Relu) f.gates[i] = act.gates[i].data();
    if (layers[i].kind == LayerKind::Relu && !act.constants[i].empty()) f.constants[i] = act.constants[i].data();
    if (layers[i].kind == LayerKind::MaxPool) f.winners[i] = act.winners[i].data();
  }
  return f;
}

// Seeds row e of the sweep's logits cotangent with the one-hot of targets[e].
void seed_targets(const Network& net, Sweep& sweep, std::size_t n, const std::int32_t* targets) {
  const std::size_t classes = net.num_classes();
  sweep.reset(net, n, 1);
  std::vector<float>& seed = sweep.cot[net.layers().size() - 1];
  seed.assign(n * classes, 0.0f);
  for (std::size_t e = 0; e < n; ++e) seed[e * classes + std::size_t(targets[e])] = 1.0f;
}

// ∂f_t/∂x (or guided backprop's signal) of m examples at once, given their forward pass.
void input_gradient(const Network& net, const Activations& act, std::size_t m, const std::int32_t* targets,
                    bool guided, float* grad) {
  const Frozen frozen = freeze(net, act, guided);
  Sweep sweep;
  seed_targets(net, sweep, m, targets);
  sweep_back(net, frozen, sweep, 0, net.layers().size());
  const std::size_t d = net.input_size();
  if (sweep.input_cot.empty())
    std::fill(grad, grad + m * d, 0.0f);
  else
    std::copy(sweep.input_cot.begin(), sweep.input_cot.end(), grad);
}

void check_finite(const float* x, std::size_t count, std::size_t d, const char* what) {
  for (std::size_t i = 0; i < count; ++i)
    if (!std::isfinite(x[i]))
      throw_range(std::string(what) + " " + std::to_string(i / d) + " has a non-finite value at index " +
                  std::to_string(i % d));
}

// Logits, predicted classes and targets of every example; the forward cached in `act` when one
// chunk covers the batch (the common case), so the gradient pass can reuse it.
void fill_targets(const Network& net, const float* logits, std::size_t n, const AttributeOptions& opt,
                  AttributeResult& r, std::size_t offset) {
  const std::size_t classes = net.num_classes();
  for (std::size_t e = 0; e < n; ++e) {
    const std::size_t g = offset + e;
    std::copy(logits + e * classes, logits + (e + 1) * classes, r.logits.begin() + g * classes);
    r.predicted[g] = std::int32_t(argmax_first(logits + e * classes, classes));
    r.target[g] = opt.targets.empty() ? r.predicted[g] : opt.targets[g];
  }
}

// Saliency, input × gradient, guided backprop: one forward and one VJP per chunk of examples.
void gradient_methods(const Network& net, const float* x, std::size_t n, const AttributeOptions& opt, AttributeResult& r) {
  const std::size_t d = net.input_size(), classes = net.num_classes();
  const std::size_t chunk = chunk_size(net, 1, opt.chunk, opt.max_memory_bytes, n);
  const bool guided = opt.method == BaselineMethod::GuidedBackprop;
  for (std::size_t e0 = 0; e0 < n; e0 += chunk) {
    const std::size_t m = std::min(chunk, n - e0);
    Activations act;
    forward_original(net, x + e0 * d, m, act);
    fill_targets(net, act.values.back().data(), m, opt, r, e0);
    (void)classes;
    float* grad = r.attribution.data() + e0 * d;
    input_gradient(net, act, m, r.target.data() + e0, guided, grad);
    if (opt.method == BaselineMethod::InputXGradient)
      for (std::size_t i = 0; i < m * d; ++i) grad[i] *= x[e0 * d + i];
  }
}

// Integrated gradients: the n × steps path points run as batches of `chunk` points (docs/method.md §9).
void integrated_gradients(const Network& net, const float* x, std::size_t n, const AttributeOptions& opt, AttributeResult& r) {
  const std::size_t d = net.input_size(), classes = net.num_classes(), steps = opt.steps;
  {
    const std::vector<float> logits = forward_logits(net, x, n);
    fill_targets(net, logits.data(), n, opt, r, 0);
  }
  // x₀ per example: zeros, one shared baseline, or one each.
  const bool per_example = opt.baseline.size() == n * d && n > 1;
  auto base = [&](std::size_t e) -> const float* {
    if (opt.baseline.empty()) return nullptr;
    return opt.baseline.data() + (per_example ? e * d : 0);
  };
  std::vector<double> alpha, weight;
  quadrature_01(opt.rule, steps, alpha, weight);
  std::vector<float> alpha32(steps);  // the point x₀ + α (x − x₀) is formed in float32, as captum does
  for (std::size_t i = 0; i < steps; ++i) alpha32[i] = float(alpha[i]);

  std::vector<double> total(n * d, 0.0);
  const std::size_t points = n * steps;
  const std::size_t chunk = chunk_size(net, 1, opt.chunk, opt.max_memory_bytes, points);
  std::vector<float> batch(chunk * d), grad(chunk * d);
  std::vector<std::int32_t> targets(chunk);
  for (std::size_t p0 = 0; p0 < points; p0 += chunk) {
    const std::size_t m = std::min(chunk, points - p0);
    for (std::size_t q = 0; q < m; ++q) {
      const std::size_t e = (p0 + q) / steps, i = (p0 + q) % steps;
      const float* xe = x + e * d;
      const float* be = base(e);
      float* dst = batch.data() + q * d;
      for (std::size_t j = 0; j < d; ++j) {
        const float b = be ? be[j] : 0.0f;
        dst[j] = b + alpha32[i] * (xe[j] - b);
      }
      targets[q] = r.target[e];
    }
    Activations act;
    forward_original(net, batch.data(), m, act);
    input_gradient(net, act, m, targets.data(), false, grad.data());
    for (std::size_t q = 0; q < m; ++q) {
      const std::size_t e = (p0 + q) / steps, i = (p0 + q) % steps;
      double* te = total.data() + e * d;
      const float* g = grad.data() + q * d;
      for (std::size_t j = 0; j < d; ++j) te[j] += weight[i] * double(g[j]);
    }
  }
  // f_t(x₀): one forward of the baselines (a shared one once).
  std::vector<float> base_logits;
  if (opt.baseline.empty()) {
    const std::vector<float> zeros(d, 0.0f);
    base_logits = forward_logits(net, zeros.data(), 1);
  } else {
    base_logits = forward_logits(net, opt.baseline.data(), per_example ? n : 1);
  }
  r.delta.assign(n, 0.0);
  for (std::size_t e = 0; e < n; ++e) {
    const float* xe = x + e * d;
    const float* be = base(e);
    double sum = 0.0;
    for (std::size_t j = 0; j < d; ++j) {
      const float diff = xe[j] - (be ? be[j] : 0.0f);
      const float a = float(total[e * d + j]) * diff;
      r.attribution[e * d + j] = a;
      sum += a;
    }
    const std::size_t t = std::size_t(r.target[e]);
    const double f0 = base_logits[(per_example ? e : 0) * classes + t];
    r.delta[e] = sum - (double(r.logits[e * classes + t]) - f0);
  }
}

// Guided Grad-CAM: ReLU(Σ_k α_k L_k) at layer L, α_k the spatial mean of ∂f_t/∂L_k, upsampled to
// the input by nearest neighbour, times guided backprop (broadcast over input channels).
void guided_gradcam(const Network& net, const float* x, std::size_t n, const AttributeOptions& opt, AttributeResult& r) {
  const auto& layers = net.layers();
  const std::size_t count = layers.size(), d = net.input_size();
  const std::size_t L = opt.layer < 0 ? default_gradcam_layer(net) : std::size_t(opt.layer);
  r.layer = long(L);
  const Shape& ls = layers[L].out_shape;
  const Shape& is = net.input_shape();
  const std::size_t plane = ls.h * ls.w, lsize = ls.size();
  const std::size_t chunk = chunk_size(net, 1, opt.chunk, opt.max_memory_bytes, n);
  std::vector<float> gb, cam(plane);
  for (std::size_t e0 = 0; e0 < n; e0 += chunk) {
    const std::size_t m = std::min(chunk, n - e0);
    Activations act;
    forward_original(net, x + e0 * d, m, act);
    fill_targets(net, act.values.back().data(), m, opt, r, e0);
    const std::int32_t* targets = r.target.data() + e0;
    // Plain gradient down to L's output: every consumer of L is later, so cot[L] is complete.
    const Frozen frozen = freeze(net, act, false);
    Sweep sweep;
    seed_targets(net, sweep, m, targets);
    sweep_back(net, frozen, sweep, L + 1, count);
    std::vector<float> grad_l = std::move(sweep.cot[L]);
    if (grad_l.empty()) grad_l.assign(m * lsize, 0.0f);
    gb.resize(m * d);
    input_gradient(net, act, m, targets, true, gb.data());
    const std::vector<float>& values = act.values[L];
    for (std::size_t e = 0; e < m; ++e) {
      const float* g = grad_l.data() + e * lsize;
      const float* a = values.data() + e * lsize;
      std::fill(cam.begin(), cam.end(), 0.0f);
      for (std::size_t c = 0; c < ls.c; ++c) {
        double mean = 0.0;
        for (std::size_t p = 0; p < plane; ++p) mean += g[c * plane + p];
        const float alpha = float(mean / double(plane));
        for (std::size_t p = 0; p < plane; ++p) cam[p] += alpha * a[c * plane + p];
      }
      for (float& v : cam) v = std::max(v, 0.0f);
      float* out = r.attribution.data() + (e0 + e) * d;
      const float* ge = gb.data() + e * d;
      for (std::size_t c = 0; c < is.c; ++c)
        for (std::size_t y = 0; y < is.h; ++y) {
          const std::size_t sy = y * ls.h / is.h;  // nearest: floor(dst · H_L / H)
          for (std::size_t xx = 0; xx < is.w; ++xx) {
            const std::size_t sx = xx * ls.w / is.w, o = (c * is.h + y) * is.w + xx;
            out[o] = ge[o] * cam[sy * ls.w + sx];
          }
        }
    }
  }
}

}  // namespace

std::size_t default_gradcam_layer(const Network& net) {
  const auto& layers = net.layers();
  for (std::size_t i = layers.size(); i-- > 0;)
    if (layers[i].kind == LayerKind::MaxPool) return i;
  throw_range("guidedGradCam: the model has no MaxPool layer; name the layer with the `layer` option");
}

const char* const kIgRuleNames =
    "'gauss-legendre', 'gausslegendre', 'riemann_left', 'riemann_right', 'riemann_middle', 'riemann_trapezoid' or 'trapezoid'";

std::optional<IgRule> ig_rule_named(const std::string& name) {
  static const std::pair<const char*, IgRule> names[] = {
      {"gauss-legendre", IgRule::GaussLegendre},   {"gausslegendre", IgRule::GaussLegendre},
      {"riemann_left", IgRule::RiemannLeft},       {"riemann_right", IgRule::RiemannRight},
      {"riemann_middle", IgRule::RiemannMiddle},   {"riemann_trapezoid", IgRule::RiemannTrapezoid},
      {"trapezoid", IgRule::Trapezoid},
  };
  for (const auto& [n, r] : names)
    if (name == n) return r;
  return std::nullopt;
}

std::size_t ig_rule_min_steps(IgRule rule) { return rule == IgRule::GaussLegendre ? 1 : 2; }

void quadrature_01(IgRule rule, std::size_t n, std::vector<double>& alpha, std::vector<double>& weight) {
  alpha.assign(n, 0.0);
  weight.assign(n, 0.0);
  if (n == 0) return;
  if (rule != IgRule::GaussLegendre && n == 1) {  // below ig_rule_min_steps; kept total for safety
    alpha[0] = 0.5;
    weight[0] = 1.0;
    return;
  }
  const double dn = double(n);
  switch (rule) {
    case IgRule::Trapezoid:  // textbook: steps 1/(n − 1), weights sum to 1
      for (std::size_t i = 0; i < n; ++i) {
        alpha[i] = double(i) / (dn - 1.0);
        weight[i] = 1.0 / (dn - 1.0);
      }
      weight[0] /= 2;
      weight[n - 1] /= 2;
      return;
    // captum's riemann_builders: step sizes [1/n] * n (ends halved for trapezoid) and alphas
    // torch.linspace(start, end, n) with start, end = 0, 1 − 1/n (left); 1/n, 1 (right);
    // 1/(2n), 1 − 1/(2n) (middle); 0, 1 (trapezoid). The same points written as i/n, … in float64
    // (torch.linspace rounds them to float32; the engine forms x₀ + α (x − x₀) in float32 anyway).
    case IgRule::RiemannLeft:
    case IgRule::RiemannRight:
    case IgRule::RiemannMiddle:
    case IgRule::RiemannTrapezoid:
      for (std::size_t i = 0; i < n; ++i) {
        const double k = double(i);
        alpha[i] = rule == IgRule::RiemannLeft    ? k / dn
                   : rule == IgRule::RiemannRight  ? (k + 1.0) / dn
                   : rule == IgRule::RiemannMiddle ? (2.0 * k + 1.0) / (2.0 * dn)
                                                   : k / (dn - 1.0);
        weight[i] = 1.0 / dn;
      }
      if (rule == IgRule::RiemannTrapezoid) {
        weight[0] /= 2;
        weight[n - 1] /= 2;
      }
      return;
    case IgRule::GaussLegendre:
      break;
  }
  // Roots of P_n by Newton from cos(π (i − 1/4) / (n + 1/2)), i = 1 … n (descending ξ); P_n and
  // P_n' by the three-term recurrence. Mirrored into ascending α = (1 + ξ) / 2, s = w / 2.
  const double pi = 3.14159265358979323846;
  for (std::size_t i = 1; i <= n; ++i) {
    double xi = std::cos(pi * (double(i) - 0.25) / (double(n) + 0.5)), dp = 0.0;
    for (int it = 0; it < 100; ++it) {
      double p0 = 1.0, p1 = xi;
      for (std::size_t k = 2; k <= n; ++k) {
        const double p2 = ((2.0 * double(k) - 1.0) * xi * p1 - (double(k) - 1.0) * p0) / double(k);
        p0 = p1;
        p1 = p2;
      }
      const double pn = n == 1 ? xi : p1, pn1 = n == 1 ? 1.0 : p0;
      dp = double(n) * (xi * pn - pn1) / (xi * xi - 1.0);
      const double step = pn / dp;
      xi -= step;
      if (std::fabs(step) < 1e-15) break;
    }
    // Recompute P_n' at the converged root for the weight.
    double p0 = 1.0, p1 = xi;
    for (std::size_t k = 2; k <= n; ++k) {
      const double p2 = ((2.0 * double(k) - 1.0) * xi * p1 - (double(k) - 1.0) * p0) / double(k);
      p0 = p1;
      p1 = p2;
    }
    const double pn = n == 1 ? xi : p1, pn1 = n == 1 ? 1.0 : p0;
    dp = double(n) * (xi * pn - pn1) / (xi * xi - 1.0);
    const double w = 2.0 / ((1.0 - xi * xi) * dp * dp);
    const std::size_t j = n - i;  // i = 1 is the largest root
    alpha[j] = (1.0 + xi) / 2.0;
    weight[j] = w / 2.0;
  }
}

void validate_attribute_options(const Network& net, std::size_t n, const AttributeOptions& opt) {
  if (n == 0) throw_range("the batch is empty");
  if (!opt.targets.empty()) {
    if (opt.targets.size() != n)
      throw_range("targets has " + std::to_string(opt.targets.size()) + " entries for " + std::to_string(n) + " inputs");
    for (std::int32_t t : opt.targets)
      if (t < 0 || std::size_t(t) >= net.num_classes())
        throw_range("target " + std::to_string(t) + " is out of range [0, " + std::to_string(net.num_classes()) + ")");
  }
  if (opt.method == BaselineMethod::IntegratedGradients) {
    if (opt.steps < 1 || opt.steps > 100000) throw_range("steps must be an integer in [1, 100000]");
    if (opt.steps < ig_rule_min_steps(opt.rule)) throw_range("the Riemann and trapezoid rules need steps >= 2 (as captum asserts)");
    const std::size_t d = net.input_size();
    if (!opt.baseline.empty() && opt.baseline.size() != d && opt.baseline.size() != n * d)
      throw_range("baseline has " + std::to_string(opt.baseline.size()) + " values; expected " + std::to_string(d) +
                  " (one input) or " + std::to_string(n * d) + " (one per input)");
    check_finite(opt.baseline.data(), opt.baseline.size(), d, "baseline");
  }
  if (opt.method == BaselineMethod::GuidedGradCam) {
    if (opt.layer < 0)
      (void)default_gradcam_layer(net);
    else if (std::size_t(opt.layer) >= net.layers().size() - 1)
      throw_range("layer " + std::to_string(opt.layer) + " is not a hidden layer of the model (0 … " +
                  std::to_string(net.layers().size() - 2) + ")");
  }
  const std::size_t need = bytes_per_example(net, 1);
  if (opt.chunk == 0 && need > opt.max_memory_bytes)
    throw Error(Error::Kind::Memory, "one input needs about " + std::to_string((need + (1 << 20) - 1) >> 20) +
                                         " MiB of working memory, above maxMemoryBytes = " + std::to_string(opt.max_memory_bytes));
}

AttributeResult attribute(const Network& net, const float* x, std::size_t n, const AttributeOptions& opt) {
  validate_attribute_options(net, n, opt);
  const std::size_t d = net.input_size(), classes = net.num_classes();
  check_finite(x, n * d, d, "input");
  AttributeResult r;
  r.attribution.assign(n * d, 0.0f);
  r.logits.assign(n * classes, 0.0f);
  r.target.assign(n, 0);
  r.predicted.assign(n, 0);
  switch (opt.method) {
    case BaselineMethod::Saliency:
    case BaselineMethod::InputXGradient:
    case BaselineMethod::GuidedBackprop: gradient_methods(net, x, n, opt, r); break;
    case BaselineMethod::IntegratedGradients: integrated_gradients(net, x, n, opt, r); break;
    case BaselineMethod::GuidedGradCam: guided_gradcam(net, x, n, opt, r); break;
  }
  return r;
}

UnwrapResult unwrap(const Network& net, const float* x, std::size_t n, std::size_t chunk_request, std::size_t max_bytes) {
  if (n == 0) throw_range("the batch is empty");
  const std::size_t d = net.input_size(), classes = net.num_classes(), count = net.layers().size();
  check_finite(x, n * d, d, "input");
  const std::size_t need = bytes_per_example(net, classes);
  if (chunk_request == 0 && need > max_bytes)
    throw Error(Error::Kind::Memory, "unwrapping one input needs about " + std::to_string((need + (1 << 20) - 1) >> 20) +
                                         " MiB of working memory, above maxMemoryBytes = " + std::to_string(max_bytes));
  UnwrapResult r;
  r.weights.assign(n * classes * d, 0.0f);
  r.bias.assign(n * classes, 0.0);
  r.logits.assign(n * classes, 0.0f);
  r.residual.assign(n * classes, 0.0);
  const std::size_t chunk = chunk_size(net, classes, chunk_request, max_bytes, n);
  for (std::size_t e0 = 0; e0 < n; e0 += chunk) {
    const std::size_t m = std::min(chunk, n - e0);
    Activations act;
    forward_original(net, x + e0 * d, m, act);
    const Frozen frozen = freeze(net, act, false);
    // C rows per example: the identity seed at the logits, one sweep to the input, b per row.
    Sweep sweep;
    sweep.reset(net, m * classes, classes);
    std::vector<float>& seed = sweep.cot[count - 1];
    seed.assign(m * classes * classes, 0.0f);
    for (std::size_t e = 0; e < m; ++e)
      for (std::size_t c = 0; c < classes; ++c) seed[(e * classes + c) * classes + c] = 1.0f;
    double* bias = r.bias.data() + e0 * classes;
    sweep_back(net, frozen, sweep, 0, count, bias);
    if (!sweep.input_cot.empty())
      std::copy(sweep.input_cot.begin(), sweep.input_cot.end(), r.weights.begin() + e0 * classes * d);
    const std::vector<float>& logits = act.values.back();
    std::copy(logits.begin(), logits.end(), r.logits.begin() + e0 * classes);
    for (std::size_t e = 0; e < m; ++e)
      for (std::size_t c = 0; c < classes; ++c) {
        const std::size_t row = (e0 + e) * classes + c;
        const float* w = r.weights.data() + row * d;
        const float* xe = x + (e0 + e) * d;
        double s = r.bias[row];
        for (std::size_t j = 0; j < d; ++j) s += double(w[j]) * double(xe[j]);
        r.residual[row] = s - double(r.logits[row]);
      }
  }
  return r;
}

}  // namespace pathwise
