#include "select.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
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


float unit_score(const float* h, const float* j, std::size_t j_stride, std::size_t classes, std::size_t target,
                 std::size_t u, bool& identical) {
  // ChunkedScores' arithmetic for one unit: the same products, maximum, exps and class-order sum.
  const float hu = h[u];
  float max = -std::numeric_limits<float>::infinity(), first = 0.0f;
  bool same = true;
  for (std::size_t c = 0; c < classes; ++c) {
    const float a = hu * j[c * j_stride + u];
    if (c == 0) first = a;
    else same = same && a == first;
    max = a > max ? a : max;
  }
  identical = same;
  if (same) return 1.0f / float(classes);
  float sum = 0.0f, numerator = 0.0f;
  for (std::size_t c = 0; c < classes; ++c) {
    const float e = std::exp(h[u] * j[c * j_stride + u] - max);
    sum += e;
    if (c == target) numerator = e;
  }
  return numerator / sum;
}

namespace {

// Units per block of the gap pass: its two 64-float accumulators stay in L1 while the C rows stream
// through, and the per-block maximum lets later scans skip whole blocks.
constexpr std::size_t kTopBlock = 64;

#if defined(__GNUC__)  // GCC and clang: generic vector types (SSE2 on x86-64, NEON on arm64), no ISA code
// 16 units of the pass with their accumulators in registers: 2.7× faster than the plain loops
// below, whose accumulators live in L1, in a standalone loop (2,704 units × 10 classes: 2.4 against
// 6.4 µs, g++ 12 -O3, SSE2); a whole Fashion-CNN explanation went from 147.6 to 141.4 µs. The same
// operations per unit in the same order, so the same bits.
typedef float Float4 __attribute__((vector_size(16)));
typedef std::int32_t Int4 __attribute__((vector_size(16)));
inline Float4 load4(const float* p) {
  Float4 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store4(float* p, Float4 v) { std::memcpy(p, &v, sizeof v); }
inline Float4 splat4(float x) { return Float4{x, x, x, x}; }
inline Float4 select4(Int4 mask, Float4 a, Float4 b) { return mask ? a : b; }
inline Float4 max4(Float4 x, Float4 m) { return select4(x > m, x, m); }  // `x > m ? x : m` per lane
inline Float4 abs4(Float4 x) { return (Float4)((Int4)x & Int4{0x7fffffff, 0x7fffffff, 0x7fffffff, 0x7fffffff}); }

// The pass's arithmetic (select_top) for units [0, 16): their gap and lead, and into gap_max, lead_max
// and size_max the lane-wise maxima of g, v and max(|a_t|, |max_{c≠t} a_c|).
inline void unit_bounds16(const float* h, const float* j, std::size_t j_stride, std::size_t classes,
                          std::size_t target, float inv_classes, float lead_error, float* gap, float* lead,
                          Float4& gap_max, Float4& lead_max, Float4& size_max) {
  const float inf = std::numeric_limits<float>::infinity();
  Float4 hv[4], at[4], other[4], sum[4];
  for (int q = 0; q < 4; ++q) {
    hv[q] = load4(h + 4 * q);
    at[q] = sum[q] = splat4(0.0f);
    other[q] = splat4(-inf);
  }
  for (std::size_t c = 0; c < classes; ++c) {
    const float* row = j + c * j_stride;
    if (c == target) {
      for (int q = 0; q < 4; ++q) {
        const Float4 a = hv[q] * load4(row + 4 * q);
        at[q] = a;
        sum[q] += a;
      }
    } else {
      for (int q = 0; q < 4; ++q) {
        const Float4 a = hv[q] * load4(row + 4 * q);
        other[q] = max4(a, other[q]);
        sum[q] += a;
      }
    }
  }
  for (int q = 0; q < 4; ++q) {
    const Float4 abs_t = abs4(at[q]), abs_o = abs4(other[q]);
    const Float4 big = max4(abs_t, abs_o);
    const Float4 mean = sum[q] * splat4(inv_classes);
    Float4 g = at[q] - other[q];
    Float4 v = (at[q] - mean) + (splat4(2.0f) * big + abs4(mean)) * splat4(lead_error);
    g = select4(g == g, g, splat4(inf));
    v = select4(v == v, v, splat4(inf));
    store4(gap + 4 * q, g);
    store4(lead + 4 * q, v);
    gap_max = max4(g, gap_max);
    lead_max = max4(v, lead_max);
    size_max = max4(big, size_max);
  }
}
#define PATHWISE_UNIT_BOUNDS16 1
#endif

// Ties: score descending, then unit index ascending (docs/method.md §3.5).
inline bool ranks_before(float sx, std::uint32_t x, float sy, std::uint32_t y) {
  sx = rank_key(sx);
  sy = rank_key(sy);
  return sx != sy ? sx > sy : x < y;
}

// The width-limited path of select_units (see select.h). Returns false, having written nothing, when
// the bounds cannot prune (the k-th best score is not above 1/C, huge or non-finite contributions):
// the caller then scores every unit.
//
// Two upper bounds on a unit's real-valued score s = 1 / Σ_c e^{a_c − a_t}: with the gap
// g = a_t − max_{c≠t} a_c, s ≤ 1 / (1 + e^{−g}) (tight when one class dominates), and by Jensen's
// inequality (Σ_c e^{d_c} ≥ C e^{mean d}), s ≤ e^{v} / C with v = a_t − mean_c a_c (tight when the
// contributions are close: on the Fashion CNN the 16th best score is 0.107 against 1/C = 0.1, where
// the gap bound alone kept 600 of 10,816 units and this one keeps a few dozen).
//
// `units` here counts the columns of h and j; with `ids`, column u stands for unit ids[u] (ids
// distinct, in any order: a pooled layer's window winners), the only units whose contributions can
// differ (every other unit scores 1/C).
bool select_top(const float* h, const float* j, std::size_t j_stride, std::size_t units, std::size_t classes,
                std::size_t target, std::size_t k, float threshold, Selection& out, TopScratch& w,
                const std::int32_t* ids = nullptr) {
  const auto id = [ids](std::size_t u) { return ids ? std::uint32_t(ids[u]) : std::uint32_t(u); };
  const std::size_t blocks = (units + kTopBlock - 1) / kTopBlock;
  w.gap.resize(units);
  w.lead.resize(units);
  w.block_max.resize(2 * blocks);
  const float inv_classes = 1.0f / float(classes);
  // The rounding of v (class-order float sum, the mean, the difference) is at most
  // (C + 3)·2^-24·B with B = 2|m| + |Σ_c a_c| / C ≥ mean_c |a_c| (m = max_c a_c, as a_c ≤ m);
  // doubled for the rounding of the bound itself.
  const float lead_error = float(std::ldexp(2.0 * double(classes + 8), -24));
  const auto pass = [&](std::size_t b0, std::size_t b1) {
    float magnitude = 0.0f;
    float at[kTopBlock], other[kTopBlock], sum[kTopBlock], size[kTopBlock];
    for (std::size_t b = b0; b < b1; ++b) {
      const std::size_t u0 = b * kTopBlock, count = std::min(kTopBlock, units - u0);
      const float* __restrict hh = h + u0;
      float* __restrict gap = w.gap.data() + u0;
      float* __restrict lead = w.lead.data() + u0;
      // Lane-wise maxima over the block, so that they vectorise (a float max reduction does not
      // without -ffast-math).
      constexpr std::size_t L = 8;
      float gap_max[L], lead_max[L], size_max[L];
      for (std::size_t l = 0; l < L; ++l) {
        gap_max[l] = lead_max[l] = -std::numeric_limits<float>::infinity();
        size_max[l] = 0.0f;
      }
      std::size_t first = 0;  // units [0, first) of the block done 16 at a time
#ifdef PATHWISE_UNIT_BOUNDS16
      Float4 gap_max4 = splat4(-std::numeric_limits<float>::infinity()), lead_max4 = gap_max4, size_max4 = splat4(0.0f);
      for (; first + 16 <= count; first += 16)
        unit_bounds16(hh + first, j + u0 + first, j_stride, classes, target, inv_classes, lead_error, gap + first,
                      lead + first, gap_max4, lead_max4, size_max4);
      store4(gap_max, gap_max4);
      store4(lead_max, lead_max4);
      store4(size_max, size_max4);
#endif
      // Plain loops over the rest of the block, accumulators in L1: these vectorise (GCC left
      // register-blocked float arrays scalar, 2.6× slower).
      for (std::size_t i = first; i < count; ++i) {
        other[i] = -std::numeric_limits<float>::infinity();
        sum[i] = 0.0f;
      }
      for (std::size_t c = 0; c < classes; ++c) {
        const float* __restrict row = j + c * j_stride + u0;
        if (c == target) {
          for (std::size_t i = first; i < count; ++i) {
            const float a = hh[i] * row[i];
            at[i] = a;
            sum[i] += a;
          }
        } else {
          for (std::size_t i = first; i < count; ++i) {
            const float a = hh[i] * row[i];
            other[i] = a > other[i] ? a : other[i];
            sum[i] += a;
          }
        }
      }
      for (std::size_t i = first; i < count; ++i) {
        const float abs_t = std::fabs(at[i]), abs_o = std::fabs(other[i]);
        const float big = abs_t > abs_o ? abs_t : abs_o;
        const float mean = sum[i] * inv_classes;
        const float g = at[i] - other[i];
        const float v = (at[i] - mean) + (2.0f * big + std::fabs(mean)) * lead_error;
        gap[i] = g == g ? g : std::numeric_limits<float>::infinity();  // NaN: always a candidate
        lead[i] = v == v ? v : std::numeric_limits<float>::infinity();
        size[i] = big;
      }
      std::size_t i0 = first;
      for (; i0 + L <= count; i0 += L)
        for (std::size_t l = 0; l < L; ++l) {
          gap_max[l] = gap[i0 + l] > gap_max[l] ? gap[i0 + l] : gap_max[l];
          lead_max[l] = lead[i0 + l] > lead_max[l] ? lead[i0 + l] : lead_max[l];
          size_max[l] = size[i0 + l] > size_max[l] ? size[i0 + l] : size_max[l];
        }
      for (std::size_t l = 0; i0 + l < count; ++l) {
        gap_max[l] = gap[i0 + l] > gap_max[l] ? gap[i0 + l] : gap_max[l];
        lead_max[l] = lead[i0 + l] > lead_max[l] ? lead[i0 + l] : lead_max[l];
        size_max[l] = size[i0 + l] > size_max[l] ? size[i0 + l] : size_max[l];
      }
      float g = gap_max[0], v = lead_max[0];
      for (std::size_t l = 0; l < L; ++l) {
        g = gap_max[l] > g ? gap_max[l] : g;
        v = lead_max[l] > v ? lead_max[l] : v;
        magnitude = size_max[l] > magnitude ? size_max[l] : magnitude;
      }
      w.block_max[2 * b] = g;
      w.block_max[2 * b + 1] = v;
    }
    return magnitude;
  };
  // Pass 1 (the only one over all units): per unit the bounds' inputs from the same products h·J as
  // the exact score, the C rows streaming through kTopLanes units at a time.
  float max_magnitude = 0.0f;
  if (threads::pool_size() == 1 || units * classes < kParallelWork) {
    max_magnitude = pass(0, blocks);
  } else {
    std::vector<float> magnitude(blocks, 0.0f);
    for_ranges(blocks, classes * kTopBlock, [&](std::size_t b0, std::size_t b1) { magnitude[b0] = pass(b0, b1); });
    for (float m : magnitude) max_magnitude = m > max_magnitude ? m : max_magnitude;
  }
  // The largest |a_t|, |max_{c≠t} a_c| bounds the rounding of the exps' arguments (with or without
  // a fused multiply-subtract); past 1e6 (or non-finite) the bounds are too loose to be worth it.
  if (!(max_magnitude <= 1e6f)) return false;
  const float* gap = w.gap.data();
  const float* lead = w.lead.data();

  // Seeds: k units whose exact scores are likely high. First the k lowest-index units with
  // g ≥ 24 ln 2 + ln C (+ margin): their other exps sum below 2^-24, so they score exactly 1.0 (the
  // maximum) and rank by index — most of the units of a confident prediction. Else the k largest
  // bounds e^v / C.
  w.seed.clear();
  const float saturated = float(24.0 * std::log(2.0) + std::log(double(classes)) + 0.05);
  for (std::size_t b = 0; b < blocks && w.seed.size() < k; ++b) {
    if (!(w.block_max[2 * b] >= saturated)) continue;
    for (std::size_t u = b * kTopBlock, u1 = std::min(units, u + kTopBlock); u < u1 && w.seed.size() < k; ++u)
      if (gap[u] >= saturated) w.seed.push_back(std::uint32_t(u));
  }
  if (w.seed.size() < k) {
    w.seed.clear();
    // The k-th largest of the 16-unit group maxima of the bound: at least k units have a bound at
    // least that large, and few more (with the 64-unit blocks' maxima, a layer of 13 blocks pushed
    // all its units: 3 % of a Fashion-CNN explanation in this scan, perf).
    constexpr std::size_t G = 16;
    const std::size_t groups = (units + G - 1) / G;
    float floor = -std::numeric_limits<float>::infinity();
    w.group_max.resize(groups);
    for (std::size_t g = 0; g < groups; ++g) {
      float m = -std::numeric_limits<float>::infinity();
      for (std::size_t u = g * G, u1 = std::min(units, u + G); u < u1; ++u) m = lead[u] > m ? lead[u] : m;
      w.group_max[g] = m;
    }
    if (groups >= k) {
      w.scratch.assign(w.group_max.begin(), w.group_max.end());
      std::nth_element(w.scratch.begin(), w.scratch.begin() + std::ptrdiff_t(k - 1), w.scratch.end(), std::greater<float>());
      floor = w.scratch[k - 1];
    }
    for (std::size_t g = 0; g < groups; ++g) {
      if (!(w.group_max[g] >= floor)) continue;
      for (std::size_t u = g * G, u1 = std::min(units, u + G); u < u1; ++u)
        if (lead[u] >= floor) w.seed.push_back(std::uint32_t(u));
    }
    if (w.seed.size() < k) return false;
    std::nth_element(w.seed.begin(), w.seed.begin() + std::ptrdiff_t(k - 1), w.seed.end(),
                     [&](std::uint32_t x, std::uint32_t y) { return lead[x] != lead[y] ? lead[x] > lead[y] : x < y; });
    w.seed.resize(k);
  }
  // S: the lowest exact seed score. k units score at least S, so a unit whose score is surely
  // below S is not in the top k; neither is one that can at best tie S = 1.0 (the largest float32
  // score: e_t ≤ the sum) with a higher index than every seed.
  w.seed_scores.resize(k);
  float lowest = std::numeric_limits<float>::infinity();
  std::uint32_t last_seed = 0;
  for (std::size_t i = 0; i < k; ++i) {
    bool same = false;
    const float s = unit_score(h, j, j_stride, classes, target, w.seed[i], same);
    w.seed_scores[i] = s;
    lowest = std::min(lowest, same ? -std::numeric_limits<float>::infinity() : rank_key(s));
    last_seed = std::max(last_seed, id(w.seed[i]));
  }
  // At or below 1/C the all-equal units (score 1/C, ranked by index) compete for the top k.
  if (!(lowest > inv_classes)) return false;
  // The float32 score ≤ s·(1 + η) + 1e-30: η counts the rounding of the exps' arguments (terms that
  // do not underflow have |a_c| ≤ |m| + 104: ≤ 2^-24·(|m| + 314) each, numerator and denominator),
  // expf (≤ 1 ulp each), the class-order sum (C − 1 roundings) and the division; 1e-30 the
  // underflowed terms (each below 2^-126 against a sum ≥ 1). So a candidate needs
  // 1 / (1 + e^{−g}) ≥ σ and e^{v} / C ≥ σ, σ = (S − 1e-30) / (1 + η).
  const double eta = std::ldexp(2.0 * double(max_magnitude) + 1000.0 + 2.0 * double(classes), -24);
  const double sigma = (double(lowest) - 1e-30) / (1.0 + eta);
  const double gap_cut = -std::log(1.0 / sigma - 1.0), lead_cut = std::log(double(classes) * sigma);
  // g is a rounded difference (relative error 2^-24) and the cuts are rounded to float: margins
  // far wider than either.
  const float cut_g = float(gap_cut - 1e-4 * (1.0 + std::fabs(gap_cut)));
  const float cut_v = float(lead_cut - 1e-6 * (1.0 + std::fabs(lead_cut)));
  const bool index_cut = lowest == 1.0f;
  w.is_seed.resize(units);
  for (std::uint32_t u : w.seed) w.is_seed[u] = 1;
  w.candidates.clear();
  w.candidate_scores.clear();
  for (std::size_t b = 0; b < blocks; ++b) {
    if (index_cut && !ids && b * kTopBlock > last_seed) break;
    if (!(w.block_max[2 * b] >= cut_g) || !(w.block_max[2 * b + 1] >= cut_v)) continue;
    std::size_t u1 = std::min(units, (b + 1) * kTopBlock);
    if (index_cut && !ids) u1 = std::min<std::size_t>(u1, last_seed);
    for (std::size_t u = b * kTopBlock; u < u1; ++u) {
      if (!(gap[u] >= cut_g) || !(lead[u] >= cut_v) || w.is_seed[u] || (index_cut && id(u) >= last_seed)) continue;
      bool same = false;
      const float s = unit_score(h, j, j_stride, classes, target, u, same);
      if (same) continue;  // 1/C < S: k seeds are ahead of it
      w.candidates.push_back(std::uint32_t(u));
      w.candidate_scores.push_back(s);
    }
  }
  for (std::size_t i = 0; i < k; ++i) {
    w.is_seed[w.seed[i]] = 0;
    w.candidates.push_back(w.seed[i]);
    w.candidate_scores.push_back(w.seed_scores[i]);
  }
  // The top k of the candidates, then steps 9–10 as select_from_scores takes them.
  std::vector<std::uint32_t>& pos = w.seed;  // reused: positions into candidates
  pos.resize(w.candidates.size());
  for (std::size_t i = 0; i < pos.size(); ++i) pos[i] = std::uint32_t(i);
  const auto before = [&](std::uint32_t x, std::uint32_t y) {
    return ranks_before(w.candidate_scores[x], id(w.candidates[x]), w.candidate_scores[y], id(w.candidates[y]));
  };
  if (k < pos.size()) std::nth_element(pos.begin(), pos.begin() + std::ptrdiff_t(k - 1), pos.end(), before);
  const float ulp = std::nextafter(threshold, 2.0f) - threshold;
  out.units.clear();
  out.scores.clear();
  out.k = k;
  out.borderline = 0;
  for (std::size_t i = 0; i < k; ++i) {
    const float s = w.candidate_scores[pos[i]];
    if (std::fabs(s - threshold) <= 4.0f * ulp) ++out.borderline;
    if (s > threshold) out.units.push_back(std::int32_t(pos[i]));
  }
  out.fallback = out.units.empty();
  if (out.fallback) out.units.push_back(std::int32_t(*std::min_element(pos.begin(), pos.begin() + std::ptrdiff_t(k), before)));
  // (positions so far) → units ascending, with their scores
  std::sort(out.units.begin(), out.units.end(),
            [&](std::int32_t x, std::int32_t y) { return id(w.candidates[std::size_t(x)]) < id(w.candidates[std::size_t(y)]); });
  out.scores.resize(out.units.size());
  for (std::size_t i = 0; i < out.units.size(); ++i) {
    const std::size_t at = std::size_t(out.units[i]);
    out.scores[i] = w.candidate_scores[at];
    out.units[i] = std::int32_t(id(w.candidates[at]));
  }
  return true;
}

}  // namespace

void select_units(const float* h, const float* j, std::size_t j_stride, std::size_t units,
                  std::size_t classes, std::size_t target, const WidthRule& width,
                  float threshold, Selection& out, ChunkedScores& work, std::vector<float>& scores,
                  std::vector<std::uint8_t>& identical, std::vector<std::int32_t>& order, TopScratch* top) {
  // Width-limited: only the units that can reach the top k are scored (select.h). Worth it when k
  // is a small part of the layer (the gap pass costs about what observe_max did).
  const std::size_t k = width_to_k(width, units);
  if (top && 4 * k <= units && select_top(h, j, j_stride, units, classes, target, k, threshold, out, *top)) return;
  // One chunk of all C classes: the same arithmetic as a per-unit softmax (max, then the float32
  // exp-sum in class order), walked class by class over contiguous Jacobian rows. Per unit, with
  // rows C · 43 KB apart on the Fashion CNN's first layer, it cost 16.5 % of an explanation (perf).
  work.reset(units, classes, target);
  work.observe_max(h, j, j_stride, 0, classes);
  work.observe_exp(h, j, j_stride, 0, classes);
  work.finish(scores, identical);
  select_from_scores(scores, identical, units, width, threshold, out, order);
}

bool select_units_pooled(const float* h_columns, const float* j, std::size_t j_stride, std::size_t columns,
                         const std::int32_t* ids, std::size_t units, std::size_t classes, std::size_t target,
                         const WidthRule& width, float threshold, Selection& out, TopScratch& top) {
  const std::size_t k = width_to_k(width, units);
  return pooled_select_applies(width, units) && columns >= k &&
         select_top(h_columns, j, j_stride, columns, classes, target, k, threshold, out, top, ids);
}

bool pooled_select_applies(const WidthRule& width, std::size_t units) { return 4 * width_to_k(width, units) <= units; }

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
