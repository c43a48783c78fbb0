// Batched vector-Jacobian products through a frozen gated chain: many cotangent rows at once, so
// the C class rows of every example (and the rows of many examples) go through each dense layer as
// one matrix product instead of one GEMV per row.
#pragma once

#include <cstddef>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

struct VjpRequest {
  // Layers [lo, hi) are traversed from hi − 1 down to lo: the cotangent enters at the output of
  // layer hi − 1 and leaves at the input of layer lo.
  std::size_t lo = 0, hi = 0;
  // Rows of the cotangent matrix; row r belongs to example r / rows_per_example.
  std::size_t rows = 0, rows_per_example = 1;
  // gates[i], for every ReLU position i in [lo, hi): per-example gate (0/1 floats, n × width).
  // The frozen gated network replaces ReLU i by z ↦ gates[i] ⊙ z.
  const std::vector<const float*>* gates = nullptr;
  // Optional: bias[r] += ⟨δ_k[r], β_k⟩ for each dense layer k met (δ_k = the cotangent at its
  // output), which yields b_P (SPEC §5.1) in the same pass.
  double* bias = nullptr;
};

// `cot` holds rows × (output width of layer hi − 1) on entry and rows × (input width of layer lo)
// on return. `scratch` is reused between calls to avoid reallocating.
void vjp_chain(const Network& net, const VjpRequest& req, std::vector<float>& cot,
               std::vector<float>& scratch);

}  // namespace pathwise
