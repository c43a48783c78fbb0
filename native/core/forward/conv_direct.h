// The direct convolution's side in the core (the kernel is kernels/conv_f32_body.inc): which conv
// layers take it, the weight layout it reads (packed once, by Network::build), and one example's
// forward through it.
#pragma once

#include <cstddef>
#include <vector>

#include "../ir/network.h"
#include "../kernels/kernels.h"

namespace pathwise::ops {

// Convolutions that are not pointwise (a 1 × 1 unpadded stride-1 conv is already a plain GEMM on its
// input) take the direct kernel in the forward pass (and so in the JVP, which is a forward); strided
// ones through phase planes (conv_direct.cc).
bool conv_direct_applies(const Layer& layer);

// The weights as conv_direct reads them for a table whose panels hold `rows` output channels:
// per group, panels of `rows` channels (the last zero-padded), each K × rows with element (p, r),
// p = (ci·kh + ky)·kw + kx, at p·rows + r.
std::vector<float> pack_conv_weights(const Layer& layer, std::size_t rows);

// Floats of scratch conv_forward_direct holds for a layer (the padded, phase-split input).
std::size_t conv_direct_scratch_floats(const Layer& layer, const kernels::KernelTable& table);

// One example (in: in_size, out: out_size) through `table`'s direct kernel with `packed` weights
// (pack_conv_weights for table.conv_rows). The padded input goes to the calling thread's
// kernels::workspace; `offsets` is resized as needed and reused across calls. max_threads as for
// kernels::GemmThreadsFn (the result is the same bits for every value). residual (out_size or
// null): added to the output as an Add layer after it would (conv + residual), in the same pass;
// relu: the result rectified as a ReLU layer after it would (z > 0 ? z : 0).
void conv_forward_direct(const Layer& layer, const kernels::KernelTable& table, const float* packed, const float* in,
                         float* out, bool with_bias, std::vector<std::size_t>& offsets, std::size_t max_threads = 0,
                         bool relu = false, const float* residual = nullptr);

}  // namespace pathwise::ops
