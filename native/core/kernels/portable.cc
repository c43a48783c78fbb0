// Portable instantiations: "scalar" (one float per "vector", no target pragma: whatever the
// baseline ISA gives) and, on arm64, "neon" (NEON is baseline on AArch64, so no dispatch needed).
#include "kernels_isa.h"

#include <cstddef>

namespace pathwise::kernels::scalar {
#define PW_VEC_WIDTH 1
#define PW_TILE_ROWS 4
#define PW_TILE_VECS 4
#include "gemm_f32_body.inc"
#undef PW_VEC_WIDTH
#undef PW_TILE_ROWS
#undef PW_TILE_VECS
const KernelTable table = {"scalar", "portable C++, 4x4 tile", gemm_nn, gemm_nt};
}  // namespace pathwise::kernels::scalar

#if defined(__aarch64__)
namespace pathwise::kernels::arm64_neon {
// Not yet measured on arm64 hardware: 4 × 16 mirrors the x86 tiles (16 accumulators of 32 v-regs).
#define PW_VEC_WIDTH 4
#define PW_TILE_ROWS 4
#define PW_TILE_VECS 4
#include "gemm_f32_body.inc"
#undef PW_VEC_WIDTH
#undef PW_TILE_ROWS
#undef PW_TILE_VECS
const KernelTable table = {"neon", "arm64 NEON, 4x16 tile", gemm_nn, gemm_nt};
}  // namespace pathwise::kernels::arm64_neon
#endif
