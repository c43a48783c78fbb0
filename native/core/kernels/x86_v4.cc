// AVX-512 instantiation of the shared kernels (x86-64-v4: AVX-512 F/BW/CD/DQ/VL).
#include "kernels_isa.h"

#if PATHWISE_X86
#include <cstddef>

#include "../threads/pool.h"
#include "workspace.h"

#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4")
namespace pathwise::kernels::x86_v4 {
#define PW_VEC_WIDTH 16
#define PW_TILE_ROWS 12
#define PW_TILE_VECS 2
#define PW_KC 256
#define PW_MC 96
#define PW_NC 512
#define PW_PAR_MIN_FLOPS 2e6
#include "gemm_f32_body.inc"
#undef PW_VEC_WIDTH
#undef PW_TILE_ROWS
#undef PW_TILE_VECS
#undef PW_KC
#undef PW_MC
#undef PW_NC
#undef PW_PAR_MIN_FLOPS
const KernelTable table = {"avx512", "x86-64-v4 (AVX-512), 12x32 tile", gemm_nn, gemm_nt,
                           gemm_nn_threads, gemm_nt_threads};
}  // namespace pathwise::kernels::x86_v4
#pragma GCC pop_options
#endif
