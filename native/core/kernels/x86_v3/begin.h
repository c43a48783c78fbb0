// Prologue of the AVX2 + FMA kernels (x86_v3.cc), included once before gemm_f32_body.inc: the
// headers the body needs, then the x86-64-v3 target region (for clang an attribute, as in
// x86_v4/begin.h), the namespace and transpose_tile. x86_v3/end.h closes them in reverse order.
#include <immintrin.h>

#include <cstddef>

#include "../../threads/pool.h"
#include "../workspace.h"

#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#endif
namespace pathwise::kernels::x86_v3 {
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
