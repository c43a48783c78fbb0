// The conv VJP of a dense cotangent row computed directly: δ_in = Wᵀ·δ_out is itself a convolution
// (a transposed one) of δ_out with the weights flipped in space and transposed over channels, so it
// runs through the forward's direct kernel (forward/conv_direct.h, kernels/conv_f32_body.inc) with
// weights packed for it — no column buffer and no col2im scatter. A strided conv's transpose splits
// by the stride phase (a, b) of δ_in's positions (y = sh·y' + a, x = sw·x' + b): each phase is a
// stride-1 conv of δ_out with the taps that reach it (those with (a + pt − ky·dh) mod sh = 0, and the
// same across), whose output is stored into δ_in at stride (sh, sw).
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "../ir/network.h"
#include "../kernels/kernels.h"

namespace pathwise {

// One stride phase of a conv's transpose: a weightless stride-1 conv Layer (in_shape = the conv's
// out_shape, out_shape = Cin × the phase's rows × columns) and its packed weights; `empty` when no
// tap reaches the phase (its δ_in values are 0).
struct ConvBackPhase {
  std::size_t a = 0, b = 0;
  bool empty = false;
  Layer layer;
  std::vector<float> packed;
};

// Layer::back_packed: the layer's phases for conv_back_direct, built once on first use.
struct ConvBackPacked {
  std::once_flag once;
  std::size_t rows = 0;  // the table's conv_rows they were packed for
  std::vector<ConvBackPhase> phases;
};

}  // namespace pathwise

namespace pathwise::ops {

// Conv layers whose dense-row VJP takes the direct kernel (Network::build gives them a
// Layer::back_packed): conv_back_direct_fits, not pointwise (a 1 × 1 unpadded stride-1 conv's VJP is
// already one plain GEMM), and a shape the direct kernel is measured faster on (conv_back_direct.cc).
bool conv_back_direct_applies(const Layer& layer);
// The geometric half of that test (the kernel computes every such layer right; the tests run them
// all): every phase's transpose needs no negative top or left pad (pads up to the kernel's extent),
// and the taps cover every stride phase's spacing ((k − 1)·d + 1 ≥ s, as for the forward's phases).
bool conv_back_direct_fits(const Layer& layer);

// The phases of the layer's transpose with weights packed as pack_conv_weights packs a forward
// conv's, for a table with `rows` panel rows. A stride-1 conv has one: W'[g·Cin_g + ci][co][u][v] =
// W[g·Cout_g + co][ci][kh−1−u][kw−1−v], pads (k − 1)·d − pad.
std::vector<ConvBackPhase> conv_back_phases(const Layer& layer, std::size_t rows);

// The layer's phases for `table`, built on the first call for the layer (Network::build makes it),
// or nullptr when the layer has no Layer::back_packed or they were packed for another table. Safe to
// call from several threads at once.
const ConvBackPacked* back_packed_for(const Layer& layer, const kernels::KernelTable& table);

// dx (=, or += with `accumulate`) Wᵀ·dy for one row (dy: out_size, dx: in_size) through `table`'s
// direct kernel with `packed` = back_packed_for(layer, table). Each value of dx is one phase's sum,
// in the kernel's fixed order, then stored or added once: the same bits for every max_threads (as
// for kernels::GemmThreadsFn). `scratch` holds a phase's output when it cannot go to dx in place.
void conv_back_direct(const Layer& layer, const kernels::KernelTable& table, const ConvBackPacked& packed,
                      const float* dy, float* dx, bool accumulate, std::vector<float>& scratch,
                      std::vector<std::size_t>& offsets, std::size_t max_threads = 0);

}  // namespace pathwise::ops
