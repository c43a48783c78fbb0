// AVX2 + FMA instantiation of the shared kernels (x86-64-v3).
#include "kernels_isa.h"

#if PATHWISE_X86
#include <immintrin.h>

#include <cstddef>

#include "../threads/pool.h"
#include "workspace.h"

// clang ignores GCC's target pragma (the fuzz and sanitizer builds use clang): give it the
// same features through an attribute on every function of this region.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#endif
namespace pathwise::kernels::x86_v3 {
// 6 × 16 tile (12 ymm accumulators + 2 B vectors + 1 broadcast of 16 registers), BLIS's haswell
// sgemm shape. Same machine and method as x86_v4.cc (Zen 4, where AVX2 has the same FMA rate as
// AVX-512: 2 × 256 bit per cycle): 512³ 101.4 GFLOP/s (the previous 4 × 24: 101.3); 10 × 4096
// × 4096 46.3 (4 × 24: 32.6; m = 10 takes two passes over B with 6-row tiles, where AVX-512's 12
// rows take one). Blocks and the 32 MFLOP thread threshold as for AVX-512.
// dst[p·ldd + j] = src[j·lds + p] for j, p < 8: the 8 × 8 transpose pack_b uses for gemm_nt.
static inline __attribute__((always_inline)) void transpose_tile(const float* src, std::size_t lds,
                                                                 float* dst, std::size_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    t[i] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x20);
    t[i + 4] = _mm256_permute2f128_ps(r[i], r[i + 4], 0x31);
  }
  for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + i * ldd, t[i]);
}
#define PW_HAVE_TRANSPOSE_TILE 1
#define PW_VEC_WIDTH 8
#define PW_TILE_ROWS 6
#define PW_TILE_VECS 2
#define PW_KC 256
#define PW_MC 96
#define PW_NC 512
#define PW_PAR_MIN_FLOPS 32e6
#define PW_GROUP 2
#include "gemm_f32_body.inc"
#undef PW_VEC_WIDTH
#undef PW_TILE_ROWS
#undef PW_TILE_VECS
#undef PW_KC
#undef PW_MC
#undef PW_NC
#undef PW_PAR_MIN_FLOPS
#undef PW_GROUP
#undef PW_HAVE_TRANSPOSE_TILE
const KernelTable table = {"avx2", "x86-64-v3 (AVX2+FMA), 6x16 tile", gemm_nn, gemm_nt,
                           gemm_nn_threads, gemm_nt_threads};
}  // namespace pathwise::kernels::x86_v3
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#endif
