// The memory budget of an explanation: the working-memory estimate that sizes chunks of examples
// and of classes, and the run-time checks of the steps whose size is known only as they run.
#include <algorithm>
#include <string>

#include "../forward/forward.h"
#include "../util/error.h"
#include "explain.h"
#include "explain_internal.h"

namespace pathwise {

using explain_internal::sat_add;
using explain_internal::sat_mul;

namespace explain_internal {

// Floats one example keeps for the whole explanation: the input and every layer's values, a gate's
// slopes (and a non-ReLU gate's constants) or a pool's routing besides (the estimate holds two such sets: the original forward and a
// gated one).
std::size_t cached_floats(const Network& net) {
  std::size_t cached = net.input_size();
  for (const Layer& layer : net.layers()) {
    const bool extra = layer.kind == LayerKind::Relu || layer.kind == LayerKind::MaxPool;
    // A gate other than ReLU may keep a constant per unit as well, and a path layer's kept
    // constants besides its mask.
    const bool constants = layer.kind == LayerKind::Relu && !layer.gate.is_relu();
    cached = sat_add(cached, sat_mul(layer.out_size(), extra ? (constants ? 4 : 2) : 1));
  }
  return cached;
}

// Per-row floats of the cotangent buffers a sweep from the logits down to layer lo holds (layers
// [lo, count) processed, lo's output cotangent left): (the most buffers alive at once + 1 for the
// scratch of a fresh product) × the widest of them, at least 3 × widest as in a chain (a layer, its
// producer and a scratch block). The walk is the sweep's own: a buffer lives from the first write
// of a consumer to its layer's turn, so a residual source holds one more while it waits for its
// last consumer, and a Concat hands its producers their parts at once (the fuzzer found a graph of
// five chained residual joins that kept five alive). The Sweep arena (vjp.h) never holds more
// buffers than were alive at once, each at most the widest. On resnet18 this is 3 blocks at the
// first ReLU where counting every residual source above it gave 11.
std::size_t sweep_row_floats(const Network& net, std::size_t lo) {
  const auto& layers = net.layers();
  const std::size_t count = layers.size();
  std::vector<std::uint8_t> alive(count + 1, 0);  // [count]: the input
  alive[count - 1] = 1;
  std::size_t live = 1, most = 1, widest = layers[count - 1].out_size();
  for (std::size_t i = count; i-- > lo;) {
    if (!alive[i]) continue;
    for (int p : layers[i].inputs) {
      std::uint8_t& on = alive[p < 0 ? count : std::size_t(p)];
      if (on) continue;
      on = 1;
      ++live;
      widest = std::max(widest, net.producer_size(p));
    }
    most = std::max(most, live);
    alive[i] = 0;
    --live;
  }
  return sat_mul(std::max<std::size_t>(3, most + 1), widest);
}

namespace {

std::size_t path_min_layer(const Network& net, const ExplainOptions& options) {
  const auto& relus = net.relu_positions();
  const std::size_t depth = options.depth == 0 || options.depth > relus.size() ? relus.size() : options.depth;
  return relus[relus.size() - depth];
}

// Widest layer output in [lo, count).
std::size_t widest_from(const Network& net, std::size_t lo) {
  std::size_t widest = 0;
  for (std::size_t i = lo; i < net.layers().size(); ++i) widest = std::max(widest, net.layers()[i].out_size());
  return widest;
}

// The per-example words every plan holds: the cached activations (two or three sets), the logits
// and path logits, a conv layer's scratch for `rows` rows, and scoring's words per unit of the
// widest path layer: ChunkedScores' max, first, sum, numerator, all-equal flags (32- and 8-bit),
// list of units with exps and unit → column map, and the selection's scores, flags and order (the
// fuzzer caught the class-major scoring over its estimate when only chunked scoring's five were
// counted).
std::size_t base_floats(const Network& net, const ExplainOptions& options, std::size_t rows) {
  const std::size_t sets = options.region.empty() ? 2 : 3;
  std::size_t scratch = 0;
  for (const Layer& layer : net.layers()) scratch = std::max(scratch, ops::conv_scratch_floats(layer, rows));
  const std::size_t scoring = sat_mul(12, widest_from(net, path_min_layer(net, options)));
  return sat_add(sat_add(sat_mul(sets, explain_internal::cached_floats(net)), scratch),
                 sat_add(scoring, sat_mul(2, net.num_classes())));
}

}  // namespace

// With class chunks, the path layers from this ordinal up still sweep all C classes at once (their
// Jacobian blocks fit), and the chunked layers below start each class chunk's sweep from the state
// the lowest of them left (the checkpoint) instead of from the logits. The lowest path layer whose
// C-row sweep fits together with the smallest chunked plan below it (one class, and as much again
// for the kept contributions of ChunkedScores); relus.size() when none fits (chunks then sweep
// from the logits).
std::size_t checkpoint_ordinal(const Network& net, const ExplainOptions& options) {
  const auto& relus = net.relu_positions();
  const std::size_t depth = options.depth == 0 || options.depth > relus.size() ? relus.size() : options.depth;
  const std::size_t first = relus.size() - depth, classes = net.num_classes();
  const std::size_t fixed = explain_fixed_bytes(net);
  const std::size_t chunked = sat_mul(2, sweep_row_floats(net, relus[first]));
  const std::size_t base = base_floats(net, options, classes);
  for (std::size_t o = first + 1; o < relus.size(); ++o) {
    const std::size_t floats = sat_add(sat_add(base, sat_mul(classes, sweep_row_floats(net, relus[o]))), chunked);
    if (sat_add(sat_mul(sizeof(float), floats), fixed) <= options.max_memory_bytes) return o;
  }
  return relus.size();
}

}  // namespace explain_internal

std::size_t explain_bytes_per_example(const Network& net, const ExplainOptions& options, std::size_t class_chunk) {
  using explain_internal::sweep_row_floats;
  const auto& relus = net.relu_positions();
  const std::size_t classes = net.num_classes();
  const std::size_t pmin = explain_internal::path_min_layer(net, options);
  // The C-row sweep runs above l_min (sweep_row_floats); with class chunks, the checkpoint's C
  // rows, a chunk's rows and as many floats again for the contributions ChunkedScores keeps.
  std::size_t sweep;
  bool full_rows = true;
  if (class_chunk >= classes) {
    sweep = sat_mul(classes, sweep_row_floats(net, pmin));
  } else {
    const std::size_t q = explain_internal::checkpoint_ordinal(net, options);
    full_rows = q < relus.size();
    const std::size_t checkpoint = full_rows ? sat_mul(classes, sweep_row_floats(net, relus[q])) : 0;
    sweep = sat_add(checkpoint, sat_mul(2 * class_chunk, sweep_row_floats(net, pmin)));
  }
  // A conv layer's forward or VJP holds an im2col block and a gathered δ_out block besides
  // (ops::conv_scratch_floats: they grow with the rows up to ~4 MiB each, so per example this
  // over-counts only a chunk of many examples). A region adds a third set of cached activations:
  // the JVP of x ⊙ mask through the frozen network (values, gates, routing).
  const std::size_t base = explain_internal::base_floats(net, options, full_rows ? classes : class_chunk);
  return sat_mul(sizeof(float), sat_add(base, sweep));
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
  const std::size_t fits = std::max<std::size_t>(1, (options.max_memory_bytes - std::min(fixed, options.max_memory_bytes)) / per_example);
  // And no more examples than keep a chunk's working set about cache-sized: the sweeps hold n·C
  // rows of the widest path layer, and once those outgrow the caches every example pays for the
  // misses. Fashion CNN (3 MB per example by this estimate), batch of 64 at one thread, CPU time
  // per example against one input at a time: chunks of 1–4 examples 0.90–0.93×, 8 1.04×, 16
  // 1.08×, all 64 at once 1.26–1.45×. A dense network gains from batching (its weights are read
  // once per chunk: the Fashion MLP, 58 KB per example, 0.43–0.53× from 8 examples up) and keeps
  // up to 144 examples per chunk under this cap.
  constexpr std::size_t kChunkCacheBytes = std::size_t(8) << 20;
  return std::min(fits, std::max<std::size_t>(1, kChunkCacheBytes / per_example));
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

std::size_t full_class_ordinal(const Network& net, const ExplainOptions& options) {
  const auto& relus = net.relu_positions();
  const std::size_t depth = options.depth == 0 || options.depth > relus.size() ? relus.size() : options.depth;
  if (class_chunk_for(net, options) >= net.num_classes()) return relus.size() - depth;
  return explain_internal::checkpoint_ordinal(net, options);
}

namespace explain_internal {

// Decompositions and the one-way path search run batched VJPs whose row counts are known only
// now (live units, groups, surviving nodes), so their working memory is checked here, before it
// is allocated, against what maxMemoryBytes leaves besides the chunk's cached activations.
void Chunk::check_budget(std::size_t need, const char* what, const char* advice) const {
  if (sat_add(held, need) <= opt.max_memory_bytes) return;
  throw Error(Error::Kind::Memory, std::string(what) + " needs about " + std::to_string(sat_add(need, (1 << 20) - 1) >> 20) +
                                       " MiB of working memory besides the " + std::to_string(sat_add(held, (1 << 20) - 1) >> 20) +
                                       " MiB the explanation holds, above maxMemoryBytes = " +
                                       std::to_string(opt.max_memory_bytes) + " bytes; " + advice);
}

// Widest activation among layers [0, end) and the input: a VJP of `rows` rows down from layer
// end − 1 holds at most three blocks of rows × that at once, and the input cotangent.
std::size_t Chunk::vjp_bytes(std::size_t rows, std::size_t end) const {
  std::size_t widest = net.input_size(), scratch = 0;
  for (std::size_t i = 0; i < end; ++i) {
    widest = std::max(widest, net.layers()[i].out_size());
    scratch = std::max(scratch, ops::conv_scratch_floats(net.layers()[i], rows));
  }
  return sat_mul(sizeof(float), sat_add(sat_mul(rows, sat_add(sat_mul(3, widest), net.input_size())), scratch));
}

}  // namespace explain_internal
}  // namespace pathwise
