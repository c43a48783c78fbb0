// AVX2 + FMA instantiation of the shared kernels (x86-64-v3).
#include "kernels_isa.h"

#if PATHWISE_X86
#include <cstddef>

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
namespace pathwise::kernels::x86_v3 {
// 4 × 24 tile: 12 ymm accumulators + 3 B vectors + 1 broadcast of 16 registers. ECOSYSTEM §5:
// a 4 × 64 tile spills on AVX2 (38 GFLOP/s at 512³) where 4 × 24 reached 57.
#define PW_VEC_WIDTH 8
#define PW_TILE_ROWS 4
#define PW_TILE_VECS 3
#include "gemm_f32_body.inc"
#undef PW_VEC_WIDTH
#undef PW_TILE_ROWS
#undef PW_TILE_VECS
const KernelTable table = {"avx2", "x86-64-v3 (AVX2+FMA), 4x24 tile", gemm_nn, gemm_nt};
}  // namespace pathwise::kernels::x86_v3
#pragma GCC pop_options
#endif
