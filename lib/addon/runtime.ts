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

/**
 * Sets the number of threads pathwise computes with (its own pool, shared by every model and
 * call in this process or worker's addon instance): 1 … 1024, or 0 for the default —
 * PATHWISE_THREADS if set, else the number of cores. Results do not depend on it (bit for bit).
 * Waits for a running parallel product of an async call to finish first. `kernelInfo().threads`
 * reads it back.
 */
export function setThreads(threads: number): void {
  if (typeof threads !== 'number') throw new TypeError(`setThreads: threads must be a number, got ${typeof threads}`);
  if (!Number.isInteger(threads) || threads < 0 || threads > 1024)
    throw new RangeError(`setThreads: threads must be an integer in [0, 1024] (0 = the default), got ${threads}`);
  nativeAddon().setThreads(threads);
}
