#include "conv_direct.h"

#include <algorithm>

namespace pathwise::ops {
namespace {

struct PaddedGrid {
  std::size_t hp, wp, plane, q, q_pad, input_floats;
};

PaddedGrid grid_of(const Layer& layer, std::size_t cols) {
  const Window& w = layer.window;
  PaddedGrid g;
  g.hp = layer.in_shape.h + w.pt + w.pb;
  g.wp = layer.in_shape.w + w.pl + w.pr;
  g.plane = g.hp * g.wp;
  g.q = layer.out_shape.h * g.wp;
  g.q_pad = (g.q + cols - 1) / cols * cols;
  // The last tile reads up to q_pad − q positions and (kw − 1)·dw taps past the last plane.
  g.input_floats = layer.in_shape.c * g.plane + (g.q_pad - g.q) + (w.kw - 1) * w.dw + cols;
  return g;
}

}  // namespace

bool conv_direct_applies(const Layer& layer) {
  const Window& w = layer.window;
  if (layer.kind != LayerKind::Conv || w.sh != 1 || w.sw != 1) return false;
  return !(w.kh == 1 && w.kw == 1 && w.pt == 0 && w.pl == 0 && w.pb == 0 && w.pr == 0);
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
  const PaddedGrid g = grid_of(layer, table.conv_cols);
  return g.input_floats + (layer.out_shape.c / layer.groups) * g.q_pad;
}

void conv_forward_direct(const Layer& layer, const kernels::KernelTable& table, const float* packed, const float* in,
                         float* out, bool with_bias, std::vector<float>& scratch, std::vector<std::size_t>& offsets,
                         std::size_t max_threads) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::size_t groups = layer.groups, cin_g = is.c / groups, cout_g = os.c / groups;
  const std::size_t k = cin_g * w.kh * w.kw, rows = table.conv_rows;
  const PaddedGrid g = grid_of(layer, table.conv_cols);
  scratch.resize(g.input_floats + cout_g * g.q_pad);
  float* padded = scratch.data();
  float* c = padded + g.input_floats;
  // The padded copy: border and tail zero, interior rows copied.
  for (std::size_t ch = 0; ch < is.c; ++ch) {
    float* plane = padded + ch * g.plane;
    std::fill(plane, plane + w.pt * g.wp, 0.0f);
    for (std::size_t y = 0; y < is.h; ++y) {
      float* row = plane + (w.pt + y) * g.wp;
      std::fill(row, row + w.pl, 0.0f);
      std::copy(in + (ch * is.h + y) * is.w, in + (ch * is.h + y + 1) * is.w, row + w.pl);
      std::fill(row + w.pl + is.w, row + g.wp, 0.0f);
    }
    std::fill(plane + (w.pt + is.h) * g.wp, plane + g.plane, 0.0f);
  }
  std::fill(padded + is.c * g.plane, padded + g.input_floats, 0.0f);
  offsets.resize(k);
  for (std::size_t p = 0; p < k; ++p) {
    const std::size_t ci = p / (w.kh * w.kw), ky = p / w.kw % w.kh, kx = p % w.kw;
    offsets[p] = ci * g.plane + ky * w.dh * g.wp + kx * w.dw;
  }
  const std::size_t panels = (cout_g + rows - 1) / rows;
  for (std::size_t gi = 0; gi < groups; ++gi) {
    kernels::ConvDirectArgs args;
    args.input = padded + gi * cin_g * g.plane;
    args.packed = packed + gi * panels * rows * k;
    args.offsets = offsets.data();
    args.bias = with_bias ? layer.bias.data() + gi * cout_g : nullptr;
    args.scratch = c;
    args.out = out + gi * cout_g * os.h * os.w;
    args.k = k;
    args.cout = cout_g;
    args.oh = os.h;
    args.ow = os.w;
    args.wp = g.wp;
    args.max_threads = max_threads;
    table.conv_direct(args);
  }
}

}  // namespace pathwise::ops
