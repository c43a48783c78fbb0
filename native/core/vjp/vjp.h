// Batched vector-Jacobian products through a frozen gated network (docs/method.md §4.1): many cotangent rows
// at once — the C class rows of every example, of every example in a batch — so each dense or conv
// layer is one matrix product per step, never one per class.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

// The frozen network a sweep runs through: per ReLU layer the gate (n × size, 0/1 floats: the
// ReLU becomes z ↦ gate ⊙ z), per MaxPool the winner of every window (n × out_size). `guided`
// turns every ReLU's backward into guided backpropagation's δ_in = max(0, δ_out ⊙ gate) (docs/method.md §9).
struct Frozen {
  std::vector<const float*> gates;
  // A gate layer's constants (n × size; null or absent when all are zero, as for ReLU) make it the
  // affine z ↦ gate ⊙ z + constant (docs/semantics.md "Gates beyond ReLU"): with `bias`, sweep_back
  // adds ⟨δ[r], constant⟩ as it adds an affine layer's ⟨δ[r], β⟩.
  std::vector<const float*> constants;
  std::vector<const std::int32_t*> winners;
  bool guided = false;
};

// The state of a reverse sweep: cot[i] is the cotangent at layer i's output (rows × out_size;
// empty = zero), input_cot at the network input. Row r belongs to example r / rows_per_example.
struct Sweep {
  std::size_t rows = 0, rows_per_example = 1;
  std::vector<std::vector<float>> cot;
  std::vector<float> input_cot;
  void reset(const Network& net, std::size_t rows_, std::size_t rows_per_example_);
};

// Pulls the cotangents back through layers hi − 1 down to lo, in reverse topological order, so
// each layer's output cotangent is complete (every consumer is later) when it is processed; the
// processed layers' cotangents are released. With `bias`, bias[r] += ⟨δ_k[r], β_k⟩ for every
// affine layer k met (δ_k: the cotangent at its output), and ⟨δ_k, fill⟩ over the fill outputs of
// every Gather (a padding constant), which yields b_P (docs/method.md §5.1) in the same pass.
void sweep_back(const Network& net, const Frozen& frozen, Sweep& sweep, std::size_t lo,
                std::size_t hi, double* bias = nullptr);

}  // namespace pathwise
