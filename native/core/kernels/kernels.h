// Kernel table: the only way the rest of the core reaches SIMD code.
//
// One kernel source (gemm_f32_body.inc) is compiled once per instruction set into its own
// namespace (x86_v4.cc, x86_v3.cc, portable.cc); dispatch.cc picks the best table the CPU supports
// once, at load, unless PATHWISE_FORCE_KERNEL names another (tests and benchmarks pin kernels so).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pathwise::kernels {

// Row-major single-precision GEMM, C[m×n] = (accumulate ? C : 0) + A[m×k] · op(B).
//   gemm_nn: op(B) = B, B is k×n with leading dimension ldb.
//   gemm_nt: op(B) = Bᵀ, B is n×k with leading dimension ldb (a dense layer's out×in weights,
//            so a forward pass X·Wᵀ needs no transposed copy of W).
using GemmFn = void (*)(std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
                        const float* b, std::size_t ldb, float* c, std::size_t ldc, bool accumulate);

// The same with a thread limit: max_threads 0 = the core pool's size (threads/pool.h), 1 = serial
// on the caller's thread. gemm_nn/gemm_nt above are these with max_threads = 0. Products below
// a measured size run serially whatever the limit; the result is bit-identical for every
// thread count (each element of C is computed by one thread in a fixed order).
using GemmThreadsFn = void (*)(std::size_t m, std::size_t n, std::size_t k, const float* a,
                               std::size_t lda, const float* b, std::size_t ldb, float* c,
                               std::size_t ldc, bool accumulate, std::size_t max_threads);

// One group of one example of a convolution, direct (kernels/conv_f32_body.inc): the input copied
// with its zero padding into planes of rows of wp floats (split into stride phases by
// forward/conv_direct.cc; a stride-1 conv's padded planes as they are), followed by at least
// conv_cols + (kw − 1)·dw readable floats (their values are read into dropped lanes only; keep
// them finite); `packed` the group's weights as pack_conv_weights (forward/conv_direct.h) lays
// them out for this table's conv_rows; offsets[p] the padded-input offset of tap p (k of them);
// out cout × oh × ow (NCHW), bias cout or null; residual null or cout × oh × ow, added after the
// bias (an Add layer fused); relu: the result rectified as a ReLU gate does it (z > 0 ? z : 0).
// max_threads as for GemmThreadsFn.
struct ConvDirectArgs {
  const float* input;
  const float* packed;
  const std::size_t* offsets;
  const float* bias;
  float* out;
  std::size_t k, cout, oh, ow, wp, max_threads;
  const float* residual = nullptr;
  bool relu = false;
};
using ConvDirectFn = void (*)(const ConvDirectArgs& args);

// The sparse conv VJP for a block of rows that share their nonzero units of δ_out (the C class
// rows of one example below a path layer), one group of input channels (conv_scatter_f32_body.inc;
// vjp/conv_back_sparse.cc builds the items). For each channel c < channels, row r < rows and item
// i in order, δ_in[r][c] at tap_position[j] += values[i·L + r] · weights[c·T + j − tap_begin[0]]
// for each tap j of item i (j in [tap_begin[i], tap_begin[i + 1]), T = tap_begin[items] −
// tap_begin[0]), a row whose value is ±0 skipping the item; the bits of one multiply and one add
// per term in that order.
struct ConvScatterArgs {
  float* dx;               // row 0's δ_in at the call's first channel; channel c at + c·plane
  std::size_t ldx, rows;   // floats from row to row; rows ≤ L = the table's scatter_lanes
  std::size_t channels, plane;
  bool fresh;              // dx holds nothing yet: start from +0 and write every value (none read)
  std::size_t items;
  const float* values;     // items × L: item i's δ_out in each row (lane), ±0 in lanes ≥ rows
  const std::uint8_t* skip;  // per item: 1 when every lane is ±0 (the item adds nothing)
  const std::uint32_t* tap_begin;     // items + 1 entries
  const std::uint32_t* tap_position;  // each tap's position within the channel's plane (index j)
  const float* weights;    // channels × T: channel c's weight of every tap
  float* scratch;          // plane × L floats
};
using ConvScatterFn = void (*)(const ConvScatterArgs& args);

struct KernelTable {
  const char* name;         // "avx512", "avx2", "neon", "scalar": what PATHWISE_FORCE_KERNEL accepts
  const char* description;  // ISA level and register tile, e.g. "x86-64-v4 (AVX-512), 12x32 tile"
  GemmFn gemm_nn;
  GemmFn gemm_nt;
  GemmThreadsFn gemm_nn_threads;
  GemmThreadsFn gemm_nt_threads;
  ConvDirectFn conv_direct;
  std::size_t conv_rows;  // output channels per packed weight panel of conv_direct
  std::size_t conv_cols;  // grid positions per register tile of conv_direct's position kernel
  ConvScatterFn conv_scatter;
  std::size_t scatter_lanes;  // rows per conv_scatter call (L)
};

// Every table compiled into this binary that the running CPU can execute, best first.
std::vector<const KernelTable*> available();

// The table in use, chosen once on first call (the PATHWISE_FORCE_KERNEL override included).
const KernelTable& active();

// Looks a table up by name among available(); nullptr when absent or unsupported by the CPU.
const KernelTable* find(const std::string& name);

// Set when PATHWISE_FORCE_KERNEL named a kernel that is not available: the reason, for the
// addon to report (the active table then falls back to the best available one).
const std::string& force_error();

}  // namespace pathwise::kernels
