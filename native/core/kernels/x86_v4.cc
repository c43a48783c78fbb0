// AVX-512 instantiation of the shared kernels (x86-64-v4: AVX-512 F/BW/CD/DQ/VL).
#include "kernels_isa.h"

#if PATHWISE_X86
#include "x86_v4/begin.h"
// Measured on the 2-core KVM guest we develop on (AMD EPYC family 25 model 17, Zen 4: AVX-512
// runs as 2 × 256 bit, one zmm FMA per cycle, 115 GFLOP/s peak per core at 3.6 GHz, measured;
// L1d 32 KiB, L2 1 MiB), g++ 12 -O3, single thread, GFLOP/s by thread CPU time (the machine is
// shared, wall time was up to 2× worse), best of 3 rounds, ±3:
//   * Tile 12 × 32 (24 zmm accumulators + 2 B vectors + 1 broadcast): the micro-kernel alone, from
//     L1, runs at 113.8 (8 × 32: 115.1, 6 × 64: 112.5), i.e. at the FMA peak; in the whole 512³
//     product 105–107, like 8 × 32 and 6 × 64, so the tile is not what limits 512³. 12 rows were
//     chosen for the products the explainer runs: the Jacobian steps have m = 10·batch rows, and
//     10 × 4096 × 4096 with a 12-row tile is one pass over B (89.8) where 8 rows take two (44.4).
//   * KC 256: 512³ 105.3 (KC 128: 102.0, 384: 106.2). A 12 × 256 A panel is 12 KiB (L1), a 256 ×
//     512 packed B block 512 KiB (L2).
//   * NC 512 (1024: 105.8, same). MC 96 caps a row task (threads: ~8 row tasks per thread).
//   * Packing: separate pack_a/pack_b passes were 6 % + 4.5 % of 512³ (perf); packing A in the
//     first tile of each row panel and keeping one A micro-panel instead of an MC block took 512³
//     from 97–100 to 105–107. Packing B in the first row panel as well was slower (B read in
//     place across rows 2 KiB apart: L1 set conflicts, 4K aliasing with the packed stores).
//   * Small m (gemm_nn, m ≤ 24): B read in place with a 2-panel prefetch, 10 × 4096 × 4096: 89.8
//     (3.7 ms, 18 GB/s of B; 1 panel ahead: 18, 4 panels: 88.9); packing it first: 26.
//   * Threads: products under 32 MFLOP (~0.3 ms on one core) stay serial. An empty 2-thread
//     region costs 1.9 µs when the worker is spinning on an idle core, but on this shared box
//     (load average 4–8 on 2 cores during all 2-thread runs) a region of 8 × 2 µs tasks took
//     p50 260 µs, p99 4 ms: a descheduled worker holding a task stalls the caller. A batch-64
//     Fashion MLP explainBatchSync (best of 300 calls, runs alternated): 2 MFLOP threshold (~25
//     regions per call) 1 thread 3.28–3.31 ms, 2 threads 6.27–6.32 (one run 3.73; perf: 24 %
//     worker spin, 11 % caller waiting); 32 MFLOP (only the 640 × 256 × 128 Jacobian step split)
//     1 thread 3.28–3.44, 2 threads 3.31–3.71. Retune on an idle machine.
#define PW_VEC_WIDTH 16
#define PW_TILE_ROWS 12
#define PW_TILE_VECS 2
#define PW_KC 256
#define PW_MC 96
#define PW_NC 512
#define PW_PAR_MIN_FLOPS 32e6
#define PW_GROUP 4
#include "gemm_f32_body.inc"
// Direct conv, channel tile 32 × 14 (28 zmm accumulators + 2 weight vectors, the input values as
// embedded broadcasts): 32 channels divide every VGG and ResNet channel count, and 14 positions
// are a whole number of pieces of 7 in every row width of both (224 … 14, 7). Position tile (up to
// 8 channels: depthwise layers) 8 × 48: 24 accumulators + 3 input vectors.
#ifndef PW_CONV_ROWS
#define PW_CONV_CHANNEL_VECS 2
#define PW_CONV_POSITIONS 14
#define PW_CONV_ROWS 8
#define PW_CONV_VECS 3
#endif
#define PW_CONV_TRANSPOSE_TILE 1
#include "conv_f32_body.inc"
#define PW_SCATTER_LANES 32
#define PW_SCATTER_TRANSPOSE 1
#include "conv_scatter_f32_body.inc"
const KernelTable table = {"avx512", "x86-64-v4 (AVX-512), 12x32 tile", gemm_nn, gemm_nt,
                           gemm_nn_threads, gemm_nt_threads, conv_direct,
                           conv_rows(), conv_cols(), conv_scatter, scatter_lanes()};
#include "x86_v4/end.h"
#endif
