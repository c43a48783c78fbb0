// Forward passes over a batch of n examples laid out back to back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

// What a forward pass leaves behind, per layer: its output values (n × out_size), and what a VJP
// through the same frozen network needs — the gate of each gate layer (n × size: the slope s of
// the piece each unit is on, 0/1 for ReLU), its constants c (n × size; empty when all are zero,
// as for every ReLU) and the winner of each MaxPool window (n × out_size, flat index into the
// example's input, -1 if the window held only padding). A unit's output is s·z + c.
struct Activations {
  std::size_t n = 0;
  std::vector<std::vector<float>> values;
  std::vector<std::vector<float>> gates;
  std::vector<std::vector<float>> constants;
  std::vector<std::vector<std::int32_t>> winners;
};

// Computes layers [first, T) for the n examples in x. Producers below `first` are read from
// `below` (required when first > 0). masks[i], for a ReLU layer i, replaces it by the reference's
// MaskLayer z ↦ mask ⊙ z (mask: n × size); nullptr keeps the ReLU. MaxPools route on the values
// they receive, first maximum in row-major window order — unless fixed_winners[i] is given (a frozen
// network, docs/method.md §4.1): then pool i copies those winners (n × out_size) instead of routing.
// Layers i + 1 < fuse_below that are an unmasked ReLU reading only layer i (which no other layer
// reads) are fused with it: layer i's values are left empty (its gates and routing are kept).
// mask_constants[i], when given for a masked gate layer, adds a constant: z ↦ mask ⊙ z + constant
// (a frozen gate's piece; docs/semantics.md "Gates beyond ReLU").
void forward_range(const Network& net, const float* x, std::size_t n, std::size_t first,
                   const Activations* below, const std::vector<const float*>& masks, Activations& out,
                   const std::vector<const std::int32_t*>* fixed_winners = nullptr, bool with_bias = true,
                   std::size_t fuse_below = 0, const std::vector<const float*>* mask_constants = nullptr);

// Forward-mode derivative (JVP) of the original network frozen at x: the tangent v (n × d) through
// the same gates and routing, no biases. out.values[i] = (∂ layer i's output / ∂x) · v.
void jvp_frozen(const Network& net, const Activations& orig, const float* v, std::size_t n, Activations& out);

// The original network: forward_range from layer 0 with no masks. With keep_from > 0, the
// pre-activation values of ReLUs below layer keep_from are not kept (fuse_below above): for
// callers that read values only from keep_from − 1 up, and gates and routing anywhere.
void forward_original(const Network& net, const float* x, std::size_t n, Activations& out, std::size_t keep_from = 0);

// Logits only, for Model.forward: frees each activation once its last consumer has run. The calling
// thread keeps up to 64 MiB of the activation buffers for its next call.
std::vector<float> forward_logits(const Network& net, const float* x, std::size_t n);

// Index of the largest of `count` values, lowest index on ties (the reference's argmax rule).
std::size_t argmax_first(const float* values, std::size_t count);

// Single-layer kernels, shared with the VJP (which mirrors them) and with tests.
namespace ops {
// Dense and conv layers take a sparse path for an example (or a cotangent row) with at most
// 1/kSparseDivisor of its values nonzero.
constexpr std::size_t kSparseDivisor = 32;
// The indices of v's nonzeros when there are at most count / kSparseDivisor of them (true), else
// false (stopping at the first one over).
bool sparse_nonzeros(const float* v, std::size_t count, std::vector<std::uint32_t>& nonzeros);
void dense_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias = true);
// residual (n × out_size or null): added as an Add layer after the conv would (conv + residual);
// relu: the result rectified as a ReLU layer after it would (z > 0 ? z : 0). Both fused into the
// conv's copy-out where the direct kernel runs.
void conv_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias = true,
                  bool relu = false, const float* residual = nullptr);
// winners may be null (the routing not recorded).
void max_pool_forward(const Layer& layer, const float* in, std::size_t n, float* out, std::int32_t* winners);
void avg_pool_forward(const Layer& layer, const float* in, std::size_t n, float* out);
// The gate layer's g on n examples (out may be in); `gates` (n × size) receives the slope s of each
// unit's piece and `constants` its constant c — resized to n × size only when some c is nonzero,
// else left empty. ReLU: out = max(z, 0) with gates 0/1 and no constants.
void gate_forward(const Layer& layer, const float* in, std::size_t n, float* out, float* gates,
                  std::vector<float>* constants);
void affine_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias = true);
// Gather: out[o] = map[o] ≥ 0 ? in[map[o]] : fill (0 without the bias: the fill is a constant).
void gather_forward(const Layer& layer, const float* in, std::size_t n, float* out, bool with_bias = true);
// Concat: each example's output is inputs[j]'s sizes[j] values, j = 0, 1, …, back to back.
void concat_forward(const std::vector<const float*>& inputs, const std::vector<std::size_t>& sizes, std::size_t n,
                    float* out);
// AvgPool divisor of output position (oy, ox), PyTorch's rule for count_include_pad both ways.
float avg_pool_divisor(const Layer& layer, std::size_t oy, std::size_t ox);
// im2col of one group of one example for output positions [p0, p0 + count): cols is K × count.
void im2col(const Layer& layer, const float* in_group, std::size_t p0, std::size_t count, float* cols);
// The inverse scatter, accumulating: in_group += col2im(cols), cols K × count with row stride ld.
void col2im_add(const Layer& layer, const float* cols, std::size_t ld, std::size_t p0, std::size_t count,
                float* in_group);
// Output positions per im2col block: keeps the K × block buffer near 4 MiB.
std::size_t conv_block(const Layer& layer);
// Columns (rows × output positions, across rows) per block of the conv VJP: the K × block columns
// and the Cout_g × block gathered δ_out stay near 4 MiB each.
std::size_t conv_back_block(const Layer& layer);
// Scratch floats a conv layer's forward or VJP of `rows` rows holds besides its input and output
// (the im2col block and the gathered δ_out block); 0 for other layers. Memory estimates add it.
std::size_t conv_scratch_floats(const Layer& layer, std::size_t rows);
bool conv_is_pointwise(const Layer& layer);
}  // namespace ops

}  // namespace pathwise
