// One-way paths (docs/method.md §8): the k best complete paths of a layered graph, and the graph an
// explanation builds from its frozen network (edge weights by one-hot JVPs through each block, one
// VJP per path for its input weights).
#include "oneway.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "../forward/forward.h"
#include "../util/error.h"
#include "explain_internal.h"

namespace pathwise {
namespace {

struct Entry {
  double value = 0;    // partial value from the bottom up to this node
  double product = 0;  // partial product of edge weights (value = bottom · product)
  std::uint32_t prev_node = 0;
  bool prev_max = true;
  std::uint32_t prev_entry = 0;
};

struct Lists {
  std::vector<Entry> max, min;  // max: descending value; min: ascending value
};

void keep_best(std::vector<Entry>& v, std::size_t k, bool largest) {
  auto better = [largest](const Entry& a, const Entry& b) { return largest ? a.value > b.value : a.value < b.value; };
  if (v.size() > k) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end(), better);
    v.resize(k);
  }
  std::stable_sort(v.begin(), v.end(), better);
}

}  // namespace

std::vector<RankedPath> k_best_paths(const LayeredGraph& g, std::size_t k, bool abs_rank) {
  const std::size_t d = g.sizes.size();
  std::vector<std::vector<Lists>> lists(d);
  lists[0].resize(g.sizes[0]);
  for (std::size_t u = 0; u < g.sizes[0]; ++u) {
    Entry e{g.bottom[u], 1.0, 0, true, 0};
    lists[0][u].max = {e};
    lists[0][u].min = {e};
  }
  for (std::size_t j = 1; j < d; ++j) {
    lists[j].resize(g.sizes[j]);
    for (std::size_t v = 0; v < g.sizes[j]; ++v) {
      Lists& out = lists[j][v];
      for (const auto& edge : g.incoming[j][v]) {
        // Plain copies, not a structured binding: C++17 lambdas cannot capture those (clang rejects it).
        const std::uint32_t u = edge.first;
        const double w = edge.second;
        const Lists& in = lists[j - 1][u];
        const auto feed = [&](const std::vector<Entry>& src, bool src_is_max, std::vector<Entry>& dst) {
          for (std::uint32_t q = 0; q < src.size(); ++q)
            dst.push_back(Entry{src[q].value * w, src[q].product * w, u, src_is_max, q});
        };
        if (w > 0) {
          feed(in.max, true, out.max);
          feed(in.min, false, out.min);
        } else if (w < 0) {
          feed(in.min, false, out.max);
          feed(in.max, true, out.min);
        }
        // Bound the work per node: trim once a list holds many more candidates than it keeps.
        if (out.max.size() > 8 * k + 64) keep_best(out.max, k, true);
        if (out.min.size() > 8 * k + 64) keep_best(out.min, k, false);
      }
      keep_best(out.max, k, true);
      keep_best(out.min, k, false);
    }
  }
  // Close at the top and collect candidates; one path may sit in both lists of a node.
  std::vector<RankedPath> candidates;
  const auto trace = [&](std::size_t top_node, bool is_max, std::uint32_t idx) {
    RankedPath p;
    p.nodes.resize(d);
    std::size_t node = top_node;
    for (std::size_t j = d; j-- > 0;) {
      p.nodes[j] = std::uint32_t(node);
      const Entry& e = (is_max ? lists[j][node].max : lists[j][node].min)[idx];
      if (j + 1 == d) {
        p.value = e.value * g.top[top_node];
        p.product = e.product * g.top[top_node];
      }
      node = e.prev_node;
      is_max = e.prev_max;
      idx = e.prev_entry;
    }
    return p;
  };
  for (std::size_t v = 0; v < g.sizes[d - 1]; ++v) {
    const double w = g.top[v];
    if (w == 0) continue;
    const Lists& l = lists[d - 1][v];
    // Signed: the largest values come from max·w (w > 0) or min·w (w < 0); abs: from both ends.
    if (abs_rank || w > 0)
      for (std::uint32_t q = 0; q < l.max.size(); ++q) candidates.push_back(trace(v, true, q));
    if (abs_rank || w < 0)
      for (std::uint32_t q = 0; q < l.min.size(); ++q) candidates.push_back(trace(v, false, q));
  }
  auto key = [abs_rank](const RankedPath& p) { return abs_rank ? std::fabs(p.value) : p.value; };
  std::sort(candidates.begin(), candidates.end(), [&](const RankedPath& a, const RankedPath& b) {
    if (key(a) != key(b)) return key(a) > key(b);
    return std::lexicographical_compare(a.nodes.rbegin(), a.nodes.rend(), b.nodes.rbegin(), b.nodes.rend());
  });
  std::vector<RankedPath> out;
  for (auto& c : candidates) {
    if (out.size() == k) break;
    if (!out.empty() && out.back().nodes == c.nodes) continue;  // the same path from both lists
    bool seen = false;
    for (const auto& o : out) seen = seen || o.nodes == c.nodes;
    if (!seen) out.push_back(std::move(c));
  }
  return out;
}


namespace explain_internal {

// Pushes `rows` tangents given at the output of layer `from` through the frozen linear block up
// to the input of layer `to` (a chain; no biases), for example e. Returns rows × in_size(to).
std::vector<float> Chunk::block_jvp(std::size_t e, std::size_t from, std::size_t to, std::vector<float> t,
                                    std::size_t rows) const {
  const auto& layers = net.layers();
  std::vector<float> out;
  for (std::size_t i = from + 1; i < to; ++i) {
    const Layer& layer = layers[i];
    out.assign(rows * layer.out_size(), 0.0f);
    switch (layer.kind) {
      case LayerKind::Dense: ops::dense_forward(layer, t.data(), rows, out.data(), false); break;
      case LayerKind::Conv: ops::conv_forward(layer, t.data(), rows, out.data(), false); break;
      case LayerKind::AvgPool: ops::avg_pool_forward(layer, t.data(), rows, out.data()); break;
      case LayerKind::Affine: ops::affine_forward(layer, t.data(), rows, out.data(), false); break;
      case LayerKind::MaxPool: {
        const std::int32_t* win = frozen.winners[i] + e * layer.out_size();
        for (std::size_t r = 0; r < rows; ++r)
          for (std::size_t o = 0; o < layer.out_size(); ++o)
            if (win[o] >= 0) out[r * layer.out_size() + o] = t[r * layer.in_size() + std::size_t(win[o])];
        break;
      }
      case LayerKind::Gather: ops::gather_forward(layer, t.data(), rows, out.data(), false); break;
      case LayerKind::Relu:
      case LayerKind::Add:
      case LayerKind::Concat:
        throw Error(Error::Kind::Runtime, "internal: a ReLU or join inside a path block");
    }
    t.swap(out);
  }
  return t;
}

// docs/method.md §8: the k best complete one-way paths of example e through the frozen network.
void Chunk::one_way_paths(std::size_t e, const std::vector<std::vector<float>>& deltas, double bias_above,
                          const Activations& fin) {
  const auto& layers = net.layers();
  const auto& relus = net.relu_positions();
  const std::size_t d = depth;
  std::vector<std::size_t> pos(d);
  for (std::size_t j = 0; j < d; ++j) pos[j] = relus[first_path + j];
  // ζ: z_{l_1}, the original pre-activation (nothing below l_1 is masked).
  const int q = layers[pos[0]].inputs[0];
  const std::size_t n0 = layers[pos[0]].out_size();
  const float* zeta = (q < 0 ? x : orig.values[std::size_t(q)].data()) + e * n0;
  // Nodes: units with effective gate 1; their contributions r_u = δ_u γ_u z̃_u rank the beam.
  std::vector<std::vector<std::int32_t>> nodes(d);
  std::size_t estimate = 0;
  for (std::size_t j = 0; j < d; ++j) {
    const std::size_t units = layers[pos[j]].out_size();
    const float* gate = frozen.gates[pos[j]] + e * units;
    for (std::size_t u = 0; u < units; ++u)
      if (gate[u] != 0.0f) nodes[j].push_back(std::int32_t(u));
    if (j > 0) estimate += nodes[j - 1].size() * nodes[j].size();
  }
  OneWayPaths& out = results[e].paths;
  results[e].has_paths = true;
  out.bias_above = bias_above;
  out.exact = estimate <= opt.paths.max_edges;
  if (!out.exact) {
    for (std::size_t j = 0; j < d; ++j) {
      if (nodes[j].size() <= opt.paths.beam) continue;
      const std::size_t units = layers[pos[j]].out_size();
      const float* delta = deltas[pos[j]].data() + e * units;
      const int pj = layers[pos[j]].inputs[0];
      const float* z = (pj < 0 ? x : (std::size_t(pj) >= pos[0] ? fin.values[std::size_t(pj)] : orig.values[std::size_t(pj)]).data()) + e * units;
      auto& v = nodes[j];
      std::stable_sort(v.begin(), v.end(), [&](std::int32_t a, std::int32_t b) {
        return std::fabs(double(delta[a]) * z[a]) > std::fabs(double(delta[b]) * z[b]);
      });
      v.resize(opt.paths.beam);
      std::sort(v.begin(), v.end());
    }
  }
  {
    // The edges and the k-best lists of the search, each step's block of one-hot tangents (rows ×
    // the block's widest layer, twice: in and out), and the final VJP of up to k rows.
    std::size_t edges = 0, nodes_total = nodes[0].size(), step = 0;
    for (std::size_t j = 1; j < d; ++j) {
      edges = sat_add(edges, sat_mul(nodes[j - 1].size(), nodes[j].size()));
      nodes_total = sat_add(nodes_total, nodes[j].size());
      std::size_t widest = layers[pos[j - 1]].out_size();
      for (std::size_t i = pos[j - 1] + 1; i < pos[j]; ++i) widest = std::max(widest, layers[i].out_size());
      step = std::max(step, sat_mul(2 * sizeof(float), sat_mul(nodes[j - 1].size(), widest)));
    }
    const std::size_t k = opt.paths.k, entry = 32;
    const std::size_t lists = sat_mul(entry, sat_add(sat_mul(nodes_total, 2 * k), 2 * (9 * k + 64)));
    const std::size_t candidates = sat_mul(nodes[d - 1].size(), sat_mul(2 * k, 48 + 4 * d));
    const std::size_t final_vjp = sat_add(vjp_bytes(k, std::size_t(q < 0 ? 0 : q + 1)), sat_mul(k, sizeof(float) * net.input_size()));
    check_budget(sat_add(sat_add(sat_mul(16, edges), lists), sat_add(candidates, std::max(step, final_vjp))),
                 "the one-way path search", "lower paths.k or paths.maxEdges (a beam search), or raise maxMemoryBytes");
  }
  LayeredGraph g;
  g.sizes.resize(d);
  g.incoming.resize(d);
  for (std::size_t j = 0; j < d; ++j) g.sizes[j] = nodes[j].size();
  for (std::int32_t u : nodes[0]) g.bottom.push_back(zeta[u]);
  const float* top_delta = deltas[pos[d - 1]].data() + e * layers[pos[d - 1]].out_size();
  for (std::int32_t v : nodes[d - 1]) g.top.push_back(top_delta[v]);
  for (std::size_t j = 1; j < d; ++j) {
    // ω_{j−1}(u → v): one-hot tangents at the gate output of l_{j−1}, through the block.
    const std::size_t from_units = layers[pos[j - 1]].out_size(), rows = nodes[j - 1].size();
    std::vector<float> t(rows * from_units, 0.0f);
    for (std::size_t r = 0; r < rows; ++r) t[r * from_units + std::size_t(nodes[j - 1][r])] = 1.0f;
    const std::vector<float> w = block_jvp(e, pos[j - 1], pos[j], std::move(t), rows);
    const std::size_t to_units = layers[pos[j]].in_size();
    g.incoming[j].resize(nodes[j].size());
    for (std::size_t vi = 0; vi < nodes[j].size(); ++vi)
      for (std::size_t r = 0; r < rows; ++r) {
        const float wv = w[r * to_units + std::size_t(nodes[j][vi])];
        if (wv != 0.0f) g.incoming[j][vi].push_back({std::uint32_t(r), double(wv)});
      }
  }
  std::vector<RankedPath> best;
  if (!nodes[0].empty() && !nodes[d - 1].empty()) best = k_best_paths(g, opt.paths.k, opt.paths.abs_rank);
  // W_p: one VJP per path, all as one batch, seeded with the path's weight product at z_{l_1}[u_1].
  const std::size_t rows = best.size(), dim = net.input_size();
  out.paths.clear();
  if (rows == 0) return;
  Frozen view = frozen_for(e);
  Sweep s;
  s.reset(net, rows, rows);
  std::vector<double> bias(rows, 0.0);
  std::vector<float>& seed = q < 0 ? s.input_cot : s.cot[std::size_t(q)];
  seed.assign(rows * n0, 0.0f);
  for (std::size_t r = 0; r < rows; ++r) seed[r * n0 + std::size_t(nodes[0][best[r].nodes[0]])] = float(best[r].product);
  if (q >= 0) sweep_back(net, view, s, 0, std::size_t(q) + 1, bias.data());
  if (s.input_cot.empty()) s.input_cot.assign(rows * dim, 0.0f);
  double total = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    OneWayPath p;
    for (std::size_t j = 0; j < d; ++j) p.units.push_back(nodes[j][best[r].nodes[j]]);
    p.contribution = best[r].value;
    p.weights.assign(s.input_cot.begin() + r * dim, s.input_cot.begin() + (r + 1) * dim);
    p.bias = bias[r];
    total += p.contribution;
    out.paths.push_back(std::move(p));
  }
  const double denominator = double(results[e].path_logits.empty() ? fin.values.back()[e * classes + target[e]]
                                                                   : results[e].path_logits[target[e]]) - bias_above;
  out.coverage = denominator != 0 ? total / denominator : 0;
}

}  // namespace explain_internal
}  // namespace pathwise
