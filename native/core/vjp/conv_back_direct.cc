#include "conv_back_direct.h"

#include <algorithm>
#include <cstdint>

#include "../forward/conv_direct.h"
#include "../forward/forward.h"

namespace pathwise::ops {

namespace {

// The taps of one axis that reach phase a of δ_in: position y = s·y' + a reads δ_out at
// oy = (y + pad − k·d) / s for the taps k with (a + pad − k·d) mod s = 0, i.e. at y' + offset(k).
// Sorted by offset ascending (k descending), they step by a constant `dilation`; pad_before =
// −(smallest offset), the transpose's pad on this side.
struct AxisPhase {
  std::vector<std::size_t> taps;  // kernel indices, offset ascending
  std::ptrdiff_t pad_before = 0;
  std::size_t dilation = 1, count = 0;  // count: δ_in positions of this phase
};

AxisPhase axis_phase(std::size_t a, std::size_t k, std::size_t d, std::size_t s, std::size_t pad, std::size_t in) {
  AxisPhase p;
  p.count = a < in ? (in - a + s - 1) / s : 0;
  std::vector<std::ptrdiff_t> offsets;
  for (std::size_t t = k; t-- > 0;) {
    const std::ptrdiff_t diff = std::ptrdiff_t(a + pad) - std::ptrdiff_t(t * d);
    if (((diff % std::ptrdiff_t(s)) + std::ptrdiff_t(s)) % std::ptrdiff_t(s) != 0) continue;
    p.taps.push_back(t);
    offsets.push_back(diff / std::ptrdiff_t(s));  // exact
  }
  if (!p.taps.empty()) p.pad_before = -offsets.front();
  if (p.taps.size() > 1) p.dilation = std::size_t(offsets[1] - offsets[0]);
  return p;
}

bool phases_fit(const Layer& layer) {
  const Window& w = layer.window;
  for (std::size_t a = 0; a < w.sh; ++a)
    if (axis_phase(a, w.kh, w.dh, w.sh, w.pt, layer.in_shape.h).pad_before < 0) return false;
  for (std::size_t b = 0; b < w.sw; ++b)
    if (axis_phase(b, w.kw, w.dw, w.sw, w.pl, layer.in_shape.w).pad_before < 0) return false;
  return true;
}

}  // namespace

bool conv_back_direct_fits(const Layer& layer) {
  const Window& w = layer.window;
  if (layer.kind != LayerKind::Conv) return false;
  // As for the forward's phase planes: a 1 × 1 stride-2 conv reaches one phase in four.
  if ((w.kh - 1) * w.dh + 1 < w.sh || (w.kw - 1) * w.dw + 1 < w.sw) return false;
  return phases_fit(layer);
}

bool conv_back_direct_applies(const Layer& layer) {
  const Window& w = layer.window;
  if (!conv_back_direct_fits(layer) || conv_is_pointwise(layer)) return false;
  // One dense row, thread CPU time, AVX-512, 1 thread (im2col ms → direct ms): VGG16's 3 × 3 layers
  // 64 → 64 at 224² 45.0 → 39.4, 128 → 128 at 112² 45.2 → 36.6, 512 → 512 at 28² 48.7 → 38.3, at 14²
  // 13.3 → 10.6; resnet18's 64–512 at 56²–7² 3.1–4.6 → 2.4–3.5; depthwise 3 × 3 (MobileNet) 1.06 →
  // 0.33; 4 → 32 at 112² 0.50 → 0.37; 3 → 64 7 × 7 at 112² 2.98 → 2.68; but VGG's first layer, 3 → 64
  // 3 × 3 at 224², 3.9 → 6.7: its transpose fills 3 of a panel's 8 rows and copies a 13 MB padded
  // δ_out for 27 multiply-adds a value, while im2col's K = 27 rows still fill its GEMM tile. Hence
  // im2col for ungrouped layers with K = Cin · kh · kw < 32. Strided, by phases (busy machine, best of
  // 5–9): resnet18's 7 × 7 stride-2 stem (3 → 64, 224²) 3.5–3.7 → 3.0–3.2 ms, its 3 × 3 stride-2
  // layers 1.41–2.16 → 1.37–2.02 (one run each way at 256 → 512: 1.87 → 2.02 and 2.01 → 1.95: noise),
  // MobileNetV2's stride-2 depthwise 3 × 3 (96 at 112²) 1.5–1.7 → 1.35.
  const std::size_t k = (layer.in_shape.c / layer.groups) * w.kh * w.kw;
  return !(layer.groups == 1 && k < 32);
}

std::vector<ConvBackPhase> conv_back_phases(const Layer& layer, std::size_t rows) {
  const Window& w = layer.window;
  const std::size_t g = layer.groups, cin_g = layer.in_shape.c / g, cout_g = layer.out_shape.c / g;
  const std::size_t taps = w.kh * w.kw, oh = layer.out_shape.h, ow = layer.out_shape.w;
  std::vector<ConvBackPhase> phases;
  for (std::size_t a = 0; a < w.sh; ++a)
    for (std::size_t b = 0; b < w.sw; ++b) {
      const AxisPhase py = axis_phase(a, w.kh, w.dh, w.sh, w.pt, layer.in_shape.h);
      const AxisPhase px = axis_phase(b, w.kw, w.dw, w.sw, w.pl, layer.in_shape.w);
      ConvBackPhase phase;
      phase.a = a;
      phase.b = b;
      if (py.count == 0 || px.count == 0) continue;  // no δ_in position in this phase
      phase.empty = py.taps.empty() || px.taps.empty();
      Layer& t = phase.layer;
      t.kind = LayerKind::Conv;
      t.in_shape = layer.out_shape;
      t.out_shape = {layer.in_shape.c, py.count, px.count};
      t.groups = g;
      if (phase.empty) {
        phases.push_back(std::move(phase));
        continue;
      }
      Window& tw = t.window;
      tw.kh = py.taps.size();
      tw.kw = px.taps.size();
      tw.dh = py.dilation;
      tw.dw = px.dilation;
      tw.pt = std::size_t(py.pad_before);
      tw.pl = std::size_t(px.pad_before);
      // Below and right: what makes the output at least count positions (the kernel computes
      // out_shape's, so a larger natural output is simply cut).
      const auto after = [](std::size_t count, std::size_t in, std::size_t before, std::size_t k, std::size_t d) {
        const std::ptrdiff_t need = std::ptrdiff_t(count) - std::ptrdiff_t(in) - std::ptrdiff_t(before) +
                                    std::ptrdiff_t((k - 1) * d);
        return std::size_t(std::max<std::ptrdiff_t>(0, need));
      };
      tw.pb = after(py.count, oh, tw.pt, tw.kh, tw.dh);
      tw.pr = after(px.count, ow, tw.pl, tw.kw, tw.dw);
      // W'[g·Cin_g + ci][co][u][v] = W[g·Cout_g + co][ci][taps_y[u]][taps_x[v]].
      const std::size_t ph_taps = tw.kh * tw.kw;
      t.weights.resize(g * cin_g * cout_g * ph_taps);
      for (std::size_t gi = 0; gi < g; ++gi)
        for (std::size_t co = 0; co < cout_g; ++co)
          for (std::size_t ci = 0; ci < cin_g; ++ci) {
            const float* src = layer.weights.data() + ((gi * cout_g + co) * cin_g + ci) * taps;
            float* dst = t.weights.data() + ((gi * cin_g + ci) * cout_g + co) * ph_taps;
            for (std::size_t u = 0; u < tw.kh; ++u)
              for (std::size_t v = 0; v < tw.kw; ++v) dst[u * tw.kw + v] = src[py.taps[u] * w.kw + px.taps[v]];
          }
      phase.packed = pack_conv_weights(t, rows);
      std::vector<float>().swap(t.weights);
      phases.push_back(std::move(phase));
    }
  return phases;
}

const ConvBackPacked* back_packed_for(const Layer& layer, const kernels::KernelTable& table) {
  if (!layer.back_packed) return nullptr;
  ConvBackPacked& packed = *layer.back_packed;
  std::call_once(packed.once, [&] {
    packed.phases = conv_back_phases(layer, table.conv_rows);
    packed.rows = table.conv_rows;
  });
  return packed.rows == table.conv_rows ? &packed : nullptr;
}

void conv_back_direct(const Layer& layer, const kernels::KernelTable& table, const ConvBackPacked& packed,
                      const float* dy, float* dx, bool accumulate, std::vector<float>& scratch,
                      std::vector<std::size_t>& offsets, std::size_t max_threads) {
  const Window& w = layer.window;
  const Shape& is = layer.in_shape;
  if (w.sh == 1 && w.sw == 1) {
    const ConvBackPhase& phase = packed.phases.front();
    if (!accumulate) {
      conv_forward_direct(phase.layer, table, phase.packed.data(), dy, dx, false, offsets, max_threads);
      return;
    }
    scratch.resize(is.size());
    conv_forward_direct(phase.layer, table, phase.packed.data(), dy, scratch.data(), false, offsets, max_threads);
    for (std::size_t q = 0; q < is.size(); ++q) dx[q] += scratch[q];
    return;
  }
  for (const ConvBackPhase& phase : packed.phases) {
    const Shape& ps = phase.layer.out_shape;
    scratch.resize(ps.size());
    if (phase.empty)
      std::fill(scratch.begin(), scratch.end(), 0.0f);
    else
      conv_forward_direct(phase.layer, table, phase.packed.data(), dy, scratch.data(), false, offsets, max_threads);
    // Phase value (c, y', x') is δ_in (c, sh·y' + a, sw·x' + b).
    for (std::size_t c = 0; c < is.c; ++c)
      for (std::size_t y = 0; y < ps.h; ++y) {
        const float* src = scratch.data() + (c * ps.h + y) * ps.w;
        float* dst = dx + (c * is.h + y * w.sh + phase.a) * is.w + phase.b;
        if (accumulate)
          for (std::size_t x = 0; x < ps.w; ++x) dst[x * w.sw] += src[x];
        else
          for (std::size_t x = 0; x < ps.w; ++x) dst[x * w.sw] = src[x];
      }
  }
}

}  // namespace pathwise::ops
