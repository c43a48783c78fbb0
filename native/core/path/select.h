// The reference's unit selection (docs/method.md §3.1 steps 5–11, §3.4–3.6), for one example and one layer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pathwise {

struct WidthRule {
  enum class Mode { All, Count, Percent };
  Mode mode = Mode::All;
  double value = 0;  // k for Count, P for Percent
};

// k for a layer of `units` units (docs/method.md §3.6). Percent: max(1, round((N / 100) · P)) in float64,
// evaluated left to right, rounded half to even as Python's round() does in the reference.
std::size_t width_to_k(const WidthRule& rule, std::size_t units);

struct Selection {
  std::vector<std::int32_t> units;  // ascending
  std::vector<float> scores;        // same order as units
  bool fallback = false;
  std::size_t k = 0;
  std::size_t borderline = 0;
};

// Scores of one example's units computed over class chunks (when C Jacobian rows of a layer do not
// fit in memory at once), bit-identical to the single-pass score (max, then the float32 exp-sum in
// class order). observe() sees each chunk once, in ascending class order: the per-unit maximum, the
// all-identical test, and every class's contribution of the units whose contributions differ (the
// only ones with exps), kept while they fit `store_floats`. finish() then sums their exps in class
// order against the final maximum: the reference's arithmetic, with no second sweep. Should they
// not fit (stored() false), a second pass of observe_exp() over the chunks, in class order, gives
// the same sums. A streamed (online, rescaled) softmax would round differently near the 1/C
// threshold; keeping the contributions costs C floats per differing unit, which on resnet18's first
// layer at depth 'all' is a few percent of its units (the rest are inactive or not reached).
class ChunkedScores {
 public:
  void reset(std::size_t units, std::size_t classes, std::size_t target, std::size_t store_floats = 0);
  // j: rows for classes [c0, c1), row c − c0 at j + (c − c0) · j_stride.
  void observe(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1);
  void observe_max(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1);
  void observe_exp(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1);
  // Whether observe() kept every differing unit's contributions (finish() needs no observe_exp pass).
  bool stored() const { return !overflow_; }
  void finish(std::vector<float>& scores, std::vector<std::uint8_t>& identical);

 private:
  std::size_t units_ = 0, classes_ = 0, target_ = 0, store_limit_ = 0;
  bool overflow_ = false, summed_ = false;
  std::vector<float> max_, first_, sum_, numerator_;
  std::vector<std::uint8_t> identical_;
  std::vector<std::int32_t> same_;    // observe_max's all-equal flags (-1/0), vectorisable
  std::vector<std::uint32_t> live_;  // units whose contributions differ (the only ones with exps)
  std::vector<std::int32_t> slot_;   // unit → its column in store_ (−1: none)
  std::vector<std::uint32_t> stored_units_;  // slot → unit
  std::vector<float> store_;         // slot-major: C contributions per differing unit
};

// Selection from computed scores (width cut, threshold, ties, fallback, borderline count).
void select_from_scores(const std::vector<float>& scores, const std::vector<std::uint8_t>& identical,
                        std::size_t units, const WidthRule& width, float threshold, Selection& out,
                        std::vector<std::int32_t>& order);

// Work buffers of select_units' width-limited path (below), kept across layers and calls.
struct TopScratch {
  std::vector<float> gap;        // per unit: a_t − max_{c≠t} a_c (NaN → +inf)
  std::vector<float> lead;       // per unit: a_t − mean_c a_c plus its rounding bound (NaN → +inf)
  std::vector<float> block_max;  // per block of units: the largest gap and the largest lead
  std::vector<float> group_max, scratch;
  std::vector<std::uint32_t> seed, candidates;
  std::vector<float> seed_scores, candidate_scores;
  std::vector<std::uint8_t> is_seed;
};

// Scores every unit of one example and selects per the reference rules.
//   h: the unit activations (N), j: C rows of the Jacobian, row j at j + class_index · j_stride,
//   target: the class whose softmax entry is the score.
// Work buffers are passed in so a batch reuses them.
//
// With a width k well below N (4k ≤ N) and `top` given, only the units that can reach the top k
// get their C exps: one pass over the C rows gives each unit two exp-free upper bounds on its score
// (from a_t − max_{c≠t} a_c and a_t − mean_c a_c), k seed units get their exact scores, and a unit
// whose bound is below the lowest of those has k units strictly ahead of it. Every other unit is
// scored exactly as before, so the selection (units, scores, fallback, borderline) is the same bits
// as scoring every unit; a core test checks it. On the Fashion CNN the 16th best score is 0.108
// against 1/C = 0.1, and 0–8 units per layer besides the 16 seeds needed their exps.
void select_units(const float* h, const float* j, std::size_t j_stride, std::size_t units,
                  std::size_t classes, std::size_t target, const WidthRule& width,
                  float threshold, Selection& out, ChunkedScores& work, std::vector<float>& scores,
                  std::vector<std::uint8_t>& identical, std::vector<std::int32_t>& order,
                  TopScratch* top = nullptr);

// Whether select_units takes its width-limited path (k ≤ N / 4), and so whether a pooled layer can
// be selected from its pool's output (select_units_pooled).
bool pooled_select_applies(const WidthRule& width, std::size_t units);

// select_units for a layer whose every unit feeds at most one window of a max pool (its only
// consumer): J is zero except at the windows' winners, so it reads the pool's output cotangent, C
// rows of `columns` values (column w: the winner ids[w] of window w, activation h_columns[w]),
// instead of the scattered C × N rows. The same selection as select_units on the scattered J (an
// all-zero column is all-equal; a −0 cotangent entry changes no score). Returns false, having
// selected nothing, when the width-limited path does not apply or cannot prune: the caller then
// scatters J and calls select_units.
bool select_units_pooled(const float* h_columns, const float* j, std::size_t j_stride, std::size_t columns,
                         const std::int32_t* ids, std::size_t units, std::size_t classes, std::size_t target,
                         const WidthRule& width, float threshold, Selection& out, TopScratch& top);

// The reference score of one unit: the maximum over classes, then the float32 exp-sum in class
// order (ChunkedScores' arithmetic); identical: all C contributions are equal (score 1/C).
float unit_score(const float* h, const float* j, std::size_t j_stride, std::size_t classes, std::size_t target,
                 std::size_t u, bool& identical);

// Research selection rules (docs/research.md), beside the reference rule above. The default
// SelectionRule is the reference (explain() then calls select_units, bit for bit); any other rule
// goes through select_units_by_rule.
struct SelectionRule {
  // Softmax: the class softmax of the unit's contributions, entry t (docs/method.md §3.1 step 6).
  // Target: the unit's contribution to the target logit alone, a_it = h_i · J[t, i].
  enum class Score { Softmax, Target };
  // Fixed: keep s > the call's threshold (Softmax: 1/C by default; Target: 0, positive contributors).
  // Adaptive: keep s > the layer's mean score over its live units (Softmax: units whose contributions
  // differ; Target: units with a_it > 0), so each layer keeps its above-average units.
  enum class Threshold { Fixed, Adaptive };
  Score score = Score::Softmax;
  Threshold threshold = Threshold::Fixed;
  // Also keep every unit with a_it < 0 (it opposes the target), whatever the width: masking those
  // units inflates the path logit above the network's.
  bool keep_opposing = false;
  bool is_reference() const { return score == Score::Softmax && threshold == Threshold::Fixed && !keep_opposing; }
};

// select_units under a research rule; `threshold` is the Fixed threshold of a Softmax score (a
// Target score's fixed threshold is 0). j must hold all C rows (the target row for Target scores
// and keep_opposing).
void select_units_by_rule(const float* h, const float* j, std::size_t j_stride, std::size_t units,
                          std::size_t classes, std::size_t target, const WidthRule& width, float threshold,
                          const SelectionRule& rule, Selection& out, ChunkedScores& work,
                          std::vector<float>& scores, std::vector<std::uint8_t>& identical,
                          std::vector<std::int32_t>& order);

}  // namespace pathwise
