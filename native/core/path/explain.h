// Pathwise explanation of a batch of examples, 'official' (docs/method.md §4.2) or 'linear' (§4.3) semantics.
#pragma once

#include <cstddef>
#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

#include "../ir/network.h"
#include "select.h"

namespace pathwise {

enum class Semantics {
  Official,  // the authors' reference: MaskLayers, pools re-routed on masked values (docs/method.md §4.2)
  Linear,    // the frozen path model: gates m ⊙ φ(z(x)), original routing (docs/method.md §4.3)
};

// Decomposition of the explanation into the contributions of one path layer's units (docs/method.md §6).
struct DecomposeOptions {
  enum class By { None, Unit, Channel, Top };
  By by = By::None;
  std::size_t top = 0;      // By::Top: the m units of largest |r_u|, plus a "rest" group
  std::ptrdiff_t ordinal = -1;  // the path layer (ReLU ordinal); -1 = the top path layer
};

// The top-k complete one-way paths by contribution to the target logit (docs/method.md §8).
struct PathsOptions {
  std::size_t k = 0;  // 0 = off
  bool abs_rank = false;
  // Above this many edges (estimated as Σ |V_j| · |V_j+1|) the search keeps only `beam` nodes per
  // layer (those of largest |unit contribution|) and marks the result inexact.
  std::size_t max_edges = std::size_t(20) << 20;
  std::size_t beam = 256;
};

struct ExplainOptions {
  Semantics semantics = Semantics::Official;
  PathsOptions paths;
  DecomposeOptions decompose;
  // Regional explanation (docs/method.md §7.2): one 0/1 mask over the input per example (n × d), or empty.
  // Units are scored by the part of their evidence that comes from the region, a = J · τ with
  // τ = ∂h/∂x · (x ⊙ mask), instead of a = J · h.
  std::vector<float> region;
  WidthRule width;
  // Score threshold of the selection test s > threshold; negative = the reference's 1/C. 0 keeps
  // every unit whose class contributions are not all identical.
  float threshold = -1.0f;
  // The selection rule (select.h); the default is the reference's. Other rules are research
  // variants (docs/research.md) and need all C Jacobian rows of a layer at once.
  SelectionRule rule;
  // What the path model's row explains. Logit: ŷ_t, row t of W_P (the reference). LogSoftmax: the
  // log-probability log softmax(ŷ)_t of the path network, whose gradient at x is
  // W_Pᵀ(e_t − p̂), p̂ = softmax(ŷ(x)); then Σ attribution + bias = ŷ_t − Σ_j p̂_j ŷ_j.
  enum class Objective { Logit, LogSoftmax };
  Objective objective = Objective::Logit;
  std::size_t depth = 0;  // number of path layers from the top; 0 = all ReLU layers
  // One target per example, or empty: each example's predicted class.
  std::vector<std::int32_t> targets;
  // Bound on the working memory of one call (cached activations, gates, routing, the C-row
  // Jacobian blocks). A batch is cut into chunks of examples that fit; if one example alone does
  // not fit, explain fails with Error(Memory) before allocating anything. 2 GiB: a VGG16-shaped
  // explanation at depth 'all' needs about 0.6 GiB per example (docs/method.md §11.1: J at conv1 is
  // C × 3.2 M floats), so the default lets real models through and stops runaway ones.
  std::size_t max_memory_bytes = std::size_t(2) << 30;
  // Watching and stopping a long call; neither changes any result. When `cancel` is set and becomes
  // true, explain stops at the next layer step (or chunk) and throws Error(Cancelled). `progress`,
  // if set, is called after each layer step with (steps done, steps in the call): a chunk of
  // examples takes one step per path layer plus one for the path network. It may be called from
  // the core's pool threads (chunks explained in parallel), one call at a time.
  const std::atomic<bool>* cancel = nullptr;
  std::function<void(std::size_t done, std::size_t total)> progress;
};

// Steps explain() reports through ExplainOptions::progress for n examples with these options.
std::size_t explain_progress_total(const Network& net, std::size_t n, const ExplainOptions& options);

struct LayerResult {
  std::size_t ordinal = 0;  // which ReLU layer, 0 = nearest the input
  Selection selection;
};

struct Component {
  std::vector<std::int32_t> units;  // the group's units (ascending flat indices)
  std::vector<float> weights;       // W^(G): Σ_u δ_k[u] γ̃_k[u] ∂z_k[u]/∂x
  std::vector<float> attribution;   // W^(G) ⊙ x
  double bias = 0;                  // b^(G): the same through the biases below layer k
  double contribution = 0;          // r_G = Σ_u δ_k[u] γ̃_k[u] z̃_k[u] = W^(G)·x + b^(G)
  bool rest = false;                // the remainder group of a top-m grouping
};

struct Decomposition {
  std::size_t ordinal = 0;
  double bias_above = 0;  // b_{>k}: the row-t bias entering above layer k
  std::vector<Component> components;
};

struct OneWayPath {
  std::vector<std::int32_t> units;  // one unit per path layer, bottom → top
  double contribution = 0;          // c_p = ω_d · Π ω_j · ζ(u_1)
  std::vector<float> weights;       // W_p (input size); W_p·x + b_p = c_p
  double bias = 0;                  // b_p
};

struct OneWayPaths {
  std::vector<OneWayPath> paths;
  double coverage = 0;   // Σ c_p / (ŷ_t − b_{>l_1})
  double bias_above = 0; // b_{>l_1}
  bool exact = true;
};

struct ExplainResult {
  std::int32_t target = 0, predicted = 0;
  std::vector<float> logits;       // original network, C
  std::vector<float> path_logits;  // fully masked network, C
  std::vector<float> weights;      // W_P[t], input size
  std::vector<float> attribution;  // W_P[t] ⊙ x
  double bias = 0;                 // b_P[t]
  double residual = 0;             // W_P[t]·x + b_P[t] − ŷ_t(x) (LogSoftmax: − (ŷ_t − Σ p̂_j ŷ_j))
  std::vector<LayerResult> layers;  // bottom → top
  std::size_t recomputes = 0;
  std::size_t class_chunk = 0;  // classes whose Jacobian rows were held at once (C unless memory-bound)
  bool has_region = false;
  std::vector<float> region_attribution;  // attribution ⊙ mask
  double region_share = 0;                // W_P[t] · (x ⊙ mask)
  bool has_paths = false;
  OneWayPaths paths;
  bool has_decomposition = false;
  Decomposition decomposition;
};

// Validates the options against the network (Error(Range) on a bad depth, width or target) and
// explains n examples laid out back to back in x (n × input size).
std::vector<ExplainResult> explain(const Network& net, const float* x, std::size_t n,
                                   const ExplainOptions& options);

// Working memory of explaining one example with these options, in bytes, when the Jacobian rows
// of `class_chunk` classes are held at once (the estimate the chunking and the memory bound use).
std::size_t explain_bytes_per_example(const Network& net, const ExplainOptions& options, std::size_t class_chunk);

// Working memory one call holds besides its examples' (conv scratch blocks), in bytes.
std::size_t explain_fixed_bytes(const Network& net);

// How many examples explain() takes at once: what fits beside the fixed bytes, and at most about
// 8 MiB of working memory (a cache-sized chunk; memory_budget.cc says why).
std::size_t explain_chunk_examples(const Network& net, const ExplainOptions& options, std::size_t per_example);

// How many classes' Jacobian rows one step holds: all C when one example fits the memory bound,
// else the most that fit beside the steps still swept with all C classes (full_class_ordinal) and
// as many floats again for the contributions the exact chunked score keeps (select.h
// ChunkedScores); Error(Memory) when even one class does not fit.
std::size_t class_chunk_for(const Network& net, const ExplainOptions& options);

// The lowest path ordinal whose step sweeps all C classes at once: the first path layer unless
// class_chunk_for < C. The chunked steps below it sweep each class chunk from the state that step
// left (or from the logits when the ReLU count is returned: none fits).
std::size_t full_class_ordinal(const Network& net, const ExplainOptions& options);

// Throws Error(Range) if the options cannot apply to this network (depth beyond the ReLU count,
// target out of range, width ≤ 0, non-finite). Called by explain; exposed so the addon can reject
// a call before queueing async work.
void validate_options(const Network& net, std::size_t n, const ExplainOptions& options);

}  // namespace pathwise
