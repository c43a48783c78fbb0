#include "select.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../threads/pool.h"

namespace pathwise {

std::size_t width_to_k(const WidthRule& rule, std::size_t units) {
  switch (rule.mode) {
    case WidthRule::Mode::All: return units;
    case WidthRule::Mode::Count:
      if (!(rule.value >= 1.0)) return 1;  // validated at the boundary; never a zero-size cut
      return rule.value >= double(units) ? units : std::size_t(rule.value);
    case WidthRule::Mode::Percent: {
      // nearbyint rounds half to even under the default rounding mode, like Python's round().
      const double k = std::nearbyint(double(units) / 100.0 * rule.value);
      if (k < 1.0) return 1;
      return k >= double(units) ? units : std::size_t(k);
    }
  }
  return units;
}

namespace {

// Sort key: NaN (only from non-finite Jacobians) ranks last instead of breaking the ordering.
inline float rank_key(float s) { return std::isnan(s) ? -std::numeric_limits<float>::infinity() : s; }

}  // namespace

void select_units(const float* h, const float* j, std::size_t j_stride, std::size_t units,
                  std::size_t classes, std::size_t target, const WidthRule& width,
                  float threshold, Selection& out, ChunkedScores& work, std::vector<float>& scores,
                  std::vector<std::uint8_t>& identical, std::vector<std::int32_t>& order) {
  // One chunk of all C classes: the same arithmetic as a per-unit softmax (max, then the float32
  // exp-sum in class order), walked class by class over contiguous Jacobian rows. Per unit, with
  // rows C · 43 KB apart on the Fashion CNN's first layer, it cost 16.5 % of an explanation (perf).
  work.reset(units, classes, target);
  work.observe_max(h, j, j_stride, 0, classes);
  work.observe_exp(h, j, j_stride, 0, classes);
  work.finish(scores, identical);
  select_from_scores(scores, identical, units, width, threshold, out, order);
}

namespace {

// Units are independent, so a split over the pool changes no bit; below this many contributions a
// region's wake-up (tens of µs on these 2-core guests) costs more than it saves.
constexpr std::size_t kParallelWork = std::size_t(1) << 17;

// body(u0, u1) over [0, count) in contiguous ranges, on the pool when count · work_per_item is large.
template <class Body>
void for_ranges(std::size_t count, std::size_t work_per_item, Body&& body) {
  const std::size_t threads = threads::pool_size();
  if (threads == 1 || count < 64 || count * work_per_item < kParallelWork || threads::in_parallel_region()) {
    body(std::size_t(0), count);
    return;
  }
  struct Ctx {
    Body* body;
    std::size_t count, tasks;
  } ctx{&body, count, 4 * threads};
  threads::parallel_for(ctx.tasks, threads, [](void* c, std::size_t t) {
    const Ctx& x = *static_cast<const Ctx*>(c);
    // Ranges of whole 16-unit groups, so every task's loop vectorises the same way.
    const std::size_t groups = (x.count + 15) / 16;
    const std::size_t u0 = std::min(x.count, t * groups / x.tasks * 16), u1 = std::min(x.count, (t + 1) * groups / x.tasks * 16);
    if (u0 < u1) (*x.body)(u0, u1);
  }, &ctx);
}

}  // namespace

void ChunkedScores::reset(std::size_t units, std::size_t classes, std::size_t target, std::size_t store_floats) {
  units_ = units;
  classes_ = classes;
  target_ = target;
  store_limit_ = store_floats;
  overflow_ = store_floats == 0;
  summed_ = false;
  max_.assign(units, -std::numeric_limits<float>::infinity());
  first_.assign(units, 0.0f);
  sum_.assign(units, 0.0f);
  numerator_.assign(units, 0.0f);
  identical_.assign(units, 1);
  same_.assign(units, -1);
  slot_.assign(overflow_ ? 0 : units, -1);
  stored_units_.clear();
  store_.clear();
}

void ChunkedScores::observe_max(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1) {
  // Branch-free over units with 32-bit flags and restrict pointers so that it vectorises (with
  // byte flags, which may alias anything, it ran scalar at 11 % of a Fashion-CNN explanation);
  // `a > max ? a : max` keeps the first of equal maxima and ignores NaN exactly like the scalar
  // `if (a > max) max = a`.
  for_ranges(units_, c1 - c0, [&](std::size_t u0, std::size_t u1) {
    float* __restrict first = first_.data();
    float* __restrict max = max_.data();
    std::int32_t* __restrict same = same_.data();
    const float* __restrict hh = h;
    for (std::size_t c = c0; c < c1; ++c) {
      const float* __restrict row = j + (c - c0) * j_stride;
      if (c == 0) {
        for (std::size_t u = u0; u < u1; ++u) {
          const float a = hh[u] * row[u];
          first[u] = a;
          max[u] = a > max[u] ? a : max[u];
        }
        continue;
      }
      for (std::size_t u = u0; u < u1; ++u) {
        const float a = hh[u] * row[u];
        same[u] &= a == first[u] ? -1 : 0;
        max[u] = a > max[u] ? a : max[u];
      }
    }
    for (std::size_t u = u0; u < u1; ++u) identical_[u] = same_[u] != 0;
  });
}

void ChunkedScores::observe(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1) {
  observe_max(h, j, j_stride, c0, c1);
  if (overflow_) return;
  // Units whose contributions first differed in this chunk get a column; their earlier classes all
  // contributed first[u].
  for (std::size_t u = 0; u < units_; ++u) {
    if (identical_[u] || slot_[u] >= 0) continue;
    if ((stored_units_.size() + 1) * classes_ > store_limit_) {
      overflow_ = true;  // the caller runs the observe_exp pass instead
      std::vector<float>().swap(store_);
      std::vector<std::int32_t>().swap(slot_);
      std::vector<std::uint32_t>().swap(stored_units_);
      return;
    }
    if (store_.capacity() == 0) store_.reserve(std::min(store_limit_, units_ * classes_));
    slot_[u] = std::int32_t(stored_units_.size());
    stored_units_.push_back(std::uint32_t(u));
    store_.resize(stored_units_.size() * classes_);
    std::fill(store_.end() - std::ptrdiff_t(classes_), store_.end() - std::ptrdiff_t(classes_ - c0), first_[u]);
  }
  for_ranges(stored_units_.size(), c1 - c0, [&](std::size_t k0, std::size_t k1) {
    for (std::size_t k = k0; k < k1; ++k) {
      const std::uint32_t u = stored_units_[k];
      float* column = store_.data() + k * classes_;
      const float hu = h[u];
      for (std::size_t c = c0; c < c1; ++c) column[c] = hu * j[(c - c0) * j_stride + u];
    }
  });
}

void ChunkedScores::observe_exp(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1) {
  // Equal contributions give exactly 1/C in float32 (C terms of exp(0) = 1 sum exactly): their
  // exps are skipped. Pool losers and inactive units all land there — 3/4 of the Fashion CNN's
  // first layer.
  live_.clear();
  for (std::size_t u = 0; u < units_; ++u)
    if (!identical_[u]) live_.push_back(std::uint32_t(u));
  for_ranges(live_.size(), c1 - c0, [&](std::size_t k0, std::size_t k1) {
    for (std::size_t c = c0; c < c1; ++c) {
      const float* row = j + (c - c0) * j_stride;
      for (std::size_t k = k0; k < k1; ++k) {
        const std::uint32_t u = live_[k];
        const float e = std::exp(h[u] * row[u] - max_[u]);
        sum_[u] += e;
        if (c == target_) numerator_[u] = e;
      }
    }
  });
  summed_ = true;
}

void ChunkedScores::finish(std::vector<float>& scores, std::vector<std::uint8_t>& identical) {
  if (!summed_ && !overflow_)
    // observe_exp's arithmetic on the kept contributions: exps against the final maximum, summed
    // in class order.
    for_ranges(stored_units_.size(), classes_, [&](std::size_t k0, std::size_t k1) {
      for (std::size_t k = k0; k < k1; ++k) {
        const std::uint32_t u = stored_units_[k];
        const float* column = store_.data() + k * classes_;
        const float m = max_[u];
        float sum = 0.0f, numerator = 0.0f;
        for (std::size_t c = 0; c < classes_; ++c) {
          const float e = std::exp(column[c] - m);
          sum += e;
          if (c == target_) numerator = e;
        }
        sum_[u] = sum;
        numerator_[u] = numerator;
      }
    });
  scores.resize(units_);
  identical = identical_;
  for (std::size_t u = 0; u < units_; ++u)
    scores[u] = identical_[u] ? 1.0f / float(classes_) : numerator_[u] / sum_[u];
}

void select_from_scores(const std::vector<float>& scores, const std::vector<std::uint8_t>& identical,
                        std::size_t units, const WidthRule& width, float threshold, Selection& out,
                        std::vector<std::int32_t>& order) {
  // Ties: score descending, then unit index ascending (docs/method.md §3.5).
  auto before = [&](std::int32_t x, std::int32_t y) {
    const float sx = rank_key(scores[x]), sy = rank_key(scores[y]);
    return sx != sy ? sx > sy : x < y;
  };
  const std::size_t k = width_to_k(width, units);
  // Candidates for the top k: every unit whose contributions differ, and only the first k of the
  // all-equal ones — those share one score (1/C) and rank by index, so any later one has k better
  // units ahead of it. The top k are the same set; nth_element over all 10,816 units of the Fashion
  // CNN's first layer (3/4 of them all-equal) was 5.8 % of an explanation (perf).
  order.clear();
  std::size_t equal_taken = 0;
  for (std::size_t u = 0; u < units; ++u)
    if (!identical[u] || equal_taken++ < k) order.push_back(std::int32_t(u));
  if (k < order.size()) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
  // The first k of the order (in any order) are the candidates; the best of them is the fallback.
  const auto first = order.begin(), last = order.begin() + k;

  const float ulp = std::nextafter(threshold, 2.0f) - threshold;
  out.units.clear();
  out.scores.clear();
  out.k = k;
  out.borderline = 0;
  for (auto it = first; it != last; ++it) {
    const std::int32_t u = *it;
    if (identical[u]) continue;
    if (std::fabs(scores[u] - threshold) <= 4.0f * ulp) ++out.borderline;
    if (scores[u] > threshold) out.units.push_back(u);
  }
  out.fallback = out.units.empty();
  if (out.fallback) out.units.push_back(*std::min_element(first, last, before));
  std::sort(out.units.begin(), out.units.end());
  out.scores.resize(out.units.size());
  for (std::size_t i = 0; i < out.units.size(); ++i) out.scores[i] = scores[out.units[i]];
}

void select_units_by_rule(const float* h, const float* j, std::size_t j_stride, std::size_t units,
                          std::size_t classes, std::size_t target, const WidthRule& width, float threshold,
                          const SelectionRule& rule, Selection& out, ChunkedScores& work,
                          std::vector<float>& scores, std::vector<std::uint8_t>& identical,
                          std::vector<std::int32_t>& order) {
  const float* row_t = j + target * j_stride;
  if (rule.score == SelectionRule::Score::Softmax) {
    work.reset(units, classes, target);
    work.observe_max(h, j, j_stride, 0, classes);
    work.observe_exp(h, j, j_stride, 0, classes);
    work.finish(scores, identical);
  } else {
    // A unit that adds nothing to the target logit is "all equal" for the cut: it ranks by index
    // after every live unit and never passes the test.
    scores.resize(units);
    identical.resize(units);
    for (std::size_t u = 0; u < units; ++u) {
      scores[u] = h[u] * row_t[u];
      identical[u] = scores[u] == 0.0f || std::isnan(scores[u]);
    }
  }
  float cut = rule.score == SelectionRule::Score::Softmax ? threshold : 0.0f;
  if (rule.threshold == SelectionRule::Threshold::Adaptive) {
    double sum = 0.0;
    std::size_t live = 0;
    for (std::size_t u = 0; u < units; ++u) {
      if (identical[u]) continue;
      if (rule.score == SelectionRule::Score::Target && !(scores[u] > 0.0f)) continue;
      sum += scores[u];
      ++live;
    }
    // No live unit: every unit is all-equal and the fallback decides, as with any threshold. When
    // all live scores are equal none exceeds their mean, and the fallback keeps the best one.
    if (live > 0) cut = float(sum / double(live));
  }
  select_from_scores(scores, identical, units, width, cut, out, order);
  if (rule.keep_opposing) {
    // Opposing units join whatever the width: the union stays ascending.
    const std::size_t before = out.units.size();
    std::vector<std::uint8_t> kept(units, 0);
    for (std::int32_t u : out.units) kept[std::size_t(u)] = 1;
    for (std::size_t u = 0; u < units; ++u)
      if (!kept[u] && h[u] * row_t[u] < 0.0f) out.units.push_back(std::int32_t(u));
    if (out.units.size() != before) {
      std::sort(out.units.begin(), out.units.end());
      out.scores.resize(out.units.size());
      for (std::size_t i = 0; i < out.units.size(); ++i) out.scores[i] = scores[std::size_t(out.units[i])];
    }
  }
}

}  // namespace pathwise
