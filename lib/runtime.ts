/** Visible runtime state: which kernel set runs (sharp's `simd()` in spirit). */
import { nativeAddon, type KernelInfo } from './native.js';

/**
 * The SIMD kernel set in use and those available on this CPU. Set PATHWISE_FORCE_KERNEL
 * (avx512, avx2, neon, scalar) before the first load to pin one.
 */
export function kernelInfo(): KernelInfo {
  const info = nativeAddon().kernelInfo();
  return { ...info, available: [...info.available] };
}
