// Decomposition of an explanation into the contributions of one path layer's units, channels or
// top units (docs/method.md §6).
#include <algorithm>
#include <cmath>

#include "../util/error.h"
#include "explain_internal.h"

namespace pathwise::explain_internal {
namespace {

Component single_unit(std::int32_t u) {
  Component c;
  c.units.push_back(u);
  return c;
}

}  // namespace

// docs/method.md §6: components of path layer k (ordinal o, layer pk) for example e, all groups as one
// batched VJP seeded with δ_k ⊙ 1_G at the gate output (the gate applies γ̃_k on the way down).
void Chunk::decompose(std::size_t e, std::size_t o, std::size_t pk, const float* delta_all, const float* z_all,
                      double bias_above) {
  const Layer& layer = net.layers()[pk];
  const std::size_t units = layer.out_size(), plane = layer.out_shape.h * layer.out_shape.w;
  const float* delta = delta_all + e * units;
  const float* gate = frozen.gates[pk] + e * units;
  const float* z = z_all + e * units;
  // A non-ReLU gate's kept constant c_u is part of its unit's output s_u·z_u + c_u: the unit's
  // contribution holds δ_u·c_u and its component's bias the same term (the VJP adds it at layer pk).
  const float* constant = frozen.constants[pk] ? frozen.constants[pk] + e * units : nullptr;
  std::vector<double> r(units);
  std::vector<std::int32_t> live;  // units with effective gate 1 (for 'official', pool losers have δ = 0)
  for (std::size_t u = 0; u < units; ++u) {
    r[u] = double(delta[u]) * double(gate[u]) * double(z[u]);
    if (constant) r[u] += double(delta[u]) * double(constant[u]);
    if (gate[u] != 0.0f || (constant && constant[u] != 0.0f)) live.push_back(std::int32_t(u));
  }
  std::vector<Component> groups;
  const auto by = opt.decompose.by;
  if (by == DecomposeOptions::By::Unit) {
    for (std::int32_t u : live) groups.push_back(single_unit(u));
  } else if (by == DecomposeOptions::By::Channel) {
    for (std::int32_t u : live) {
      const std::size_t c = std::size_t(u) / plane;
      if (groups.empty() || std::size_t(groups.back().units.front()) / plane != c) groups.push_back(Component{});
      groups.back().units.push_back(u);
    }
  } else {
    std::vector<std::int32_t> ranked = live;
    std::stable_sort(ranked.begin(), ranked.end(), [&](std::int32_t a, std::int32_t b) {
      return std::fabs(r[std::size_t(a)]) > std::fabs(r[std::size_t(b)]);
    });
    const std::size_t m = std::min(opt.decompose.top, ranked.size());
    for (std::size_t i = 0; i < m; ++i) groups.push_back(single_unit(ranked[i]));
    if (ranked.size() > m) {
      Component rest;
      rest.units.assign(ranked.begin() + std::ptrdiff_t(m), ranked.end());
      std::sort(rest.units.begin(), rest.units.end());
      rest.rest = true;
      groups.push_back(std::move(rest));
    }
  }
  Decomposition& out = results[e].decomposition;
  results[e].has_decomposition = true;
  out.ordinal = o;
  out.bias_above = bias_above;
  out.components.clear();
  if (groups.empty()) return;
  const std::size_t rows = groups.size(), d = net.input_size();
  // The VJP of one row per group down to x, and each component's weights and attribution.
  check_budget(sat_add(vjp_bytes(rows, pk + 1), sat_mul(rows, 2 * sizeof(float) * d)), "the decomposition",
               "decompose by channel or { top: m }, decompose a narrower layer, or raise maxMemoryBytes");
  Frozen view = frozen_for(e);
  Sweep s;
  s.reset(net, rows, rows);
  std::vector<float>& seed = s.cot[pk];
  seed.assign(rows * units, 0.0f);
  for (std::size_t g = 0; g < rows; ++g)
    for (std::int32_t u : groups[g].units) seed[g * units + std::size_t(u)] = delta[u];
  std::vector<double> bias(rows, 0.0);
  sweep_back(net, view, s, 0, pk + 1, bias.data());
  if (s.input_cot.empty()) s.input_cot.assign(rows * d, 0.0f);
  const float* xe = x + e * d;
  for (std::size_t g = 0; g < rows; ++g) {
    Component& c = groups[g];
    c.weights.assign(s.input_cot.begin() + g * d, s.input_cot.begin() + (g + 1) * d);
    c.attribution.resize(d);
    for (std::size_t i = 0; i < d; ++i) c.attribution[i] = c.weights[i] * xe[i];
    c.bias = bias[g];
    for (std::int32_t u : c.units) c.contribution += r[std::size_t(u)];
  }
  out.components = std::move(groups);
}

}  // namespace pathwise::explain_internal
