// AVX2 + FMA instantiation of the shared kernels (x86-64-v3).
#include "kernels_isa.h"

#if PATHWISE_X86
#include "x86_v3/begin.h"
// 6 × 16 tile (12 ymm accumulators + 2 B vectors + 1 broadcast of 16 registers), BLIS's haswell
// sgemm shape. Same machine and method as x86_v4.cc (Zen 4, where AVX2 has the same FMA rate as
// AVX-512: 2 × 256 bit per cycle): 512³ 101.4 GFLOP/s (the previous 4 × 24: 101.3); 10 × 4096
// × 4096 46.3 (4 × 24: 32.6; m = 10 takes two passes over B with 6-row tiles, where AVX-512's 12
// rows take one). Blocks and the 32 MFLOP thread threshold as for AVX-512.
#define PW_VEC_WIDTH 8
#define PW_TILE_ROWS 6
#define PW_TILE_VECS 2
#define PW_KC 256
#define PW_MC 96
#define PW_NC 512
#define PW_PAR_MIN_FLOPS 32e6
#define PW_GROUP 2
#include "gemm_f32_body.inc"
// Direct conv tile 4 × 24 (12 ymm accumulators + 3 input vectors).
// Channel tile 16 × 6: 12 ymm accumulators + 2 weight vectors + 1 broadcast of the 16 registers.
#define PW_CONV_CHANNEL_VECS 2
#define PW_CONV_POSITIONS 6
#define PW_CONV_ROWS 4
#define PW_CONV_VECS 3
#define PW_CONV_TRANSPOSE_TILE 1
#include "conv_f32_body.inc"
#define PW_SCATTER_LANES 16
#define PW_SCATTER_TRANSPOSE 1
#include "conv_scatter_f32_body.inc"
const KernelTable table = {"avx2", "x86-64-v3 (AVX2+FMA), 6x16 tile", gemm_nn, gemm_nt,
                           gemm_nn_threads, gemm_nt_threads, conv_direct,
                           conv_rows(), conv_cols(), conv_scatter, scatter_lanes()};
#include "x86_v3/end.h"
#endif
