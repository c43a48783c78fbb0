// AVX-512 instantiation of the shared kernels (x86-64-v4: AVX-512 F/BW/CD/DQ/VL).
#include "kernels_isa.h"

#if PATHWISE_X86
#include <cstddef>

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
namespace pathwise::kernels::x86_v4 {
// 4 × 64 tile: 16 zmm accumulators + 4 B vectors + 1 broadcast of 32 registers; ECOSYSTEM §5
// measured 128–144 GFLOP/s for 4-row tiles of 2–4 vectors at 512³ on Zen 5.
#define PW_VEC_WIDTH 16
#define PW_TILE_ROWS 4
#define PW_TILE_VECS 4
#include "gemm_f32_body.inc"
#undef PW_VEC_WIDTH
#undef PW_TILE_ROWS
#undef PW_TILE_VECS
const KernelTable table = {"avx512", "x86-64-v4 (AVX-512), 4x64 tile", gemm_nn, gemm_nt};
}  // namespace pathwise::kernels::x86_v4
#pragma GCC pop_options
#endif
