// Portable instantiations: "scalar" (one float per "vector", no target pragma: whatever the
// baseline ISA gives) and, on arm64, "neon" (NEON is baseline on AArch64, so no dispatch needed).
#include "kernels_isa.h"

#include "scalar/begin.h"
// The oracle path: kept simple (4 × 4 tile of scalars), not tuned; ~3 GFLOP/s, so 1 MFLOP is
// already ~0.3 ms of work, the same bar as the x86 kernels' 32 MFLOP.
#define PW_VEC_WIDTH 1
#define PW_TILE_ROWS 4
#define PW_TILE_VECS 4
#define PW_KC 256
#define PW_MC 64
#define PW_NC 256
#define PW_PAR_MIN_FLOPS 1e6
#define PW_GROUP 1
#include "gemm_f32_body.inc"
#define PW_CONV_CHANNEL_VECS 4
#define PW_CONV_POSITIONS 4
#define PW_CONV_ROWS 4
#define PW_CONV_VECS 4
#include "conv_f32_body.inc"
#define PW_SCATTER_LANES 8
#include "conv_scatter_f32_body.inc"
const KernelTable table = {"scalar", "portable C++, 4x4 tile", gemm_nn, gemm_nt, gemm_nn_threads,
                           gemm_nt_threads, conv_direct, conv_rows(), conv_cols(), conv_scatter,
                           scatter_lanes()};
#include "scalar/end.h"

#if defined(__aarch64__)
#include "arm64_neon/begin.h"
// Not yet measured on arm64 hardware: 8 × 12 = 24 accumulators + 3 B vectors + A of the 32
// v-registers, the register block of BLIS's armv8a sgemm micro-kernel.
#define PW_VEC_WIDTH 4
#define PW_TILE_ROWS 8
#define PW_TILE_VECS 3
#define PW_KC 256
#define PW_MC 96
#define PW_NC 384
#define PW_PAR_MIN_FLOPS 16e6
#define PW_GROUP 2
#include "gemm_f32_body.inc"
// Channel tile 8 × 12: 24 accumulators + 2 weight vectors of the 32 registers.
#define PW_CONV_CHANNEL_VECS 2
#define PW_CONV_POSITIONS 12
#define PW_CONV_ROWS 8
#define PW_CONV_VECS 3
#include "conv_f32_body.inc"
#define PW_SCATTER_LANES 16
#include "conv_scatter_f32_body.inc"
const KernelTable table = {"neon", "arm64 NEON, 8x12 tile", gemm_nn, gemm_nt, gemm_nn_threads,
                           gemm_nt_threads, conv_direct, conv_rows(), conv_cols(), conv_scatter,
                           scatter_lanes()};
#include "arm64_neon/end.h"
#endif
