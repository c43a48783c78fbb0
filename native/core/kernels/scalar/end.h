// Epilogue of the scalar kernels (portable.cc): closes what scalar/begin.h opened.
}  // namespace pathwise::kernels::scalar
