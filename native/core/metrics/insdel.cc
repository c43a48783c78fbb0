#include "insdel.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "../forward/forward.h"
#include "../util/error.h"

namespace pathwise {

std::vector<double> blur_taps() {
  // gaussian_filter(impulse, σ = 5) along one axis: weights exp(−k²/(2σ²)) for |k| ≤ 20 (radius =
  // int(truncate · σ + 0.5)), normalised, correlated with an 11-long impulse at index 5 under
  // scipy's 'reflect' boundary (… c b a | a b c …). The 2-D filter of the 2-D impulse is the outer
  // product of this vector with itself.
  const int len = 11, centre = 5, radius = 20;
  const double sigma = 5.0;
  std::vector<double> w(2 * radius + 1);
  double sum = 0.0;
  for (int k = -radius; k <= radius; ++k) sum += (w[std::size_t(k + radius)] = std::exp(-0.5 * k * k / (sigma * sigma)));
  for (double& v : w) v /= sum;
  std::vector<double> taps(len, 0.0);
  for (int i = 0; i < len; ++i)
    for (int k = -radius; k <= radius; ++k) {
      int j = i + k;
      while (j < 0 || j >= len) j = j < 0 ? -j - 1 : 2 * len - j - 1;
      if (j == centre) taps[std::size_t(i)] += w[std::size_t(k + radius)];
    }
  return taps;
}

void blur_image(const Shape& s, const float* in, float* out) {
  static const std::vector<float> kernel = [] {
    const std::vector<double> v = blur_taps();
    std::vector<float> k(121);
    for (std::size_t a = 0; a < 11; ++a)
      for (std::size_t b = 0; b < 11; ++b) k[a * 11 + b] = float(v[a] * v[b]);
    return k;
  }();
  const std::ptrdiff_t h = std::ptrdiff_t(s.h), w = std::ptrdiff_t(s.w);
  for (std::size_t c = 0; c < s.c; ++c) {
    const float* src = in + c * s.h * s.w;
    float* dst = out + c * s.h * s.w;
    for (std::ptrdiff_t y = 0; y < h; ++y)
      for (std::ptrdiff_t x = 0; x < w; ++x) {
        float acc = 0.0f;
        for (std::ptrdiff_t ky = 0; ky < 11; ++ky) {
          const std::ptrdiff_t sy = y + ky - 5;
          if (sy < 0 || sy >= h) continue;
          for (std::ptrdiff_t kx = 0; kx < 11; ++kx) {
            const std::ptrdiff_t sx = x + kx - 5;
            if (sx >= 0 && sx < w) acc += kernel[std::size_t(ky * 11 + kx)] * src[sy * w + sx];
          }
        }
        dst[y * w + x] = acc;
      }
  }
}

void pixel_order(const float* values, std::size_t hw, TieOrder order, std::int32_t* out) {
  std::iota(out, out + hw, 0);
  if (order == TieOrder::Stable)
    std::stable_sort(out, out + hw, [&](std::int32_t a, std::int32_t b) { return values[a] > values[b]; });
  else
    std::sort(out, out + hw, [&](std::int32_t a, std::int32_t b) {
      return values[a] > values[b] || (values[a] == values[b] && a > b);
    });
}

double curve_auc(const double* s, std::size_t count) {
  if (count < 2) return 0.0;
  double sum = 0.0;
  for (std::size_t i = 0; i < count; ++i) sum += s[i];
  return (sum - s[0] / 2 - s[count - 1] / 2) / double(count - 1);
}

void validate_insdel_options(const Network& net, std::size_t n, const InsDelOptions& opt) {
  const Shape& s = net.input_shape();
  if (n == 0) throw_range("the batch is empty");
  if (s.h * s.w < 2)
    throw_range("insertion/deletion needs an image input [C, H, W]; this model's input is [" + std::to_string(s.c) +
                "] (load it with an image inputShape)");
  if (opt.step > s.h * s.w) throw_range("step must be in [1, H·W = " + std::to_string(s.h * s.w) + "]");
  if (!opt.insertion && !opt.deletion) throw_range("nothing to compute: neither insertion nor deletion");
  if (!opt.classes.empty()) {
    if (opt.classes.size() != n)
      throw_range("targets has " + std::to_string(opt.classes.size()) + " entries for " + std::to_string(n) + " inputs");
    for (std::int32_t c : opt.classes)
      if (c < 0 || std::size_t(c) >= net.num_classes())
        throw_range("target " + std::to_string(c) + " is out of range [0, " + std::to_string(net.num_classes()) + ")");
  }
}

namespace {

double softmax_at(const float* logits, std::size_t classes, std::size_t c) {
  double mx = logits[0];
  for (std::size_t j = 1; j < classes; ++j) mx = std::max(mx, double(logits[j]));
  double sum = 0.0;
  for (std::size_t j = 0; j < classes; ++j) sum += std::exp(double(logits[j]) - mx);
  return std::exp(double(logits[c]) - mx) / sum;
}

// Fills a chunk with states, runs it when full; each slot remembers where its score goes.
struct Runner {
  const Network& net;
  std::size_t d, classes, cap;
  std::vector<float> buf;
  std::vector<double*> dest;
  std::vector<std::size_t> cls;
  InsDelStats& stats;

  Runner(const Network& n, std::size_t chunk, InsDelStats& st)
      : net(n), d(n.input_size()), classes(n.num_classes()), cap(chunk), stats(st) {
    buf.reserve(cap * d);
  }
  void push(const float* state, double* where, std::size_t c) {
    buf.insert(buf.end(), state, state + d);
    dest.push_back(where);
    cls.push_back(c);
    if (dest.size() == cap) flush();
  }
  void flush() {
    if (dest.empty()) return;
    const std::vector<float> logits = forward_logits(net, buf.data(), dest.size());
    for (std::size_t q = 0; q < dest.size(); ++q) *dest[q] = softmax_at(logits.data() + q * classes, classes, cls[q]);
    stats.forwards += dest.size();
    ++stats.batches;
    buf.clear();
    dest.clear();
    cls.clear();
  }
};

constexpr double kPending = -1.0;  // a state that repeats its predecessor, resolved after the runs

}  // namespace

std::vector<InsDelResult> insertion_deletion(const Network& net, const float* x, const float* attribution, std::size_t n,
                                             const InsDelOptions& opt, InsDelStats* stats_out) {
  validate_insdel_options(net, n, opt);
  const Shape& s = net.input_shape();
  const std::size_t d = net.input_size(), classes = net.num_classes(), hw = s.h * s.w, channels = s.c;
  for (std::size_t i = 0; i < n * d; ++i) {
    if (!std::isfinite(x[i])) throw_range("input " + std::to_string(i / d) + " has a non-finite value");
    if (!std::isfinite(attribution[i])) throw_range("attribution " + std::to_string(i / d) + " has a non-finite value");
  }
  const std::size_t step = opt.step == 0 ? s.w : opt.step;
  const std::size_t steps = (hw + step - 1) / step;
  InsDelStats stats;

  // States per forward batch. A batch's working set is about two live activations of the widest
  // layer per state plus the state: keeping it near 2 MiB (L2-sized) is what pays. Measured on the
  // Fashion CNN (widest layer 16×26×26; AMD EPYC, 1 MiB L2 per core, AVX-512 kernels), ms per image
  // for chunks of 1/8/16/32/64/256 states: 9.7/7.6/7.3/7.4/10.8/11.7 — past the cache the im2col
  // and pooling passes stream from memory. The MLP (widest 784) wants big batches for its dense
  // layers: 6.9/1.4/0.84/0.56/0.45/0.39. A VGG16 state alone exceeds the target: one per batch
  // (its convolutions gain nothing from batching). Bounded by max_memory_bytes as well (with room
  // for a third activation where a residual source waits).
  std::size_t chunk = opt.chunk;
  if (chunk == 0) {
    const std::size_t per_state = sizeof(float) * (2 * net.max_width() + d);
    const std::size_t cache_fit = (std::size_t(2) << 20) / per_state;
    const std::size_t memory_fit = opt.max_memory_bytes / (sizeof(float) * (3 * net.max_width() + d));
    chunk = std::max<std::size_t>(1, std::min<std::size_t>({256, cache_fit, memory_fit}));
  }

  // The class of each image: argmax of the unmodified input (recomputed, as the Reference does).
  const std::vector<float> logits_x = forward_logits(net, x, n);
  stats.forwards += n;
  ++stats.batches;
  std::vector<InsDelResult> results(n);
  for (std::size_t e = 0; e < n; ++e)
    results[e].cls = opt.classes.empty() ? std::int32_t(argmax_first(logits_x.data() + e * classes, classes))
                                         : opt.classes[e];
  // Deletion ends at zeros for every image: one forward serves them all.
  std::vector<float> logits_zero;
  if (opt.deletion && opt.reuse) {
    const std::vector<float> zeros(d, 0.0f);
    logits_zero = forward_logits(net, zeros.data(), 1);
    stats.forwards += 1;
    ++stats.batches;
  }

  Runner run(net, chunk, stats);
  std::vector<std::int32_t> order(channels * hw);
  std::vector<float> blurred(d), cur(d);
  const std::vector<float> zeros(d, 0.0f);
  for (std::size_t e = 0; e < n; ++e) {
    InsDelResult& r = results[e];
    const std::size_t c = std::size_t(r.cls);
    const float* xe = x + e * d;
    for (std::size_t ch = 0; ch < channels; ++ch)
      pixel_order(attribution + e * d + ch * hw, hw, opt.order, order.data() + ch * hw);
    const double score_x = softmax_at(logits_x.data() + e * classes, classes, c);
    for (int mode = 0; mode < 2; ++mode) {
      const bool ins = mode == 0;
      if (ins ? !opt.insertion : !opt.deletion) continue;
      std::vector<double>& curve = ins ? r.insertion : r.deletion;
      curve.assign(steps + 1, kPending);
      if (ins) blur_image(s, xe, blurred.data());
      const float* finish = ins ? xe : zeros.data();
      std::copy_n(ins ? blurred.data() : xe, d, cur.begin());
      bool unchanged = false;  // the last step replaced no value: this state equals the previous
      for (std::size_t i = 0; i <= steps; ++i) {
        if (opt.reuse && ins && i == steps)
          curve[i] = score_x;
        else if (opt.reuse && !ins && i == 0)
          curve[i] = score_x;
        else if (opt.reuse && !ins && i == steps)
          curve[i] = softmax_at(logits_zero.data(), classes, c);
        else if (!(opt.reuse && unchanged))
          run.push(cur.data(), &curve[i], c);
        if (i == steps) break;
        // start[:, P] ← finish[:, P] for P = ∪_r order_r[i·step : (i+1)·step].
        unchanged = true;
        const std::size_t lo = i * step, hi = std::min(hw, lo + step);
        for (std::size_t r0 = 0; r0 < channels; ++r0)
          for (std::size_t k = lo; k < hi; ++k) {
            const std::size_t p = std::size_t(order[r0 * hw + k]);
            for (std::size_t ch = 0; ch < channels; ++ch) {
              const std::size_t q = ch * hw + p;
              if (cur[q] != finish[q] || std::signbit(cur[q]) != std::signbit(finish[q])) unchanged = false;
              cur[q] = finish[q];
            }
          }
      }
    }
  }
  run.flush();
  for (InsDelResult& r : results) {
    for (std::vector<double>* curve : {&r.insertion, &r.deletion}) {
      for (std::size_t i = 1; i < curve->size(); ++i)
        if ((*curve)[i] == kPending) (*curve)[i] = (*curve)[i - 1];
    }
    if (!r.insertion.empty()) r.insertion_auc = curve_auc(r.insertion.data(), r.insertion.size());
    if (!r.deletion.empty()) r.deletion_auc = curve_auc(r.deletion.data(), r.deletion.size());
  }
  if (stats_out) *stats_out = stats;
  return results;
}

}  // namespace pathwise
