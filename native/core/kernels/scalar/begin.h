// Prologue of the scalar kernels (portable.cc), included once before gemm_f32_body.inc: the headers
// the body needs and the namespace; no target region (whatever the baseline ISA gives), no
// transpose_tile. scalar/end.h closes the namespace.
#include <cstddef>

#include "../../threads/pool.h"
#include "../workspace.h"

namespace pathwise::kernels::scalar {
