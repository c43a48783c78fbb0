// Prologue of the arm64 NEON kernels (portable.cc, AArch64 only), included once before
// gemm_f32_body.inc: the headers the body needs and the namespace; no target region (NEON is
// baseline on AArch64), no transpose_tile. arm64_neon/end.h closes the namespace.
#include <cstddef>

#include "../../threads/pool.h"
#include "../workspace.h"

namespace pathwise::kernels::arm64_neon {
