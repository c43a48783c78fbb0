// Insertion and deletion metrics exactly as the Reference's RISE `evaluation.py` computes them
// (docs/method.md §10): softmax probability of c = argmax f(x) along a curve of states, per-channel pixel
// orders and the union of the channels' blocks per step, blur substrate for insertion, zeros for
// deletion, AUC = (Σ s_i − s_0/2 − s_n/2) / n. The states of every curve of a batch run as forward
// batches of the original network.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

// How pixels with equal attribution are ordered (the Reference leaves it unspecified).
//   Stable:    value descending, pixel index ascending (the fixtures' order).
//   Reference: the flip of a *stable* ascending argsort, i.e. value descending, index descending.
//              The Reference flips np.argsort(kind='quicksort'), an introsort that does not promise
//              any order among ties, so no implementation can reproduce its tie order in general;
//              this is the closest well-defined reading.
enum class TieOrder { Stable, Reference };

struct InsDelOptions {
  std::size_t step = 0;  // pixels per step and channel; 0 = the image width
  TieOrder order = TieOrder::Stable;
  bool insertion = true, deletion = true;
  std::vector<std::int32_t> classes;  // class per image, or empty: argmax f(x), lowest index on ties
  std::size_t chunk = 0;              // states per forward batch; 0 = by memory (at most 256)
  std::size_t max_memory_bytes = std::size_t(256) << 20;
  // Reuse states whose score is already known instead of running them again: the deletion curve's
  // first state (x) and last (zeros, shared by every image), the insertion curve's last (x), and a
  // state a step left unchanged. Off = one forward per state, the Reference's count.
  bool reuse = true;
};

struct InsDelResult {
  std::int32_t cls = 0;
  std::vector<double> insertion, deletion;  // n + 1 scores each (empty when not requested)
  double insertion_auc = 0, deletion_auc = 0;
};

struct InsDelStats {
  std::size_t forwards = 0;  // states run through the network (including the class forward)
  std::size_t batches = 0;
};

// The n images in x (n × input size) with their attributions (same layout).
std::vector<InsDelResult> insertion_deletion(const Network& net, const float* x, const float* attribution,
                                             std::size_t n, const InsDelOptions& options, InsDelStats* stats = nullptr);

void validate_insdel_options(const Network& net, std::size_t n, const InsDelOptions& options);

// The 11-tap vector v of docs/method.md §10: scipy's gaussian_filter (σ = 5, truncate 4, reflect) of an
// impulse, computed in float64. K = v vᵀ, rounded to float32 as the Reference's kernel.
std::vector<double> blur_taps();
// conv2d of one C × H × W image with the diagonal 11 × 11 kernel, zero padding 5.
void blur_image(const Shape& shape, const float* in, float* out);
// Pixel order of one channel (hw values), most important first.
void pixel_order(const float* values, std::size_t hw, TieOrder order, std::int32_t* out);
// (Σ s_i − s_0/2 − s_n/2) / n for count = n + 1 scores.
double curve_auc(const double* scores, std::size_t count);

}  // namespace pathwise
