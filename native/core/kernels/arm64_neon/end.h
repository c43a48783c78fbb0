// Epilogue of the arm64 NEON kernels (portable.cc): closes what arm64_neon/begin.h opened.
}  // namespace pathwise::kernels::arm64_neon
