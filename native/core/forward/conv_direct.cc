#include "conv_direct.h"

#include <algorithm>

#include "../kernels/workspace.h"
#include "../threads/pool.h"

namespace pathwise::ops {
namespace {

// The kernel reads a stride-1 grid. A strided conv is one over phase planes: padded input row
// y = sh·y' + a, column x = sw·x' + b goes to phase (a, b) at (y', x'), phases one after another,
// each Cin planes of hs × ws. Tap (ci, ky, kx) of output (oy, ox) then reads phase
// (ky·dh mod sh, kx·dw mod sw) at (oy + ky·dh div sh, ox + kx·dw div sw): with q = oy·ws + ox, at
// q + a fixed offset, as in the stride-1 case (one phase, hs × ws the padded input).
struct PhaseGrid {
  std::size_t hp, wp, hs, ws, plane, phases, q, q_pad, input_floats;
};

PhaseGrid grid_of(const Layer& layer, std::size_t cols) {
  const Window& w = layer.window;
  PhaseGrid g;
  g.hp = layer.in_shape.h + w.pt + w.pb;
  g.wp = layer.in_shape.w + w.pl + w.pr;
  g.hs = (g.hp + w.sh - 1) / w.sh;
  g.ws = (g.wp + w.sw - 1) / w.sw;
  g.plane = g.hs * g.ws;
  g.phases = w.sh * w.sw;
  g.q = layer.out_shape.h * g.ws;
  g.q_pad = (g.q + cols - 1) / cols * cols;
  // The last tile reads up to q_pad − q positions and (kw − 1)·dw / sw taps past the last plane.
  g.input_floats = g.phases * layer.in_shape.c * g.plane + (g.q_pad - g.q) + (w.kw - 1) * w.dw + cols;
  return g;
}

// The padded (and phase-split) copy of input channels [task · channels_per_task, …): each channel's
// planes of every phase, zeros where no input lands.
struct PadJob {
  const Layer* layer;
  const PhaseGrid* g;
  const float* in;
  float* phased;
  std::size_t channels_per_task;
};

void pad_task(void* ctx, std::size_t task) {
  const PadJob& j = *static_cast<const PadJob*>(ctx);
  const Shape& is = j.layer->in_shape;
  const Window& w = j.layer->window;
  const PhaseGrid& g = *j.g;
  const float* in = j.in;
  float* phased = j.phased;
  const std::size_t c0 = task * j.channels_per_task, c1 = std::min(is.c, c0 + j.channels_per_task);
  if (g.phases == 1) {
    // Border zero, interior rows copied.
    for (std::size_t ch = c0; ch < c1; ++ch) {
      float* plane = phased + ch * g.plane;
      std::fill(plane, plane + w.pt * g.ws, 0.0f);
      for (std::size_t y = 0; y < is.h; ++y) {
        float* row = plane + (w.pt + y) * g.ws;
        std::fill(row, row + w.pl, 0.0f);
        std::copy(in + (ch * is.h + y) * is.w, in + (ch * is.h + y + 1) * is.w, row + w.pl);
        std::fill(row + w.pl + is.w, row + g.ws, 0.0f);
      }
      std::fill(plane + (w.pt + is.h) * g.ws, plane + g.plane, 0.0f);
    }
    return;
  }
  // Column x + pl goes to phase b = (x + pl) mod sw at (x + pl) div sw, both stepped rather than
  // divided per element (the divisions made this copy 11 % of a MobileNetV2 forward, perf).
  const std::size_t phase_stride = is.c * g.plane;
  for (std::size_t ch = c0; ch < c1; ++ch) {
    for (std::size_t phase = 0; phase < g.phases; ++phase)
      std::fill(phased + phase * phase_stride + ch * g.plane, phased + phase * phase_stride + (ch + 1) * g.plane, 0.0f);
    for (std::size_t y = 0; y < is.h; ++y) {
      const std::size_t py = y + w.pt;
      const float* src = in + (ch * is.h + y) * is.w;
      float* row = phased + (py % w.sh) * w.sw * phase_stride + ch * g.plane + (py / w.sh) * g.ws;
      std::size_t b = w.pl % w.sw, col = w.pl / w.sw;
      for (std::size_t x = 0; x < is.w; ++x) {
        row[b * phase_stride + col] = src[x];
        if (++b == w.sw) b = 0, ++col;
      }
    }
  }
}

}  // namespace

bool conv_direct_applies(const Layer& layer) {
  const Window& w = layer.window;
  if (layer.kind != LayerKind::Conv) return false;
  // A strided conv whose taps miss some phases (1 × 1 stride 2: three of four) would copy phases it
  // never reads: 64 → 128 at 56 × 56 ran at 19 GFLOP/s against im2col's 55.
  if ((w.kh - 1) * w.dh + 1 < w.sh || (w.kw - 1) * w.dw + 1 < w.sw) return false;
  return !(w.kh == 1 && w.kw == 1 && w.sh == 1 && w.sw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0);
}

std::vector<float> pack_conv_weights(const Layer& layer, std::size_t rows) {
  const std::size_t g = layer.groups, cout_g = layer.out_shape.c / g;
  const std::size_t k = (layer.in_shape.c / g) * layer.window.kh * layer.window.kw;
  const std::size_t panels = (cout_g + rows - 1) / rows;
  std::vector<float> packed(g * panels * rows * k, 0.0f);
  for (std::size_t gi = 0; gi < g; ++gi)
    for (std::size_t o = 0; o < cout_g; ++o) {
      float* panel = packed.data() + (gi * panels + o / rows) * rows * k;
      const float* src = layer.weights.data() + (gi * cout_g + o) * k;
      for (std::size_t p = 0; p < k; ++p) panel[p * rows + o % rows] = src[p];
    }
  return packed;
}

std::size_t conv_direct_scratch_floats(const Layer& layer, const kernels::KernelTable& table) {
  const PhaseGrid g = grid_of(layer, table.conv_cols);
  return g.input_floats;
}

void conv_forward_direct(const Layer& layer, const kernels::KernelTable& table, const float* packed, const float* in,
                         float* out, bool with_bias, std::vector<std::size_t>& offsets, std::size_t max_threads,
                         bool relu, const float* residual) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::size_t groups = layer.groups, cin_g = is.c / groups, cout_g = os.c / groups;
  const std::size_t k = cin_g * w.kh * w.kw, rows = table.conv_rows;
  const PhaseGrid g = grid_of(layer, table.conv_cols);
  // A thread's own buffer, reused from call to call: a fresh 13 MB vector per conv (VGG's conv1_2
  // input, padded) cost page faults and zeroing worth 10 % of a forward pass (perf).
  float* phased = kernels::workspace(kernels::Slot::ConvInput, g.input_floats);
  PadJob job{&layer, &g, in, phased, 0};
  const std::size_t pool = threads::pool_size();
  // Over 2^16 floats the copy runs on the pool, a few channels a task: serial, it was 2–3 % of a
  // 2-thread ResNet18 forward on one core while the other waited (perf).
  if (pool > 1 && !threads::in_parallel_region() && g.phases * is.c * g.plane >= (std::size_t(1) << 16) &&
      (max_threads == 0 || max_threads > 1)) {
    const std::size_t t = max_threads == 0 ? pool : std::min(pool, max_threads);
    job.channels_per_task = (is.c + 4 * t - 1) / (4 * t);
    threads::parallel_for((is.c + job.channels_per_task - 1) / job.channels_per_task, t, pad_task, &job);
  } else {
    job.channels_per_task = is.c;
    pad_task(&job, 0);
  }
  std::fill(phased + g.phases * is.c * g.plane, phased + g.input_floats, 0.0f);
  offsets.resize(k);
  for (std::size_t p = 0; p < k; ++p) {
    const std::size_t ci = p / (w.kh * w.kw), ky = p / w.kw % w.kh, kx = p % w.kw;
    const std::size_t ty = ky * w.dh, tx = kx * w.dw;
    const std::size_t phase = (ty % w.sh) * w.sw + tx % w.sw;
    offsets[p] = (phase * is.c + ci) * g.plane + (ty / w.sh) * g.ws + tx / w.sw;
  }
  const std::size_t panels = (cout_g + rows - 1) / rows;
  for (std::size_t gi = 0; gi < groups; ++gi) {
    kernels::ConvDirectArgs args;
    args.input = phased + gi * cin_g * g.plane;
    args.packed = packed + gi * panels * rows * k;
    args.offsets = offsets.data();
    args.bias = with_bias ? layer.bias.data() + gi * cout_g : nullptr;
    args.out = out + gi * cout_g * os.h * os.w;
    args.k = k;
    args.cout = cout_g;
    args.oh = os.h;
    args.ow = os.w;
    args.wp = g.ws;
    args.max_threads = max_threads;
    args.relu = relu;
    args.residual = residual ? residual + gi * cout_g * os.h * os.w : nullptr;
    table.conv_direct(args);
  }
}

}  // namespace pathwise::ops
