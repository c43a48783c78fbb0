// Epilogue of the AVX2 + FMA kernels (x86_v3.cc): closes what x86_v3/begin.h opened, in reverse order.
}  // namespace pathwise::kernels::x86_v3
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
