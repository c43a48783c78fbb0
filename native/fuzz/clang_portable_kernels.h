// Force-included (-include) in clang builds by CMakeLists.txt (fuzzing and sanitizer builds).
// clang (14) rejects the x86-64-v3/-v4 level names that dispatch.cc passes to
// __builtin_cpu_supports and ignores the `#pragma GCC target` that gives x86_v3.cc/x86_v4.cc their
// instruction sets, so in a clang build only the portable kernel is used: no CPU then reports the
// AVX2/AVX-512 tables as supported. The SIMD kernels are sanitized in the g++ build.
#pragma once
#define __builtin_cpu_supports(feature) 0
