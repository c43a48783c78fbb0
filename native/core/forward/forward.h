// Forward passes over flat batches: `n` examples, each a contiguous run of floats.
#pragma once

#include <cstddef>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

// out[n × out] = in[n × in] · Wᵀ + b, through the active GEMM kernel.
void dense_forward(const Layer& layer, const float* in, std::size_t n, float* out);

// The original network at x. acts[i] is the input of layer i (n × in_size), acts[T] the logits;
// acts[0] aliases nothing: it is a copy of x, so the caller may release x afterwards.
using Activations = std::vector<std::vector<float>>;
void forward_original(const Network& net, const float* x, std::size_t n, Activations& acts);

// Logits only, for Model.forward: keeps two buffers alive instead of every layer's activation.
std::vector<float> forward_logits(const Network& net, const float* x, std::size_t n);

// Index of the largest of `count` values, lowest index on ties (the reference's argmax rule).
std::size_t argmax_first(const float* values, std::size_t count);

}  // namespace pathwise
