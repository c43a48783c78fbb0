// Declarations shared by the per-ISA kernel files and dispatch.cc (not part of the core's API).
#pragma once

#include "kernels.h"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define PATHWISE_X86 1
#else
#define PATHWISE_X86 0
#endif

namespace pathwise::kernels {
#if PATHWISE_X86
namespace x86_v4 { extern const KernelTable table; }
namespace x86_v3 { extern const KernelTable table; }
#endif
#if defined(__aarch64__)
namespace arm64_neon { extern const KernelTable table; }
#endif
namespace scalar { extern const KernelTable table; }
}  // namespace pathwise::kernels
