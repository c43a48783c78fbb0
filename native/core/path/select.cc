#include "select.h"

#include <algorithm>
#include <cmath>
#include <limits>

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

// Softmax entry `target` of one unit's class contributions, exactly as the reference's float32
// torch.softmax along the class axis: subtract the max, exp in float32, sum in class order, divide.
// Sets `all_identical` when every contribution is equal (the score is then exactly 1/C in the
// reference, so the unit is rejected without comparing).
inline float unit_score(float h, const float* j, std::size_t j_stride, std::size_t classes,
                        std::size_t target, float* a, bool& all_identical) {
  float max = -std::numeric_limits<float>::infinity();
  all_identical = true;
  for (std::size_t c = 0; c < classes; ++c) {
    a[c] = h * j[c * j_stride];
    if (a[c] != a[0]) all_identical = false;
    if (a[c] > max) max = a[c];
  }
  // Equal contributions give exactly 1/C in float32 (C terms of exp(0) = 1 sum exactly): skip the
  // exps. Pool losers and inactive units all land here — 3/4 of the Fashion CNN's first layer.
  if (all_identical) return 1.0f / float(classes);
  float sum = 0.0f, numerator = 0.0f;
  for (std::size_t c = 0; c < classes; ++c) {
    const float e = std::exp(a[c] - max);
    sum += e;
    if (c == target) numerator = e;
  }
  return numerator / sum;
}

// Sort key: NaN (only from non-finite Jacobians) ranks last instead of breaking the ordering.
inline float rank_key(float s) { return std::isnan(s) ? -std::numeric_limits<float>::infinity() : s; }

}  // namespace

void select_units(const float* h, const float* j, std::size_t j_stride, std::size_t units,
                  std::size_t classes, std::size_t target, const WidthRule& width,
                  float threshold, Selection& out, std::vector<float>& scores,
                  std::vector<std::uint8_t>& identical, std::vector<std::int32_t>& order) {
  scores.resize(units);
  identical.resize(units);
  std::vector<float> a(classes);
  for (std::size_t u = 0; u < units; ++u) {
    bool same = false;
    scores[u] = unit_score(h[u], j + u, j_stride, classes, target, a.data(), same);
    identical[u] = same;
  }
  select_from_scores(scores, identical, units, width, threshold, out, order);
}

void ChunkedScores::reset(std::size_t units, std::size_t classes, std::size_t target) {
  units_ = units;
  classes_ = classes;
  target_ = target;
  max_.assign(units, -std::numeric_limits<float>::infinity());
  first_.assign(units, 0.0f);
  sum_.assign(units, 0.0f);
  numerator_.assign(units, 0.0f);
  identical_.assign(units, 1);
}

void ChunkedScores::observe_max(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1) {
  for (std::size_t c = c0; c < c1; ++c) {
    const float* row = j + (c - c0) * j_stride;
    for (std::size_t u = 0; u < units_; ++u) {
      const float a = h[u] * row[u];
      if (c == 0) first_[u] = a;
      else if (a != first_[u]) identical_[u] = 0;
      if (a > max_[u]) max_[u] = a;
    }
  }
}

void ChunkedScores::observe_exp(const float* h, const float* j, std::size_t j_stride, std::size_t c0, std::size_t c1) {
  for (std::size_t c = c0; c < c1; ++c) {
    const float* row = j + (c - c0) * j_stride;
    for (std::size_t u = 0; u < units_; ++u) {
      if (identical_[u]) continue;
      const float e = std::exp(h[u] * row[u] - max_[u]);
      sum_[u] += e;
      if (c == target_) numerator_[u] = e;
    }
  }
}

void ChunkedScores::finish(std::vector<float>& scores, std::vector<std::uint8_t>& identical) const {
  scores.resize(units_);
  identical = identical_;
  for (std::size_t u = 0; u < units_; ++u)
    scores[u] = identical_[u] ? 1.0f / float(classes_) : numerator_[u] / sum_[u];
}

void select_from_scores(const std::vector<float>& scores, const std::vector<std::uint8_t>& identical,
                        std::size_t units, const WidthRule& width, float threshold, Selection& out,
                        std::vector<std::int32_t>& order) {
  // Ties: score descending, then unit index ascending (SPEC §3.5).
  auto before = [&](std::int32_t x, std::int32_t y) {
    const float sx = rank_key(scores[x]), sy = rank_key(scores[y]);
    return sx != sy ? sx > sy : x < y;
  };
  const std::size_t k = width_to_k(width, units);
  order.resize(units);
  for (std::size_t u = 0; u < units; ++u) order[u] = std::int32_t(u);
  if (k < units) std::nth_element(order.begin(), order.begin() + (k - 1), order.end(), before);
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

}  // namespace pathwise
