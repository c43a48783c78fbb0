#include "explain.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../forward/forward.h"
#include "../util/error.h"
#include "../vjp/vjp.h"

namespace pathwise {

void validate_options(const Network& net, std::size_t n, const ExplainOptions& options) {
  const std::size_t relus = net.relu_positions().size();
  if (options.depth > relus)
    throw_range("depth " + std::to_string(options.depth) + " exceeds the network's " +
                std::to_string(relus) + " ReLU layer(s); use 'all' for every layer");
  const WidthRule& w = options.width;
  if (w.mode == WidthRule::Mode::Count && !(w.value >= 1.0 && w.value == std::floor(w.value)))
    throw_range("width must be an integer >= 1, 'P%' or 'all'");
  if (w.mode == WidthRule::Mode::Percent && !(w.value > 0.0 && w.value <= 100.0))
    throw_range("width percentage must be in (0, 100]");
  if (!options.targets.empty()) {
    if (options.targets.size() != n)
      throw_range("targets has " + std::to_string(options.targets.size()) + " entries for " +
                  std::to_string(n) + " inputs");
    for (std::int32_t t : options.targets)
      if (t < 0 || std::size_t(t) >= net.num_classes())
        throw_range("target " + std::to_string(t) + " is out of range [0, " +
                    std::to_string(net.num_classes()) + ")");
  }
}

namespace {

// Explains examples [0, n) of one chunk. The chunk's per-step Jacobian is n · C rows.
void explain_chunk(const Network& net, const float* x, std::size_t n, const ExplainOptions& opt,
                   const std::int32_t* targets, ExplainResult* results) {
  const auto& layers = net.layers();
  const auto& relus = net.relu_positions();
  const std::size_t classes = net.num_classes();
  const std::size_t depth = opt.depth == 0 ? relus.size() : opt.depth;
  const std::size_t first_path = relus.size() - depth;  // ordinal of l_min

  // H0: the original forward, every boundary cached.
  Activations acts;
  forward_original(net, x, n, acts);
  const std::vector<float>& logits = acts.back();

  std::vector<std::size_t> target(n);
  for (std::size_t e = 0; e < n; ++e) {
    ExplainResult& r = results[e];
    r.logits.assign(logits.begin() + e * classes, logits.begin() + (e + 1) * classes);
    r.predicted = std::int32_t(argmax_first(r.logits.data(), classes));
    r.target = targets ? targets[e] : r.predicted;
    target[e] = std::size_t(r.target);
    r.layers.resize(depth);
  }

  // Gate of every ReLU position, per example: φ(z) of the original forward below l_min, the
  // selection mask m on path layers (filled as the walk goes down).
  std::vector<std::vector<float>> gate_storage(layers.size());
  std::vector<const float*> gates(layers.size(), nullptr);
  for (std::size_t o = 0; o < relus.size(); ++o) {
    const std::size_t p = relus[o];
    const std::vector<float>& z = acts[p];
    auto& g = gate_storage[p];
    g.assign(z.size(), 0.0f);
    if (o < first_path)
      for (std::size_t i = 0; i < z.size(); ++i) g[i] = z[i] > 0.0f ? 1.0f : 0.0f;
    gates[p] = g.data();
  }

  // J of the top path layer: the identity seed of C rows per example, pulled back through the
  // (ReLU-free) layers above it, all n · C rows in each product.
  std::vector<float> jac, scratch;
  const std::size_t rows = n * classes;
  jac.assign(rows * classes, 0.0f);
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t c = 0; c < classes; ++c) jac[(e * classes + c) * classes + c] = 1.0f;
  std::size_t upper = layers.size();  // J currently sits at the output of layer upper − 1

  const float threshold = 1.0f / float(classes);
  std::vector<float> scores;
  std::vector<std::uint8_t> identical;
  std::vector<std::int32_t> order;
  for (std::size_t o = relus.size(); o-- > first_path;) {
    const std::size_t p = relus[o];
    // H2 (reuse): J at h_l = the block between this layer and the one above, applied to
    // J_{l'} ⊙ m_{l'}. In a chain of dense layers no routing can change, so no recompute arises.
    VjpRequest req;
    req.lo = p + 1;
    req.hi = upper;
    req.rows = rows;
    req.rows_per_example = classes;
    req.gates = &gates;
    vjp_chain(net, req, jac, scratch);
    upper = p + 1;

    // H3: select per example from (h_l, J_l).
    const std::size_t units = layers[p].out_size;
    const std::vector<float>& h = acts[p + 1];
    std::vector<float>& mask = gate_storage[p];
    for (std::size_t e = 0; e < n; ++e) {
      LayerResult& lr = results[e].layers[o - first_path];
      lr.ordinal = o;
      select_units(h.data() + e * units, jac.data() + e * classes * units, units, units, classes,
                   target[e], opt.width, threshold, lr.selection, scores, identical, order);
      float* m = mask.data() + e * units;
      for (std::int32_t u : lr.selection.units) m[u] = 1.0f;
    }
  }

  // H4: the fully masked forward from z_{l_min} (layers below l_min are unchanged, so their cached
  // activations are reused), then one VJP of row t per example down to x, accumulating b_P[t].
  const std::size_t pmin = relus[first_path];
  std::vector<float> cur = acts[pmin], next;
  for (std::size_t i = pmin; i < layers.size(); ++i) {
    const Layer& layer = layers[i];
    next.resize(n * layer.out_size);
    if (layer.kind == LayerKind::Relu) {
      for (std::size_t q = 0; q < next.size(); ++q) next[q] = gates[i][q] * cur[q];
    } else {
      dense_forward(layer, cur.data(), n, next.data());
    }
    cur.swap(next);
  }
  std::vector<double> bias(n, 0.0);
  std::vector<float> cot(n * classes, 0.0f);
  for (std::size_t e = 0; e < n; ++e) cot[e * classes + target[e]] = 1.0f;
  VjpRequest fin;
  fin.lo = 0;
  fin.hi = layers.size();
  fin.rows = n;
  fin.rows_per_example = 1;
  fin.gates = &gates;
  fin.bias = bias.data();
  vjp_chain(net, fin, cot, scratch);

  // H5 and the completeness residual.
  const std::size_t d = net.input_size();
  for (std::size_t e = 0; e < n; ++e) {
    ExplainResult& r = results[e];
    r.path_logits.assign(cur.begin() + e * classes, cur.begin() + (e + 1) * classes);
    r.weights.assign(cot.begin() + e * d, cot.begin() + (e + 1) * d);
    r.attribution.resize(d);
    double linear = 0.0;
    for (std::size_t i = 0; i < d; ++i) {
      r.attribution[i] = r.weights[i] * x[e * d + i];
      linear += double(r.weights[i]) * double(x[e * d + i]);
    }
    r.bias = bias[e];
    r.residual = linear + r.bias - double(r.path_logits[target[e]]);
    r.recomputes = 0;
  }
}

}  // namespace

std::vector<ExplainResult> explain(const Network& net, const float* x, std::size_t n,
                                   const ExplainOptions& options) {
  validate_options(net, n, options);
  std::vector<ExplainResult> results(n);
  const std::size_t d = net.input_size();
  for (std::size_t i = 0; i < n * d; ++i)
    if (!std::isfinite(x[i]))
      throw_range("input " + std::to_string(i / d) + " has a non-finite value at index " +
                  std::to_string(i % d));
  // Chunk so that the widest Jacobian block (C rows per example) stays under the bound.
  const std::size_t per_example = net.num_classes() * net.max_width();
  const std::size_t chunk = std::max<std::size_t>(1, options.max_jacobian_floats / per_example);
  for (std::size_t e0 = 0; e0 < n; e0 += chunk) {
    const std::size_t count = std::min(chunk, n - e0);
    explain_chunk(net, x + e0 * d, count, options,
                  options.targets.empty() ? nullptr : options.targets.data() + e0, results.data() + e0);
  }
  return results;
}

}  // namespace pathwise
