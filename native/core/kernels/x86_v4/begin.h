// Prologue of the AVX-512 kernels (x86_v4.cc), included once before gemm_f32_body.inc: the headers
// the body needs, then the x86-64-v4 target region, the namespace and transpose_tile.
// x86_v4/end.h closes them in reverse order.
#include <immintrin.h>

#include <cstddef>

#include "../../threads/pool.h"
#include "../workspace.h"

// clang ignores GCC's target pragma (the fuzz and sanitizer builds use clang): give it the
// same features through an attribute on every function of this region.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,f16c,lzcnt,movbe"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
#endif
// g++ 12 warns inside its own avx512fintrin.h (the _mm512_undefined_ps() pass-through of the
// unpack/shuffle intrinsics) wherever transpose_tile is inlined: GCC bug 105593, a false positive.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
namespace pathwise::kernels::x86_v4 {
// dst[p·ldd + j] = src[j·lds + p] for j, p < 16: the 16 × 16 transpose pack_b uses for gemm_nt.
static inline __attribute__((always_inline)) void transpose_tile(const float* src, std::size_t lds,
                                                                 float* dst, std::size_t ldd) {
  __m512 r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * lds);
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    r[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int h = 0; h < 16; h += 8)
    for (int i = 0; i < 4; ++i) {
      t[h + i] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0x88);
      t[h + i + 4] = _mm512_shuffle_f32x4(r[h + i], r[h + i + 4], 0xDD);
    }
  for (int i = 0; i < 8; ++i) {
    r[i] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0x88);
    r[i + 8] = _mm512_shuffle_f32x4(t[i], t[i + 8], 0xDD);
  }
  for (int i = 0; i < 16; ++i) _mm512_storeu_ps(dst + i * ldd, r[i]);
}
#define PW_HAVE_TRANSPOSE_TILE 1
