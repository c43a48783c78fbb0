// Per-thread scratch for the packed GEMM panels and the direct conv's C blocks and padded input. Lives in its own translation unit, compiled
// for the baseline ISA, so the AVX-512/AVX2 kernel files instantiate no standard-library template
// (a template instantiated under `#pragma GCC target` could be the copy the linker keeps for
// every caller; DEVELOPERS.md "Toolchain notes").
#pragma once

#include <cstddef>

namespace pathwise::kernels {

enum class Slot : unsigned { PackedA = 0, PackedB = 1, ConvC = 2, ConvInput = 3 };

// A 64-byte-aligned buffer of at least `floats` floats owned by the calling thread; it grows and
// is reused (never shrinks) and is freed when the thread ends. Contents are unspecified.
float* workspace(Slot slot, std::size_t floats);

}  // namespace pathwise::kernels
