// The explain driver: option validation, the per-chunk selection steps ('official' H1–H3,
// 'linear' L1–L3) and the path network's forward and VJP (H4–H5), and the split of a batch into
// chunks that fit the memory bound, run in parallel or one after another.
#include "explain.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>

#include "../forward/forward.h"
#include "../vjp/block_cache.h"
#include "../threads/pool.h"
#include "../util/error.h"
#include "../vjp/vjp.h"
#include "explain_internal.h"

namespace pathwise {

using explain_internal::Chunk;

void validate_options(const Network& net, std::size_t n, const ExplainOptions& options) {
  const std::size_t relus = net.relu_positions().size();
  if (options.depth > relus)
    throw_range("depth " + std::to_string(options.depth) + " exceeds the network's " +
                std::to_string(relus) + " gate layer(s)");
  const WidthRule& w = options.width;
  if (w.mode == WidthRule::Mode::Count && !(w.value >= 1.0 && w.value == std::floor(w.value)))
    throw_range("width must be a whole number of units, at least 1");
  if (w.mode == WidthRule::Mode::Percent && !(w.value > 0.0 && w.value <= 100.0))
    throw_range("width percentage must be in (0, 100]");
  if (options.decompose.by != DecomposeOptions::By::None) {
    const std::ptrdiff_t o = options.decompose.ordinal;
    const std::size_t depth = options.depth == 0 ? relus : options.depth;
    if (o != -1 && (o < std::ptrdiff_t(relus - depth) || o >= std::ptrdiff_t(relus)))
      throw_range("decompose.layer " + std::to_string(o) + " is not a path layer (path layers: ordinals " +
                  std::to_string(relus - depth) + " to " + std::to_string(relus - 1) + ")");
    if (options.decompose.by == DecomposeOptions::By::Top && options.decompose.top == 0)
      throw_range("a decomposition into the top units must keep at least 1 unit");
  }
  if (options.paths.k > 0) {
    if (options.paths.k > 100000) throw_range("the number of one-way paths must be at most 100000");
    if (options.paths.beam == 0) throw_range("the beam of the one-way path search must be at least 1 unit");
    const std::size_t depth = options.depth == 0 ? relus : options.depth;
    const auto& layers = net.layers();
    for (std::size_t i = net.relu_positions()[relus - depth] + 1; i < layers.size(); ++i)
      if (layers[i].inputs.size() != 1 || layers[i].inputs[0] != int(i) - 1)
        throw_range("one-way paths are defined for networks that are a chain above the first path layer "
                    "(layer " + std::to_string(i) + " is a residual join or a branch); use a smaller depth");
    // The path search multiplies 0/1 gates along a path (docs/method.md §8): a gate with other slopes or
    // constants (docs/semantics.md "Gates beyond ReLU") has no such product.
    for (std::size_t o = relus - depth; o < relus; ++o)
      if (!layers[net.relu_positions()[o]].gate.is_relu())
        throw_range("one-way paths need ReLU path layers (0/1 gates); path layer " + std::to_string(o) +
                    " (layer " + std::to_string(net.relu_positions()[o]) +
                    ") is another piecewise-linear gate; use a depth whose path layers are all ReLU");
  }
  // The research rules (docs/research.md) read all C rows of a layer at once (the class-chunked
  // mode does not apply), and the logSoftmax objective explains a row combination that the
  // row-t decompositions cannot split.
  if (!options.rule.is_reference() && class_chunk_for(net, options) < net.num_classes())
    throw_range("selection rules other than the reference need every class's Jacobian rows in memory; raise maxMemoryBytes");
  if (options.objective != ExplainOptions::Objective::Logit &&
      (options.decompose.by != DecomposeOptions::By::None || options.paths.k > 0))
    throw_range("objective 'logSoftmax' cannot be combined with decompose or paths (they split the target logit)");
  if (std::isnan(options.threshold) || options.threshold >= 1.0f)
    throw_range("threshold must be a number below 1 (a softmax score), or negative for 1/C");
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

namespace explain_internal {
namespace {

// Whether value v of example e at layer q's output can carry cotangent to the layers below it: not
// a unit its MaskLayer drops, nor a Gather's fill (a constant); Gathers and Concats only copy, so
// the question passes to the value they copy. Anything else may carry.
bool carries(const Network& net, const std::vector<const float*>& masks, int q, std::size_t e, std::size_t v) {
  while (q >= 0) {
    const Layer& layer = net.layers()[std::size_t(q)];
    if (layer.kind == LayerKind::Relu) return !masks[std::size_t(q)] || masks[std::size_t(q)][e * layer.out_size() + v] != 0.0f;
    if (layer.kind == LayerKind::Gather) {
      if (layer.map[v] < 0) return false;
      v = std::size_t(layer.map[v]);
      q = layer.inputs[0];
    } else if (layer.kind == LayerKind::Concat) {
      std::size_t j = 0;
      while (v >= net.producer_size(layer.inputs[j])) v -= net.producer_size(layer.inputs[j++]);
      q = layer.inputs[j];
    } else {
      return true;
    }
  }
  return true;
}

}  // namespace

namespace {

// This thread's buffers between calls (Chunk::swap_buffers); `lent` while a Chunk holds them.
thread_local ChunkBuffers t_spare_buffers;
thread_local bool t_spare_lent = false;

// Empties every vector of a (reused) Activations, keeping their storage: a forward pass then
// resizes them from zero, exactly as it would fresh ones.
void clear_keeping_storage(Activations& a) {
  for (auto* group : {&a.values, &a.gates, &a.constants})
    for (std::vector<float>& v : *group) v.clear();
  for (std::vector<std::int32_t>& v : a.winners) v.clear();
}

}  // namespace

void Chunk::swap_buffers(ChunkBuffers& b) {
  std::swap(orig, b.orig);
  std::swap(upper, b.upper);
  std::swap(fin, b.fin);
  std::swap(sweep, b.sweep);
  std::swap(mask_store, b.mask_store);
  std::swap(score_work, b.score_work);
  std::swap(top_work, b.top_work);
  std::swap(scores, b.scores);
  std::swap(identical, b.identical);
  std::swap(order, b.order);
}

Chunk::~Chunk() {
  if (!borrowed) {
    // A large call's forward buffers go to the block cache for the next call's forward (forward.cc
    // size_buffer) instead of back to the OS.
    for (Activations* a : {&orig, &upper, &fin, &tau})
      for (auto* group : {&a->values, &a->gates, &a->constants})
        for (std::vector<float>& v : *group) block_cache::give(v);
    return;
  }
  clear_keeping_storage(orig);
  clear_keeping_storage(upper);
  clear_keeping_storage(fin);
  for (std::vector<float>& m : mask_store) m.clear();
  swap_buffers(t_spare_buffers);
  t_spare_lent = false;
}

Chunk::Chunk(const Network& net_, const float* x_, std::size_t n_, const ExplainOptions& opt_, const float* region_,
             std::size_t opt_class_chunk, const std::int32_t* targets, ExplainResult* results_, bool reuse_buffers)
    : net(net_), x(x_), n(n_), opt(opt_), region(region_), results(results_), class_chunk(opt_class_chunk) {
  if (reuse_buffers && !t_spare_lent) {
    t_spare_lent = borrowed = true;
    swap_buffers(t_spare_buffers);
  } else if (!reuse_buffers && !t_spare_lent) {
    t_spare_buffers = ChunkBuffers();  // a large call: what an earlier small one left is not kept
  }
  const auto& layers = net.layers();
  const auto& relus = net.relu_positions();
  classes = net.num_classes();
  depth = opt.depth == 0 ? relus.size() : opt.depth;
  first_path = relus.size() - depth;
  top = relus.size() - 1;
  threshold = opt.threshold < 0.0f ? 1.0f / float(classes) : opt.threshold;
  full_from = class_chunk < classes ? checkpoint_ordinal(net, opt) : first_path;
  store_floats = class_chunk < classes ? sat_mul(class_chunk, sweep_row_floats(net, relus[first_path])) : 0;
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
  frozen.constants.assign(count, nullptr);
  frozen.winners.assign(count, nullptr);
  for (std::size_t i = 0; i < count; ++i) {
    if (layers[i].kind == LayerKind::Relu) frozen.gates[i] = orig.gates[i].data();
    if (layers[i].kind == LayerKind::Relu && !orig.constants[i].empty()) frozen.constants[i] = orig.constants[i].data();
    if (layers[i].kind == LayerKind::MaxPool) frozen.winners[i] = orig.winners[i].data();
  }
  mask_store.resize(count);
  masks.assign(count, nullptr);
  constant_store.resize(count);
  mask_constants.assign(count, nullptr);
  if (!opt.region.empty()) {
    const std::size_t d = net.input_size();
    std::vector<float> v(n * d);
    for (std::size_t q = 0; q < v.size(); ++q) v[q] = x[q] * region[q];
    jvp_frozen(net, orig, v.data(), n, tau);
  }
}

// J_l from the logits: an identity seed of all C class rows per example through every layer above l.
void Chunk::sweep_from_logits(std::size_t p, std::size_t lo) {
  const std::size_t count = net.layers().size();
  sweep.reset(net, n * classes, classes);
  std::vector<float>& seed = sweep.cot[count - 1];
  sweep.take(seed, n * classes * classes, true);
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t c = 0; c < classes; ++c) seed[(e * classes + c) * classes + c] = 1.0f;
  sweep_back(net, frozen, sweep, lo ? lo : p + 1, count);
}

void Chunk::enter_class_chunks() {
  entered_chunks = true;
  // The state holds the cotangents below the lowest full step (ordinal full_from), if any ran.
  checkpoint_valid = full_from < net.relu_positions().size();
  checkpoint_hi = checkpoint_valid ? net.relu_positions()[full_from] + 1 : net.layers().size();
  sweep.trim();  // its spare blocks are not needed again until finish()
}

// Class rows [c0, c1) of every example: a slice of the checkpoint's rows swept on down to p (the
// same rows the full sweep would hold: a row's arithmetic never depends on the other rows), or an
// identity seed of those classes swept from the logits.
void Chunk::sweep_class_chunk(std::size_t p, std::size_t c0, std::size_t c1) {
  const auto& layers = net.layers();
  const std::size_t count = layers.size(), cc = c1 - c0;
  class_sweep.reset(net, n * cc, cc);
  if (!checkpoint_valid) {
    std::vector<float>& seed = class_sweep.cot[count - 1];
    class_sweep.take(seed, n * cc * classes, true);
    for (std::size_t e = 0; e < n; ++e)
      for (std::size_t c = 0; c < cc; ++c) seed[(e * cc + c) * classes + c0 + c] = 1.0f;
    sweep_back(net, frozen, class_sweep, p + 1, count);
    return;
  }
  const auto slice = [&](const std::vector<float>& from, std::vector<float>& to, std::size_t size) {
    class_sweep.take(to, n * cc * size, false);
    for (std::size_t e = 0; e < n; ++e)
      std::copy(from.begin() + std::ptrdiff_t((e * classes + c0) * size), from.begin() + std::ptrdiff_t((e * classes + c1) * size),
                to.begin() + std::ptrdiff_t(e * cc * size));
  };
  for (std::size_t i = 0; i < checkpoint_hi; ++i)
    if (!sweep.cot[i].empty()) slice(sweep.cot[i], class_sweep.cot[i], layers[i].out_size());
  if (!sweep.input_cot.empty()) slice(sweep.input_cot, class_sweep.input_cot, net.input_size());
  sweep_back(net, frozen, class_sweep, p + 1, checkpoint_hi);
}

// Steps 5–11 of the reference at path layer `o` (layer index p), from (h_l, J_l) = (the original
// activation, the sweep's cotangent at p). Returns the n × N_l 0/1 selection.
std::vector<float>& Chunk::select(std::size_t o, std::size_t p) {
  const std::size_t units = net.layers()[p].out_size();
  // The unit's activation, or with a region the part of it that flows from the region (§7.2).
  const std::vector<float>& h = opt.region.empty() ? orig.values[p] : tau.values[p];
  std::vector<float>& mask = mask_store[p];
  mask.assign(n * units, 0.0f);
  const bool chunked = o < full_from;
  if (chunked) {
    // Memory-bounded: one sweep per class chunk; a second only for an example whose differing
    // units' contributions did not fit store_floats (ChunkedScores).
    chunked_scores.resize(n);
    for (std::size_t e = 0; e < n; ++e) chunked_scores[e].reset(units, classes, target[e], store_floats);
    for (int pass = 0; pass < 2; ++pass) {
      bool needed = pass == 0;
      for (std::size_t e = 0; e < n && !needed; ++e) needed = !chunked_scores[e].stored();
      if (!needed) break;
      for (std::size_t c0 = 0; c0 < classes; c0 += class_chunk) {
        if (watch) watch->check();
        const std::size_t c1 = std::min(classes, c0 + class_chunk), cc = c1 - c0;
        sweep_class_chunk(p, c0, c1);
        std::vector<float>& jac = class_sweep.cot[p];
        if (jac.empty()) class_sweep.take(jac, n * cc * units, true);  // no route to the logits
        for (std::size_t e = 0; e < n; ++e) {
          const float* he = h.data() + e * units;
          const float* je = jac.data() + e * cc * units;
          if (pass == 0) chunked_scores[e].observe(he, je, units, c0, c1);
          else if (!chunked_scores[e].stored()) chunked_scores[e].observe_exp(he, je, units, c0, c1);
        }
      }
    }
  }
  if (pooled_step && select_pooled(o, p, h, mask)) return mask;
  if (pooled_step) {  // the pool's VJP after all: the scattered J for select_units
    sweep_back(net, frozen, sweep, p + 1, p + 2);
    pool_swept = true;
  }
  std::vector<float>& jac = sweep.cot[p];
  if (!chunked && jac.empty()) sweep.take(jac, n * classes * units, true);  // no route to the logits at all
  for (std::size_t e = 0; e < n; ++e) {
    LayerResult& lr = results[e].layers[o - first_path];
    lr.ordinal = o;
    if (!chunked && !opt.rule.is_reference()) {
      select_units_by_rule(h.data() + e * units, jac.data() + e * classes * units, units, units, classes,
                           target[e], opt.width, threshold, opt.rule, lr.selection, score_work, scores, identical, order);
    } else if (!chunked) {
      select_units(h.data() + e * units, jac.data() + e * classes * units, units, units, classes,
                   target[e], opt.width, threshold, lr.selection, score_work, scores, identical, order, &top_work);
    } else {
      chunked_scores[e].finish(scores, identical);
      select_from_scores(scores, identical, units, opt.width, threshold, lr.selection, order);
    }
    float* m = mask.data() + e * units;
    for (std::int32_t u : lr.selection.units) m[u] = 1.0f;
  }
  return mask;
}

// Whether path layer o (layer p) is selected from its max pool's output cotangent
// (select_units_pooled): the ReLU's only consumer is a max pool whose windows do not overlap or pad,
// so each unit's column of J is zero or one window's. Then the sweep stops above the pool, and the
// pool's VJP, which zero-fills and scatters the C × N_l block (on the toy CIFAR CNN's first layer
// 10 × 28,800 floats, ~5 % of an explanation), runs only if a lower path layer needs it.
bool Chunk::pooled(std::size_t o, std::size_t p) const {
  const auto& layers = net.layers();
  if (o < full_from || !opt.rule.is_reference() || p + 1 >= layers.size()) return false;
  const Layer& pool = layers[p + 1];
  const Window& w = pool.window;
  return pool.kind == LayerKind::MaxPool && pool.inputs.size() == 1 && pool.inputs[0] == int(p) &&
         net.consumers()[p].size() == 1 && net.consumers()[p][0] == p + 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 &&
         w.pr == 0 && w.sh >= (w.kh - 1) * w.dh + 1 && w.sw >= (w.kw - 1) * w.dw + 1 &&
         pooled_select_applies(opt.width, layers[p].out_size());
}

// select() for a pooled layer, from the sweep's cotangent at the pool's output and its frozen
// winners. False (nothing selected) when some example needs the scattered J after all.
bool Chunk::select_pooled(std::size_t o, std::size_t p, const std::vector<float>& h, std::vector<float>& mask) {
  const std::size_t units = net.layers()[p].out_size(), columns = net.layers()[p + 1].out_size();
  const std::vector<float>& cot = sweep.cot[p + 1];
  if (cot.empty()) return false;  // no route to the logits: the scattered path handles it
  pooled_h.resize(columns);
  for (std::size_t e = 0; e < n; ++e) {
    const std::int32_t* ids = frozen.winners[p + 1] + e * columns;
    for (std::size_t w = 0; w < columns; ++w) {
      if (ids[w] < 0) return false;
      pooled_h[w] = h[e * units + std::size_t(ids[w])];
    }
    LayerResult& lr = results[e].layers[o - first_path];
    lr.ordinal = o;
    if (!select_units_pooled(pooled_h.data(), cot.data() + e * classes * columns, columns, columns, ids, units, classes,
                             target[e], opt.width, threshold, lr.selection, top_work))
      return false;
  }
  for (std::size_t e = 0; e < n; ++e) {
    float* m = mask.data() + e * units;
    for (std::int32_t u : results[e].layers[o - first_path].selection.units) m[u] = 1.0f;
  }
  return true;
}

// 'official' steps H1–H3 for every path layer, top-down (docs/method.md §4.2).
void Chunk::select_official() {
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
    if (watch) watch->check();
    const std::size_t p = relus[o];
    bool recompute = o == top;
    // Layers below the path layer above (l′) see no mask yet: they hold the original values and
    // routing, so H1 starts at l′ and reads them from `orig` (on the Fashion CNN it skipped a max
    // pool and a conv per step, 6 % of an explanation).
    const std::size_t first_masked = o == top ? count : relus[o + 1];
    if (o != top && pool_after[first_masked]) {
      // H1: the gated forward above l with the masks chosen so far; pools route on what they get.
      clear_keeping_storage(upper);
      forward_range(net, x, n, first_masked, &orig, masks, upper, nullptr, true, 0, &mask_constants);
      std::fill(changed.begin(), changed.end(), 0);
      for (std::size_t i = first_masked; i < count; ++i) {
        if (layers[i].kind != LayerKind::MaxPool) continue;
        if (i >= swept_down_to) {  // H2: compare with the routing the sweep state was built on
          // A window whose old and new winners are both masked out by the MaskLayer feeding the
          // pool carries no cotangent either way: its change cannot alter J. (Windows of masked
          // zeros route to their first element, so without this rule every step below a pooled
          // path layer would recompute: 16 of 32 steps on the fixture CNN, none needed.)
          const int q = layers[i].inputs[0];
          const float* feed_mask = q >= 0 && layers[std::size_t(q)].kind == LayerKind::Relu ? masks[std::size_t(q)] : nullptr;
          // A pool that reads a Gather or Concat: the same rule, asked of the values they copy.
          const bool copies = q >= 0 && (layers[std::size_t(q)].kind == LayerKind::Gather || layers[std::size_t(q)].kind == LayerKind::Concat);
          const std::size_t out = layers[i].out_size(), in = layers[i].in_size();
          for (std::size_t e = 0; e < n; ++e) {
            const std::int32_t* now = upper.winners[i].data() + e * out;
            const std::int32_t* before = frozen.winners[i] + e * out;
            const float* m = feed_mask ? feed_mask + e * in : nullptr;
            for (std::size_t w = 0; w < out && !changed[e]; ++w) {
              if (now[w] == before[w]) continue;
              if (copies) {
                if ((now[w] >= 0 && carries(net, masks, q, e, std::size_t(now[w]))) ||
                    (before[w] >= 0 && carries(net, masks, q, e, std::size_t(before[w]))))
                  changed[e] = 1;
                continue;
              }
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
    pooled_step = pooled(o, p);
    pool_swept = false;
    const std::size_t stop = pooled_step ? p + 2 : p + 1;  // pooled: the sweep stops above the pool
    if (o >= full_from) {
      if (recompute)
        sweep_from_logits(p, stop);
      else  // reuse: continue the sweep from the layer above through the block down to h_l
        sweep_back(net, frozen, sweep, stop, swept_down_to);
    } else {  // class chunks: select() sweeps them, from the checkpoint while its routing holds
      if (!entered_chunks) enter_class_chunks();
      if (recompute) checkpoint_valid = false;
    }
    swept_down_to = stop;
    std::vector<float>& mask = select(o, p);
    masks[p] = mask.data();
    frozen.gates[p] = mask.data();  // the ReLU is now the MaskLayer z ↦ m ⊙ z
    freeze_gate_piece(p, /*official=*/true);
    // The pool's VJP with the routing the unpooled flow used (the pool's winners change only in
    // the next step's H1), for the path layers below; the same cotangents, split in two calls.
    if (pooled_step && !pool_swept && o > first_path) {
      sweep_back(net, frozen, sweep, p + 1, p + 2);
      pool_swept = true;
    }
    if (pool_swept) swept_down_to = p + 1;
    pooled_step = false;
    if (watch) watch->step();
  }
}

// A non-ReLU gate's kept units keep their piece at x (docs/semantics.md "Gates beyond ReLU"): the
// 0/1 selection in mask_store[p] becomes m ⊙ s (for 'official', a zero piece s = c = 0 passes z
// with slope 1) and the constants m ⊙ c. ReLU layers keep their 0/1 masks and have no constants.
void Chunk::freeze_gate_piece(std::size_t p, bool official) {
  frozen.constants[p] = mask_constants[p] = nullptr;
  if (net.layers()[p].gate.is_relu()) return;
  std::vector<float>& mask = mask_store[p];
  const std::vector<float>& s = orig.gates[p];
  const std::vector<float>& c = orig.constants[p];
  std::vector<float>& kept = constant_store[p];
  kept.assign(c.empty() ? 0 : mask.size(), 0.0f);
  for (std::size_t q = 0; q < mask.size(); ++q) {
    const float cq = c.empty() ? 0.0f : c[q];
    if (!kept.empty()) kept[q] = mask[q] * cq;
    mask[q] *= official && s[q] == 0.0f && cq == 0.0f ? 1.0f : s[q];
  }
  if (!kept.empty()) frozen.constants[p] = mask_constants[p] = kept.data();
}

// 'linear' steps L1–L3: one incremental sweep through the frozen original network, each path
// layer's gate becoming m ⊙ φ once selected (docs/method.md §4.3).
void Chunk::select_linear() {
  const auto& relus = net.relu_positions();
  std::size_t swept_down_to = net.layers().size();
  for (std::size_t o = relus.size(); o-- > first_path;) {
    if (watch) watch->check();
    const std::size_t p = relus[o];
    if (o >= full_from) {
      if (o == top)
        sweep_from_logits(p);
      else
        sweep_back(net, frozen, sweep, p + 1, swept_down_to);
    } else if (!entered_chunks) {  // class chunks: select() sweeps them from the checkpoint
      enter_class_chunks();
    }
    swept_down_to = p + 1;
    std::vector<float>& gate = select(o, p);
    if (net.layers()[p].gate.is_relu()) {
      const std::vector<float>& phi = orig.gates[p];
      for (std::size_t q = 0; q < gate.size(); ++q) gate[q] *= phi[q];
    }
    freeze_gate_piece(p, /*official=*/false);
    masks[p] = gate.data();
    frozen.gates[p] = gate.data();
    if (watch) watch->step();
  }
}

// The frozen network restricted to example e (a sweep of rows that all belong to e).
Frozen Chunk::frozen_for(std::size_t e) const {
  Frozen view = frozen;
  const auto& layers = net.layers();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    if (view.gates[i]) view.gates[i] += e * layers[i].out_size();
    if (view.constants[i]) view.constants[i] += e * layers[i].out_size();
    if (view.winners[i]) view.winners[i] += e * layers[i].out_size();
  }
  return view;
}

// H4/L4 and H5/L5: the path network's forward from l_min (everything below it is the original
// network), one VJP of row t per example down to x accumulating b_P[t], the attribution and the
// completeness residual. 'official' pools route on the masked values; 'linear' pools keep π.
void Chunk::finish() {
  const auto& layers = net.layers();
  const std::size_t count = layers.size();
  const std::size_t pmin = net.relu_positions()[first_path];
  const bool linear = opt.semantics == Semantics::Linear;
  clear_keeping_storage(fin);
  forward_range(net, x, n, pmin, &orig, masks, fin, linear ? &frozen.winners : nullptr, true, 0, &mask_constants);
  if (!linear)
    for (std::size_t i = pmin; i < count; ++i)
      if (layers[i].kind == LayerKind::MaxPool) frozen.winners[i] = fin.winners[i].data();
  std::vector<double> bias(n, 0.0);
  class_sweep = Sweep();
  std::vector<ChunkedScores>().swap(chunked_scores);
  sweep.reset(net, n, 1);
  // The original values below the lowest path layer are read again only by a decomposition (its
  // producer) or the one-way path search (ζ); otherwise their buffers become the final sweep's
  // cotangents, which were fresh blocks page-faulted in on every call: 7 K fewer page faults
  // (28 MB) a call on VGG16 at width 64 depth 5 (perf stat); faults and their zeroing were ~2 % of
  // its explanation at 1 thread and more at 2, where they run on one core (perf).
  // Not for a call on this thread's kept buffers (`borrowed`): its `orig` is kept for the next
  // call already, and the sweep, kept too, would gain the forward's fresh buffers as spares on
  // every call (a spare list that grew without bound made each call slower and RSS grow by ~0.8 kB
  // a call: test/reliability-leaks.test.ts).
  if (!borrowed && opt.decompose.by == DecomposeOptions::By::None && opt.paths.k == 0)
    for (std::size_t i = 0; i < pmin; ++i) sweep.release(orig.values[i]);
  std::vector<float>& seed = sweep.cot[count - 1];
  sweep.take(seed, n * classes, true);
  const bool log_softmax = opt.objective == ExplainOptions::Objective::LogSoftmax;
  // LogSoftmax seeds e_t − p̂ (p̂ = softmax of the path logits, in double) instead of e_t.
  std::vector<double> objective_value(n, 0.0);
  for (std::size_t e = 0; e < n; ++e) {
    const float* yl = fin.values.back().data() + e * classes;
    objective_value[e] = yl[target[e]];
    if (!log_softmax) {
      seed[e * classes + target[e]] = 1.0f;
      continue;
    }
    double top_logit = yl[0], sum = 0.0;
    for (std::size_t c = 1; c < classes; ++c) top_logit = std::max(top_logit, double(yl[c]));
    for (std::size_t c = 0; c < classes; ++c) sum += std::exp(double(yl[c]) - top_logit);
    for (std::size_t c = 0; c < classes; ++c) {
      const float pc = float(std::exp(double(yl[c]) - top_logit) / sum);
      seed[e * classes + c] = (c == target[e] ? 1.0f : 0.0f) - pc;
    }
    // Σ_c seed_c ŷ_c with the float32 seed actually used, so the residual shows rounding only.
    double value = 0.0;
    for (std::size_t c = 0; c < classes; ++c) value += double(seed[e * classes + c]) * double(yl[c]);
    objective_value[e] = value;
  }
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
    r.residual = linear_sum + r.bias - objective_value[e];
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

void Watch::check() const {
  if (opt.cancel && opt.cancel->load(std::memory_order_relaxed))
    throw Error(Error::Kind::Cancelled, "the explanation was cancelled");
}

void Watch::step() {
  if (opt.progress) {
    std::lock_guard<std::mutex> hold(lock);
    opt.progress(++done, total);
  }
  check();
}

}  // namespace explain_internal

namespace {

using explain_internal::Watch;

// Explains examples [0, n) of one chunk (x, region and targets already offset to it); each step's
// Jacobian block is n · C rows.
void explain_chunk(const Network& net, const float* x, std::size_t n, const ExplainOptions& opt, const float* region,
                   std::size_t class_chunk, const std::int32_t* targets, ExplainResult* results, Watch* watch,
                   bool reuse_buffers) {
  if (watch) watch->check();
  Chunk chunk(net, x, n, opt, region, class_chunk, targets, results, reuse_buffers);
  chunk.watch = watch;
  if (opt.semantics == Semantics::Linear)
    chunk.select_linear();
  else
    chunk.select_official();
  chunk.finish();
  if (watch) watch->step();
}

struct BatchJob {
  const Network* net;
  const float* x;
  std::size_t n, chunk, class_chunk;
  const ExplainOptions* opt;
  ExplainResult* results;
  Watch* watch;
  bool reuse_buffers;
};

void explain_batch_task(void* ctx, std::size_t t) {
  const BatchJob& j = *static_cast<const BatchJob*>(ctx);
  const std::size_t e0 = t * j.chunk, count = std::min(j.chunk, j.n - e0), d = j.net->input_size();
  explain_chunk(*j.net, j.x + e0 * d, count, *j.opt, j.opt->region.empty() ? nullptr : j.opt->region.data() + e0 * d,
                j.class_chunk, j.opt->targets.empty() ? nullptr : j.opt->targets.data() + e0, j.results + e0, j.watch,
                j.reuse_buffers);
}

// How explain() splits n examples: `chunk` examples at a time, in parallel on the pool or not.
struct ChunkPlan {
  std::size_t class_chunk, chunk;
  bool parallel;
};

ChunkPlan plan_chunks(const Network& net, std::size_t n, const ExplainOptions& options) {
  // Chunk so that the examples explained together stay under the memory bound.
  const std::size_t class_chunk = class_chunk_for(net, options);
  const std::size_t per_example = explain_bytes_per_example(net, options, class_chunk);
  const std::size_t chunk = explain_chunk_examples(net, options, per_example);
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
    // (Chunks of one example are enough when the cache cap of explain_chunk_examples is what
    // limits them: each is then a whole example's work.)
    const std::size_t parallel_chunk = std::min({fits, chunk, (n + 2 * threads - 1) / (2 * threads)});
    if (parallel_chunk >= std::min<std::size_t>(2, chunk)) return {class_chunk, parallel_chunk, true};
  }
  return {class_chunk, chunk, false};
}

// Multiply-accumulates of one example's forward pass (dense: out × in; conv: the weights per output
// position), the scale of an explanation's products.
double forward_macs(const Network& net) {
  double macs = 0;
  for (const Layer& l : net.layers()) {
    if (l.kind == LayerKind::Dense) macs += double(l.weights.size());
    if (l.kind == LayerKind::Conv) macs += double(l.weights.size()) * double(l.out_shape.h) * double(l.out_shape.w);
  }
  return macs;
}

// Chunks whose working memory is at most this leave their buffers to the thread's next call.
constexpr std::size_t kKeepBytes = std::size_t(32) << 20;

// Below this many forward MACs per call, explain runs serially (see explain()).
constexpr double kSerialMacs = 16e6;

std::size_t path_depth(const Network& net, const ExplainOptions& options) {
  const std::size_t relus = net.relu_positions().size();
  return options.depth == 0 || options.depth > relus ? relus : options.depth;
}

}  // namespace

std::size_t explain_progress_total(const Network& net, std::size_t n, const ExplainOptions& options) {
  const ChunkPlan plan = plan_chunks(net, n, options);
  return (n + plan.chunk - 1) / plan.chunk * (path_depth(net, options) + 1);
}

std::vector<ExplainResult> explain(const Network& net, const float* x, std::size_t n,
                                   const ExplainOptions& options) {
  validate_options(net, n, options);
  std::vector<ExplainResult> results(n);
  const std::size_t d = net.input_size();
  for (std::size_t i = 0; i < n * d; ++i)
    if (!std::isfinite(x[i]))
      throw_range("input " + std::to_string(i / d) + " has a non-finite value at index " +
                  std::to_string(i % d));
  const ChunkPlan plan = plan_chunks(net, n, options);
  const std::size_t chunks = (n + plan.chunk - 1) / plan.chunk;
  Watch watch{options, chunks * (path_depth(net, options) + 1)};
  Watch* watching = options.cancel || options.progress ? &watch : nullptr;
  if (watching) watch.check();
  // A chunk's buffers stay with the thread for its next call when they are small (the working
  // memory estimate of one chunk): a batch-1 call then allocates next to nothing.
  const std::size_t chunk_bytes = explain_internal::sat_add(
      explain_internal::sat_mul(plan.chunk, explain_bytes_per_example(net, options, plan.class_chunk)), explain_fixed_bytes(net));
  BatchJob job{&net, x, n, plan.chunk, plan.class_chunk, &options, results.data(), watching, chunk_bytes <= kKeepBytes};
  // A small call runs on this thread alone: its products are too small for a region's wake-up
  // (10–60 µs on these 2-core guests) to pay. The same tasks run in the same order, so the bits do
  // not change. (The toy CIFAR CNN, 5.2 M MAC a forward: 0.80 ms at 1 thread, 0.91 at 2 before.)
  std::optional<threads::SerialScope> serial;
  if (!plan.parallel && double(n) * forward_macs(net) <= kSerialMacs) serial.emplace();
  if (plan.parallel)
    threads::parallel_for(chunks, threads::pool_size(), explain_batch_task, &job);
  else
    for (std::size_t t = 0; t < chunks; ++t) explain_batch_task(&job, t);
  return results;
}

}  // namespace pathwise
