// Batched vector-Jacobian products through a frozen gated network (docs/method.md §4.1): many cotangent rows
// at once — the C class rows of every example, of every example in a batch — so each dense or conv
// layer is one matrix product per step, never one per class.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../ir/network.h"
#include "conv_back_sparse.h"

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
// (SweepState is what Sweep holds; Sweep adds the arena's methods and its end.)
struct SweepState {
  std::size_t rows = 0, rows_per_example = 1;
  std::vector<std::vector<float>> cot;
  std::vector<float> input_cot;

  // Scratch of the conv VJP (im2col columns, gathered δ_out, a direct VJP's stride phase or a row to
  // add) and of the sparse rows.
  std::vector<float> cols, gathered;
  std::vector<std::vector<std::uint32_t>> nonzeros;  // one list per task
  std::vector<std::uint8_t> dense_row;
  // Scratch of the conv VJP of rows known +0 but at a gate's kept units (conv_back_kept).
  ConvScatterScratch scatter;

  // Where a cotangent can be nonzero: support_from[i] = the gate layer g when every row of cot[i]
  // is +0 outside the units g's frozen gate keeps for the row's example (set by a path layer's
  // masked backward into a fresh buffer and passed on by an Add's copy; −1: unknown). A consumer
  // then reads only those units (the conv's sparse rows without scanning all of them): on resnet18
  // at depth 'all' the scan and the gate's full pass were a quarter of the C-row sweeps (perf).
  std::vector<int> support_from;
  // Per gate layer, per example: the units its frozen gate keeps, when every example keeps at most
  // 1/kSparseDivisor of them (else empty); filled as a sweep meets the gate.
  std::vector<std::vector<std::vector<std::uint32_t>>> gate_support;

 protected:
  struct Spare {
    std::vector<float> v;
    std::size_t zeros;
  };
  std::vector<Spare> spare_;
  std::size_t block_floats_ = 0;  // rows × the widest layer: the capacity of a fresh block
};

// A Sweep is also its own arena: buffers it releases (a processed layer's cotangent, everything on
// reset) are kept and handed out again, and the conv scratch persists, so a caller that reuses one
// Sweep for many sweeps (an explanation's steps and class chunks) allocates each buffer once.
// Fresh C-row blocks of 100–800 MB are mmap'd by malloc and page-faulted in on every use: on
// resnet18 with 1000 classes that was 18.7 M minor faults and ~80 % of an explanation (perf).
// When a Sweep ends (or is assigned over, or trimmed), its large blocks go to block_cache.h for
// the next Sweep, which takes them before it allocates. Fresh blocks of at least
// block_cache::kMinFloats are all reserved at the widest layer's size (only the floats a request
// uses are ever touched), so any block serves any later request: with blocks of the sizes first
// asked, the best fit gave a 3 MB request a 95 MB block and the 191 MB request then missed, two
// explanations running before every block fitted. (Smaller ones reserved so, on a small CNN, left
// malloc's heap with a 3× larger peak: test/reliability-resources.test.ts.)
struct Sweep : SweepState {
  Sweep() = default;
  Sweep(Sweep&&) noexcept = default;
  Sweep& operator=(Sweep&& other) noexcept;
  ~Sweep();

  void reset(const Network& net, std::size_t rows_, std::size_t rows_per_example_);

  // A buffer of `size` floats from the arena, zero-filled when `zero` (else its values are
  // unspecified); it replaces v (which is released first).
  void take(std::vector<float>& v, std::size_t size, bool zero);
  // Returns v's storage to the arena; v becomes empty (zero). `zeros`: its first values known to be
  // +0 (a take() that must zero-fill no more than that skips the fill).
  void release(std::vector<float>& v, std::size_t zeros = 0);
  // Hands the arena's spare buffers (what reset and release kept) to block_cache.
  void trim();

 private:
  // Hands every buffer (spares and cotangents) to block_cache.
  void recycle();
};

// Pulls the cotangents back through layers hi − 1 down to lo, in reverse topological order, so
// each layer's output cotangent is complete (every consumer is later) when it is processed; the
// processed layers' cotangents are released. With `bias`, bias[r] += ⟨δ_k[r], β_k⟩ for every
// affine layer k met (δ_k: the cotangent at its output), and ⟨δ_k, fill⟩ over the fill outputs of
// every Gather (a padding constant), which yields b_P (docs/method.md §5.1) in the same pass.
void sweep_back(const Network& net, const Frozen& frozen, Sweep& sweep, std::size_t lo,
                std::size_t hi, double* bias = nullptr);

}  // namespace pathwise
