#include "explain.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../forward/forward.h"
#include "../threads/pool.h"
#include "../util/error.h"
#include "../vjp/vjp.h"
#include "oneway.h"

namespace pathwise {

namespace {
// Saturating size arithmetic for the estimate: a network of legal sizes (each tensor < 2^31 values)
// can still need more than 2^64 bytes (C × widest × 12), and a wrapped estimate would let it in.
constexpr std::size_t kSizeMax = ~std::size_t(0);
std::size_t sat_add(std::size_t a, std::size_t b) { return a > kSizeMax - b ? kSizeMax : a + b; }
std::size_t sat_mul(std::size_t a, std::size_t b) { return a != 0 && b > kSizeMax / a ? kSizeMax : a * b; }

// Floats one example keeps for the whole explanation: the input and every layer's values, a ReLU's
// gate or a pool's routing besides (the estimate holds two such sets: the original forward and a
// gated one).
std::size_t cached_floats(const Network& net) {
  std::size_t cached = net.input_size();
  for (const Layer& layer : net.layers()) {
    const bool extra = layer.kind == LayerKind::Relu || layer.kind == LayerKind::MaxPool;
    cached = sat_add(cached, sat_mul(layer.out_size(), extra ? 2 : 1));
  }
  return cached;
}
}  // namespace

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
  if (options.decompose.by != DecomposeOptions::By::None) {
    const std::ptrdiff_t o = options.decompose.ordinal;
    const std::size_t depth = options.depth == 0 ? relus : options.depth;
    if (o != -1 && (o < std::ptrdiff_t(relus - depth) || o >= std::ptrdiff_t(relus)))
      throw_range("decompose.layer " + std::to_string(o) + " is not a path layer (path layers: ordinals " +
                  std::to_string(relus - depth) + " to " + std::to_string(relus - 1) + ")");
    if (options.decompose.by == DecomposeOptions::By::Top && options.decompose.top == 0)
      throw_range("decompose.by.top must be >= 1");
  }
  if (options.paths.k > 0) {
    if (options.paths.k > 100000) throw_range("paths.k must be at most 100000");
    if (options.paths.beam == 0) throw_range("paths.beam must be >= 1");
    const std::size_t depth = options.depth == 0 ? relus : options.depth;
    const auto& layers = net.layers();
    for (std::size_t i = net.relu_positions()[relus - depth] + 1; i < layers.size(); ++i)
      if (layers[i].inputs.size() != 1 || layers[i].inputs[0] != int(i) - 1)
        throw_range("one-way paths are defined for networks that are a chain above the first path layer "
                    "(layer " + std::to_string(i) + " is a residual join or a branch); use a smaller depth");
  }
  if (std::isnan(options.threshold) || options.threshold >= 1.0f)
    throw_range("threshold must be in [0, 1) (a softmax score), or omitted for 1/C");
  class_chunk_for(net, options);  // throws Error(Memory) when not even one class fits
  if (!options.region.empty() && options.region.size() != n * net.input_size())
    throw_range("region has " + std::to_string(options.region.size()) + " values, expected " +
                std::to_string(n * net.input_size()));
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

std::size_t explain_bytes_per_example(const Network& net, const ExplainOptions& options, std::size_t class_chunk) {
  const auto& layers = net.layers();
  const auto& relus = net.relu_positions();
  const std::size_t depth = options.depth == 0 || options.depth > relus.size() ? relus.size() : options.depth;
  const std::size_t pmin = relus[relus.size() - depth];
  // Per layer: its values, a ReLU's gate or a pool's routing — once for the original forward and
  // once for a gated forward (H1/H4) — and a mask per path layer.
  const std::size_t cached = cached_floats(net);
  // The C-row sweep runs above l_min. In a chain two cotangent blocks are alive at once (a layer
  // and its producer) plus a scratch block; every tensor read by several layers (a residual source)
  // can hold one more while it waits for its last consumer (the fuzzer found a graph of five
  // chained residual joins that kept five alive). Scoring keeps about ten words per unit of a
  // path layer: ChunkedScores' max, first, sum, numerator, all-equal flags (32- and 8-bit) and
  // list of units with exps, and the selection's scores, flags and order (the fuzzer caught the
  // class-major scoring over its estimate when only chunked scoring's five were counted).
  std::size_t widest = 0, shared = 0;
  for (std::size_t i = pmin; i < layers.size(); ++i) {
    widest = std::max(widest, layers[i].out_size());
    if (net.consumers()[i].size() > 1) ++shared;
  }
  const std::size_t blocks = std::max<std::size_t>(3, 2 + shared);
  const std::size_t sweep = sat_add(sat_mul(sat_mul(blocks, class_chunk), widest), sat_mul(10, widest));
  // A region adds a third set: the JVP of x ⊙ mask through the frozen network (values, gates, routing).
  const std::size_t sets = options.region.empty() ? 2 : 3;
  // A conv layer's forward or VJP holds an im2col block and a gathered δ_out block besides
  // (ops::conv_scratch_floats: they grow with the rows up to ~4 MiB each, so per example this
  // over-counts only a chunk of many examples).
  std::size_t scratch = 0;
  for (const Layer& layer : layers) scratch = std::max(scratch, ops::conv_scratch_floats(layer, class_chunk));
  return sat_mul(sizeof(float), sat_add(sat_add(sat_add(sat_mul(sets, cached), sweep), scratch), sat_mul(2, net.num_classes())));
}

std::size_t explain_fixed_bytes(const Network& net) {
  // The sparse paths' list of nonzeros holds at most 1/kSparseDivisor of a layer's input.
  std::size_t widest = net.input_size();
  for (const Layer& layer : net.layers()) widest = std::max(widest, layer.out_size());
  return sat_mul(sizeof(float), widest / ops::kSparseDivisor + 1);
}

std::size_t explain_chunk_examples(const Network& net, const ExplainOptions& options, std::size_t per_example) {
  // class_chunk_for has checked that one example and the fixed part fit.
  const std::size_t fixed = explain_fixed_bytes(net);
  return std::max<std::size_t>(1, (options.max_memory_bytes - std::min(fixed, options.max_memory_bytes)) / per_example);
}

std::size_t class_chunk_for(const Network& net, const ExplainOptions& options) {
  const std::size_t classes = net.num_classes(), fixed = explain_fixed_bytes(net);
  const auto bytes = [&](std::size_t chunk) { return sat_add(explain_bytes_per_example(net, options, chunk), fixed); };
  if (bytes(classes) <= options.max_memory_bytes) return classes;
  std::size_t lo = 1, hi = classes - 1;
  if (bytes(1) > options.max_memory_bytes)
    throw Error(Error::Kind::Memory,
                "explaining one input needs about " +
                    std::to_string(sat_add(bytes(1), (1 << 20) - 1) >> 20) +
                    " MiB of working memory even one class at a time, above maxMemoryBytes = " +
                    std::to_string(options.max_memory_bytes) + " bytes; raise maxMemoryBytes or use a smaller depth");
  while (lo < hi) {  // the largest chunk that fits
    const std::size_t mid = (lo + hi + 1) / 2;
    if (bytes(mid) <= options.max_memory_bytes) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

namespace {

// State shared by both semantics while one chunk is explained.
struct Chunk {
  const Network& net;
  const float* x;
  std::size_t n;
  const ExplainOptions& opt;
  const float* region;  // this chunk's part of opt.region (n × d), or null
  ExplainResult* results;
  std::size_t class_chunk;  // < classes: score in class chunks (memory-bounded mode)
  std::size_t held = 0;     // bytes of cached activations the chunk keeps (the estimate's 2 or 3 × cached)
  std::size_t classes, depth, first_path, top;
  std::vector<std::size_t> target;
  Activations orig;  // H0 / L0: the original forward
  Activations tau;   // with a region: the JVP of x ⊙ mask through the frozen original network
  Frozen frozen;     // the frozen network the sweeps run through
  std::vector<std::vector<float>> mask_store;     // path layer → n × N_l selection (or gate)
  std::vector<const float*> masks;                // what forward passes apply at path layers
  Sweep sweep;
  float threshold;
  ChunkedScores score_work;
  std::vector<float> scores;
  std::vector<std::uint8_t> identical;
  std::vector<std::int32_t> order;

  Chunk(const Network& net_, const float* x_, std::size_t n_, const ExplainOptions& opt_, const float* region_,
        std::size_t opt_class_chunk, const std::int32_t* targets, ExplainResult* results_)
      : net(net_), x(x_), n(n_), opt(opt_), region(region_), results(results_), class_chunk(opt_class_chunk) {
    const auto& layers = net.layers();
    const auto& relus = net.relu_positions();
    classes = net.num_classes();
    depth = opt.depth == 0 ? relus.size() : opt.depth;
    first_path = relus.size() - depth;
    top = relus.size() - 1;
    threshold = opt.threshold < 0.0f ? 1.0f / float(classes) : opt.threshold;
    held = sat_mul(n, sat_mul((opt.region.empty() ? 2 : 3) * sizeof(float), cached_floats(net)));
    // Values below the lowest path layer are read only at its producer (ζ, decompositions), so
    // the pre-activations of lower ReLUs need not be kept.
    forward_original(net, x, n, orig, relus[first_path]);
    const std::vector<float>& logits = orig.values.back();
    target.resize(n);
    for (std::size_t e = 0; e < n; ++e) {
      ExplainResult& r = results[e];
      r.logits.assign(logits.begin() + e * classes, logits.begin() + (e + 1) * classes);
      r.predicted = std::int32_t(argmax_first(r.logits.data(), classes));
      r.target = targets ? targets[e] : r.predicted;
      target[e] = std::size_t(r.target);
      r.layers.resize(depth);
      r.recomputes = 0;
      r.class_chunk = opt_class_chunk;
    }
    const std::size_t count = layers.size();
    frozen.gates.assign(count, nullptr);
    frozen.winners.assign(count, nullptr);
    for (std::size_t i = 0; i < count; ++i) {
      if (layers[i].kind == LayerKind::Relu) frozen.gates[i] = orig.gates[i].data();
      if (layers[i].kind == LayerKind::MaxPool) frozen.winners[i] = orig.winners[i].data();
    }
    mask_store.resize(count);
    masks.assign(count, nullptr);
    if (!opt.region.empty()) {
      const std::size_t d = net.input_size();
      std::vector<float> v(n * d);
      for (std::size_t q = 0; q < v.size(); ++q) v[q] = x[q] * region[q];
      jvp_frozen(net, orig, v.data(), n, tau);
    }
  }

  // J_l from the logits: an identity seed of the class rows [c0, c1) (default all C) per example
  // through every layer above l.
  void sweep_from_logits(std::size_t p, std::size_t c0 = 0, std::size_t c1 = 0) {
    if (c1 == 0) c1 = classes;
    const std::size_t count = net.layers().size(), cc = c1 - c0;
    sweep.reset(net, n * cc, cc);
    std::vector<float>& seed = sweep.cot[count - 1];
    seed.assign(n * cc * classes, 0.0f);
    for (std::size_t e = 0; e < n; ++e)
      for (std::size_t c = 0; c < cc; ++c) seed[(e * cc + c) * classes + c0 + c] = 1.0f;
    sweep_back(net, frozen, sweep, p + 1, count);
  }

  // Steps 5–11 of the reference at path layer `o` (layer index p), from (h_l, J_l) = (the original
  // activation, the sweep's cotangent at p). Returns the n × N_l 0/1 selection.
  std::vector<float>& select(std::size_t o, std::size_t p) {
    const std::size_t units = net.layers()[p].out_size();
    // The unit's activation, or with a region the part of it that flows from the region (§7.2).
    const std::vector<float>& h = opt.region.empty() ? orig.values[p] : tau.values[p];
    std::vector<float>& mask = mask_store[p];
    mask.assign(n * units, 0.0f);
    std::vector<ChunkedScores> chunked;
    if (class_chunk < classes) {
      // Memory-bounded: two sweeps from the logits per class chunk (max, then exp-sum).
      chunked.resize(n);
      for (std::size_t e = 0; e < n; ++e) chunked[e].reset(units, classes, target[e]);
      for (int pass = 0; pass < 2; ++pass)
        for (std::size_t c0 = 0; c0 < classes; c0 += class_chunk) {
          const std::size_t c1 = std::min(classes, c0 + class_chunk), cc = c1 - c0;
          sweep_from_logits(p, c0, c1);
          std::vector<float>& jac = sweep.cot[p];
          if (jac.empty()) jac.assign(n * cc * units, 0.0f);
          for (std::size_t e = 0; e < n; ++e) {
            const float* he = h.data() + e * units;
            const float* je = jac.data() + e * cc * units;
            if (pass == 0) chunked[e].observe_max(he, je, units, c0, c1);
            else chunked[e].observe_exp(he, je, units, c0, c1);
          }
        }
    }
    std::vector<float>& jac = sweep.cot[p];
    if (chunked.empty() && jac.empty()) jac.assign(n * classes * units, 0.0f);  // no route to the logits at all
    for (std::size_t e = 0; e < n; ++e) {
      LayerResult& lr = results[e].layers[o - first_path];
      lr.ordinal = o;
      if (chunked.empty()) {
        select_units(h.data() + e * units, jac.data() + e * classes * units, units, units, classes,
                     target[e], opt.width, threshold, lr.selection, score_work, scores, identical, order);
      } else {
        chunked[e].finish(scores, identical);
        select_from_scores(scores, identical, units, opt.width, threshold, lr.selection, order);
      }
      float* m = mask.data() + e * units;
      for (std::int32_t u : lr.selection.units) m[u] = 1.0f;
    }
    return mask;
  }

  // 'official' steps H1–H3 for every path layer, top-down (SPEC §4.2).
  void select_official() {
    const auto& layers = net.layers();
    const auto& relus = net.relu_positions();
    const std::size_t count = layers.size();
    std::vector<std::vector<std::int32_t>> winner_store(count);
    // pool_after[i]: some MaxPool lies after layer i in topological order (routing can change there).
    std::vector<bool> pool_after(count + 1, false);
    for (std::size_t i = count; i-- > 0;) pool_after[i] = pool_after[i + 1] || layers[i].kind == LayerKind::MaxPool;
    std::vector<std::uint8_t> changed(n);
    std::size_t swept_down_to = count;  // the sweep state holds cotangents for layers < this
    for (std::size_t o = relus.size(); o-- > first_path;) {
      const std::size_t p = relus[o];
      bool recompute = o == top;
      if (o != top && pool_after[p + 1]) {
        // H1: the gated forward above l with the masks chosen so far; pools route on what they get.
        Activations upper;
        forward_range(net, x, n, p + 1, &orig, masks, upper);
        std::fill(changed.begin(), changed.end(), 0);
        for (std::size_t i = p + 1; i < count; ++i) {
          if (layers[i].kind != LayerKind::MaxPool) continue;
          if (i >= swept_down_to) {  // H2: compare with the routing the sweep state was built on
            // A window whose old and new winners are both masked out by the MaskLayer feeding the
            // pool carries no cotangent either way: its change cannot alter J. (Windows of masked
            // zeros route to their first element, so without this rule every step below a pooled
            // path layer would recompute: 16 of 32 steps on the fixture CNN, none needed.)
            const int q = layers[i].inputs[0];
            const float* feed_mask = q >= 0 && layers[std::size_t(q)].kind == LayerKind::Relu ? masks[std::size_t(q)] : nullptr;
            const std::size_t out = layers[i].out_size(), in = layers[i].in_size();
            for (std::size_t e = 0; e < n; ++e) {
              const std::int32_t* now = upper.winners[i].data() + e * out;
              const std::int32_t* before = frozen.winners[i] + e * out;
              const float* m = feed_mask ? feed_mask + e * in : nullptr;
              for (std::size_t w = 0; w < out && !changed[e]; ++w) {
                if (now[w] == before[w]) continue;
                const bool relevant = !m || (now[w] >= 0 && m[now[w]] != 0.0f) || (before[w] >= 0 && m[before[w]] != 0.0f);
                if (relevant) changed[e] = 1;
              }
            }
          }
          winner_store[i] = std::move(upper.winners[i]);
          frozen.winners[i] = winner_store[i].data();
        }
        for (std::size_t e = 0; e < n; ++e)
          if (changed[e]) {
            ++results[e].recomputes;
            recompute = true;
          }
      }
      // (With class chunks, select() sweeps from the logits itself.)
      if (class_chunk == classes) {
        if (recompute)
          sweep_from_logits(p);
        else  // reuse: continue the sweep from the layer above through the block down to h_l
          sweep_back(net, frozen, sweep, p + 1, swept_down_to);
      }
      swept_down_to = p + 1;
      std::vector<float>& mask = select(o, p);
      masks[p] = mask.data();
      frozen.gates[p] = mask.data();  // the ReLU is now the MaskLayer z ↦ m ⊙ z
    }
  }

  // 'linear' steps L1–L3: one incremental sweep through the frozen original network, each path
  // layer's gate becoming m ⊙ φ once selected (SPEC §4.3).
  void select_linear() {
    const auto& relus = net.relu_positions();
    std::size_t swept_down_to = net.layers().size();
    for (std::size_t o = relus.size(); o-- > first_path;) {
      const std::size_t p = relus[o];
      if (class_chunk == classes) {  // (with class chunks, select() sweeps from the logits itself)
        if (o == top)
          sweep_from_logits(p);
        else
          sweep_back(net, frozen, sweep, p + 1, swept_down_to);
      }
      swept_down_to = p + 1;
      std::vector<float>& gate = select(o, p);
      const std::vector<float>& phi = orig.gates[p];
      for (std::size_t q = 0; q < gate.size(); ++q) gate[q] *= phi[q];
      masks[p] = gate.data();
      frozen.gates[p] = gate.data();
    }
  }

  // The frozen network restricted to example e (a sweep of rows that all belong to e).
  Frozen frozen_for(std::size_t e) const {
    Frozen view = frozen;
    const auto& layers = net.layers();
    for (std::size_t i = 0; i < layers.size(); ++i) {
      if (view.gates[i]) view.gates[i] += e * layers[i].out_size();
      if (view.winners[i]) view.winners[i] += e * layers[i].out_size();
    }
    return view;
  }

  // Decompositions and the one-way path search run batched VJPs whose row counts are known only
  // now (live units, groups, surviving nodes), so their working memory is checked here, before it
  // is allocated, against what maxMemoryBytes leaves besides the chunk's cached activations.
  void check_budget(std::size_t need, const char* what, const char* advice) const {
    if (sat_add(held, need) <= opt.max_memory_bytes) return;
    throw Error(Error::Kind::Memory, std::string(what) + " needs about " + std::to_string(sat_add(need, (1 << 20) - 1) >> 20) +
                                         " MiB of working memory besides the " + std::to_string(sat_add(held, (1 << 20) - 1) >> 20) +
                                         " MiB the explanation holds, above maxMemoryBytes = " +
                                         std::to_string(opt.max_memory_bytes) + " bytes; " + advice);
  }

  // Widest activation among layers [0, end) and the input: a VJP of `rows` rows down from layer
  // end − 1 holds at most three blocks of rows × that at once, and the input cotangent.
  std::size_t vjp_bytes(std::size_t rows, std::size_t end) const {
    std::size_t widest = net.input_size(), scratch = 0;
    for (std::size_t i = 0; i < end; ++i) {
      widest = std::max(widest, net.layers()[i].out_size());
      scratch = std::max(scratch, ops::conv_scratch_floats(net.layers()[i], rows));
    }
    return sat_mul(sizeof(float), sat_add(sat_mul(rows, sat_add(sat_mul(3, widest), net.input_size())), scratch));
  }

  static Component single_unit(std::int32_t u) {
    Component c;
    c.units.push_back(u);
    return c;
  }

  // SPEC §6: components of path layer k (ordinal o, layer pk) for example e, all groups as one
  // batched VJP seeded with δ_k ⊙ 1_G at the gate output (the gate applies γ̃_k on the way down).
  void decompose(std::size_t e, std::size_t o, std::size_t pk, const float* delta_all, const float* z_all,
                 double bias_above) {
    const Layer& layer = net.layers()[pk];
    const std::size_t units = layer.out_size(), plane = layer.out_shape.h * layer.out_shape.w;
    const float* delta = delta_all + e * units;
    const float* gate = frozen.gates[pk] + e * units;
    const float* z = z_all + e * units;
    std::vector<double> r(units);
    std::vector<std::int32_t> live;  // units with effective gate 1 (for 'official', pool losers have δ = 0)
    for (std::size_t u = 0; u < units; ++u) {
      r[u] = double(delta[u]) * double(gate[u]) * double(z[u]);
      if (gate[u] != 0.0f) live.push_back(std::int32_t(u));
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

  // Pushes `rows` tangents given at the output of layer `from` through the frozen linear block up
  // to the input of layer `to` (a chain; no biases), for example e. Returns rows × in_size(to).
  std::vector<float> block_jvp(std::size_t e, std::size_t from, std::size_t to, std::vector<float> t,
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
        case LayerKind::Relu:
        case LayerKind::Add:
          throw Error(Error::Kind::Runtime, "internal: a ReLU or join inside a path block");
      }
      t.swap(out);
    }
    return t;
  }

  // SPEC §8: the k best complete one-way paths of example e through the frozen network.
  void one_way_paths(std::size_t e, const std::vector<std::vector<float>>& deltas, double bias_above,
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

  // H4/L4 and H5/L5: the path network's forward from l_min (everything below it is the original
  // network), one VJP of row t per example down to x accumulating b_P[t], the attribution and the
  // completeness residual. 'official' pools route on the masked values; 'linear' pools keep π.
  void finish() {
    const auto& layers = net.layers();
    const std::size_t count = layers.size();
    const std::size_t pmin = net.relu_positions()[first_path];
    const bool linear = opt.semantics == Semantics::Linear;
    Activations fin;
    forward_range(net, x, n, pmin, &orig, masks, fin, linear ? &frozen.winners : nullptr);
    if (!linear)
      for (std::size_t i = pmin; i < count; ++i)
        if (layers[i].kind == LayerKind::MaxPool) frozen.winners[i] = fin.winners[i].data();
    std::vector<double> bias(n, 0.0);
    sweep.reset(net, n, 1);
    std::vector<float>& seed = sweep.cot[count - 1];
    seed.assign(n * classes, 0.0f);
    for (std::size_t e = 0; e < n; ++e) seed[e * classes + target[e]] = 1.0f;
    // Stop the sweep at the ReLU layers whose row-t cotangent δ (at the gate output) and bias so
    // far (the bias entering above) a decomposition or the path search needs.
    const auto& relus = net.relu_positions();
    std::vector<std::size_t> stops;
    const bool decomposing = opt.decompose.by != DecomposeOptions::By::None;
    const std::size_t dec_ordinal = opt.decompose.ordinal < 0 ? top : std::size_t(opt.decompose.ordinal);
    if (decomposing) stops.push_back(relus[dec_ordinal]);
    if (opt.paths.k > 0)
      for (std::size_t o = first_path; o <= top; ++o) stops.push_back(relus[o]);
    std::sort(stops.begin(), stops.end(), std::greater<>());
    stops.erase(std::unique(stops.begin(), stops.end()), stops.end());
    std::vector<std::vector<float>> deltas(count);
    std::vector<std::vector<double>> above(count);
    std::size_t hi = count;
    for (std::size_t p : stops) {
      sweep_back(net, frozen, sweep, p + 1, hi, bias.data());
      deltas[p] = sweep.cot[p];
      if (deltas[p].empty()) deltas[p].assign(n * layers[p].out_size(), 0.0f);
      above[p] = bias;
      hi = p + 1;
    }
    sweep_back(net, frozen, sweep, 0, hi, bias.data());
    if (decomposing) {
      const std::size_t pk = relus[dec_ordinal];
      const int producer = layers[pk].inputs[0];
      const float* z = producer < 0 ? x : (std::size_t(producer) >= pmin ? fin.values[std::size_t(producer)].data()
                                                                         : orig.values[std::size_t(producer)].data());
      for (std::size_t e = 0; e < n; ++e) decompose(e, dec_ordinal, pk, deltas[pk].data(), z, above[pk][e]);
    }
    if (opt.paths.k > 0)
      for (std::size_t e = 0; e < n; ++e) one_way_paths(e, deltas, above[pmin][e], fin);
    const std::size_t d = net.input_size();
    if (sweep.input_cot.empty()) sweep.input_cot.assign(n * d, 0.0f);
    const std::vector<float>& path_logits = fin.values.back();
    for (std::size_t e = 0; e < n; ++e) {
      ExplainResult& r = results[e];
      r.path_logits.assign(path_logits.begin() + e * classes, path_logits.begin() + (e + 1) * classes);
      r.weights.assign(sweep.input_cot.begin() + e * d, sweep.input_cot.begin() + (e + 1) * d);
      r.attribution.resize(d);
      double linear_sum = 0.0;
      for (std::size_t i = 0; i < d; ++i) {
        r.attribution[i] = r.weights[i] * x[e * d + i];
        linear_sum += double(r.weights[i]) * double(x[e * d + i]);
      }
      r.bias = bias[e];
      r.residual = linear_sum + r.bias - double(r.path_logits[target[e]]);
      if (!opt.region.empty()) {
        r.has_region = true;
        r.region_attribution.resize(d);
        r.region_share = 0;
        for (std::size_t i = 0; i < d; ++i) {
          r.region_attribution[i] = r.attribution[i] * region[e * d + i];
          r.region_share += double(r.region_attribution[i]);
        }
      }
    }
  }
};

// Explains examples [0, n) of one chunk (x, region and targets already offset to it); each step's
// Jacobian block is n · C rows.
void explain_chunk(const Network& net, const float* x, std::size_t n, const ExplainOptions& opt, const float* region,
                   std::size_t class_chunk, const std::int32_t* targets, ExplainResult* results) {
  Chunk chunk(net, x, n, opt, region, class_chunk, targets, results);
  if (opt.semantics == Semantics::Linear)
    chunk.select_linear();
  else
    chunk.select_official();
  chunk.finish();
}

struct BatchJob {
  const Network* net;
  const float* x;
  std::size_t n, chunk, class_chunk;
  const ExplainOptions* opt;
  ExplainResult* results;
};

void explain_batch_task(void* ctx, std::size_t t) {
  const BatchJob& j = *static_cast<const BatchJob*>(ctx);
  const std::size_t e0 = t * j.chunk, count = std::min(j.chunk, j.n - e0), d = j.net->input_size();
  explain_chunk(*j.net, j.x + e0 * d, count, *j.opt, j.opt->region.empty() ? nullptr : j.opt->region.data() + e0 * d,
                j.class_chunk, j.opt->targets.empty() ? nullptr : j.opt->targets.data() + e0, j.results + e0);
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
  // Chunk so that the examples explained together stay under the memory bound.
  const std::size_t class_chunk = class_chunk_for(net, options);
  const std::size_t per_example = explain_bytes_per_example(net, options, class_chunk);
  std::size_t chunk = explain_chunk_examples(net, options, per_example);
  // Batch items in parallel: chunks explained on the pool's threads at once, their products
  // serial inside (nested regions are). An example's result does not depend on the chunk it is
  // in, so this changes no bit. Taken when every thread gets two chunks of at least two examples
  // (four chunks per region so a descheduled thread delays little) that fit the memory bound side
  // by side; else chunks run one after another with parallel products.
  // Not with a decomposition or a path search: their working memory is checked at run time
  // against the whole bound, which parallel chunks would each claim (and a smaller share per chunk
  // could make a call's success depend on the thread count).
  const std::size_t threads = threads::pool_size();
  const bool runtime_checked = options.decompose.by != DecomposeOptions::By::None || options.paths.k > 0;
  if (threads > 1 && !threads::in_parallel_region() && n >= 4 * threads && !runtime_checked) {
    const std::size_t fixed = explain_fixed_bytes(net);
    const std::size_t share = options.max_memory_bytes / threads;
    const std::size_t fits = share > fixed ? (share - fixed) / per_example : 0;
    const std::size_t parallel_chunk = std::min(fits, (n + 2 * threads - 1) / (2 * threads));
    if (parallel_chunk >= 2) {
      BatchJob job{&net, x, n, parallel_chunk, class_chunk, &options, results.data()};
      threads::parallel_for((n + parallel_chunk - 1) / parallel_chunk, threads, explain_batch_task, &job);
      return results;
    }
  }
  BatchJob job{&net, x, n, chunk, class_chunk, &options, results.data()};
  for (std::size_t t = 0; t * chunk < n; ++t) explain_batch_task(&job, t);
  return results;
}

}  // namespace pathwise
