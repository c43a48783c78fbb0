// The conv VJP of a dense cotangent row computed directly: δ_in = Wᵀ·δ_out is itself a convolution
// (a transposed one) of δ_out with the weights flipped in space and transposed over channels, so it
// runs through the forward's direct kernel (forward/conv_direct.h, kernels/conv_f32_body.inc) with
// weights packed for it once, at Network::build — no column buffer and no col2im scatter.
#pragma once

#include <cstddef>
#include <mutex>
#include <vector>

#include "../ir/network.h"
#include "../kernels/kernels.h"

namespace pathwise {

// Layer::back_packed: the layer's weights for conv_back_direct, packed once on first use.
struct ConvBackPacked {
  std::once_flag once;
  std::size_t rows = 0;  // the table's conv_rows they were packed for
  std::vector<float> weights;
};

}  // namespace pathwise

namespace pathwise::ops {

// Conv layers whose dense-row VJP takes the direct kernel (Network::build gives them a
// Layer::back_packed): stride 1 (a strided conv's transpose needs stride phases of δ_in, not done yet), pads
// within the kernel's extent (else the transpose would need negative pads), not pointwise (a 1 × 1
// unpadded conv's VJP is already one plain GEMM), and a shape the direct kernel is measured faster
// on (conv_back_direct.cc).
bool conv_back_direct_applies(const Layer& layer);
// The geometric half of that test (the kernel computes every such layer right; the tests run them all).
bool conv_back_direct_fits(const Layer& layer);

// The transposed convolution as a weightless Layer: in_shape = layer.out_shape, out_shape =
// layer.in_shape, the same groups, kernel and dilation, stride 1, pads (k − 1)·d − pad on each side.
Layer conv_back_layer(const Layer& layer);

// The flipped, channel-transposed weights (W'[g·Cin_g + ci][co][u][v] = W[g·Cout_g + co][ci][kh−1−u]
// [kw−1−v]) packed as pack_conv_weights packs a forward conv's, for a table with `rows` panel rows.
std::vector<float> pack_conv_back_weights(const Layer& layer, std::size_t rows);

// The weights conv_back_direct reads for `table`, packed on the first call for the layer (an
// explanation at depth 'all' never meets a dense row: VGG16's copy, 59 MB, is then never made), or
// nullptr when the layer has no Layer::back_packed or they were packed for another table. Safe to
// call from several threads at once.
const float* back_packed_weights(const Layer& layer, const kernels::KernelTable& table);

// dx = Wᵀ·dy for one row (dy: out_size, dx: in_size, overwritten) through `table`'s direct kernel
// with `packed` = pack_conv_back_weights(layer, table.conv_rows). Per element of dx the sum runs in
// a fixed order (the kernel's), the same for every max_threads (as for kernels::GemmThreadsFn).
void conv_back_direct(const Layer& layer, const kernels::KernelTable& table, const float* packed, const float* dy,
                      float* dx, std::vector<std::size_t>& offsets, std::size_t max_threads = 0);

}  // namespace pathwise::ops
