// Epilogue of the AVX-512 kernels (x86_v4.cc): closes what x86_v4/begin.h opened, in reverse order.
}  // namespace pathwise::kernels::x86_v4
#pragma GCC diagnostic pop
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
