#include "conv_back_direct.h"

#include "../forward/conv_direct.h"

namespace pathwise::ops {

bool conv_back_direct_fits(const Layer& layer) {
  const Window& w = layer.window;
  if (layer.kind != LayerKind::Conv || w.sh != 1 || w.sw != 1) return false;
  const std::size_t eh = (w.kh - 1) * w.dh, ew = (w.kw - 1) * w.dw;
  if (w.pt > eh || w.pb > eh || w.pl > ew || w.pr > ew) return false;
  return conv_direct_applies(conv_back_layer(layer));
}

bool conv_back_direct_applies(const Layer& layer) {
  // One dense row, thread CPU time, AVX-512, 1 thread (im2col ms → direct ms): VGG16's 3 × 3 layers
  // 64 → 64 at 224² 45.0 → 39.4, 128 → 128 at 112² 45.2 → 36.6, 512 → 512 at 28² 48.7 → 38.3, at 14²
  // 13.3 → 10.6; resnet18's 64–512 at 56²–7² 3.1–4.6 → 2.4–3.5; depthwise 3 × 3 (MobileNet) 1.06 →
  // 0.33; 4 → 32 at 112² 0.50 → 0.37; 3 → 64 7 × 7 at 112² 2.98 → 2.68; but VGG's first layer, 3 → 64
  // 3 × 3 at 224², 3.9 → 6.7: its transpose fills 3 of a panel's 8 rows and copies a 13 MB padded
  // δ_out for 27 multiply-adds a value, while im2col's K = 27 rows still fill its GEMM tile. Hence
  // im2col for ungrouped layers with K = Cin · kh · kw < 32.
  const std::size_t k = (layer.in_shape.c / layer.groups) * layer.window.kh * layer.window.kw;
  if (layer.groups == 1 && k < 32) return false;
  return conv_back_direct_fits(layer);
}

Layer conv_back_layer(const Layer& layer) {
  const Window& w = layer.window;
  Layer t;
  t.kind = LayerKind::Conv;
  t.in_shape = layer.out_shape;
  t.out_shape = layer.in_shape;
  t.groups = layer.groups;
  t.window.kh = w.kh;
  t.window.kw = w.kw;
  t.window.dh = w.dh;
  t.window.dw = w.dw;
  // Output row y of the transpose reads δ_out rows y + pt − ky·dh: with u = kh − 1 − ky that is
  // y + u·dh − ((kh − 1)·dh − pt), a stride-1 conv padded by (kh − 1)·dh − pt on top (and
  // (kh − 1)·dh − pb below, which makes its output is.h rows).
  t.window.pt = (w.kh - 1) * w.dh - w.pt;
  t.window.pb = (w.kh - 1) * w.dh - w.pb;
  t.window.pl = (w.kw - 1) * w.dw - w.pl;
  t.window.pr = (w.kw - 1) * w.dw - w.pr;
  return t;
}

std::vector<float> pack_conv_back_weights(const Layer& layer, std::size_t rows) {
  const Window& w = layer.window;
  const std::size_t g = layer.groups, cin_g = layer.in_shape.c / g, cout_g = layer.out_shape.c / g;
  const std::size_t taps = w.kh * w.kw;
  Layer t = conv_back_layer(layer);
  t.weights.resize(layer.weights.size());
  for (std::size_t gi = 0; gi < g; ++gi)
    for (std::size_t co = 0; co < cout_g; ++co)
      for (std::size_t ci = 0; ci < cin_g; ++ci) {
        const float* src = layer.weights.data() + ((gi * cout_g + co) * cin_g + ci) * taps;
        float* dst = t.weights.data() + ((gi * cin_g + ci) * cout_g + co) * taps;
        for (std::size_t p = 0; p < taps; ++p) dst[taps - 1 - p] = src[p];  // (ky, kx) → (kh−1−ky, kw−1−kx)
      }
  return pack_conv_weights(t, rows);
}

const float* back_packed_weights(const Layer& layer, const kernels::KernelTable& table) {
  if (!layer.back_packed) return nullptr;
  ConvBackPacked& packed = *layer.back_packed;
  std::call_once(packed.once, [&] {
    packed.weights = pack_conv_back_weights(layer, table.conv_rows);
    packed.rows = table.conv_rows;
  });
  return packed.rows == table.conv_rows ? packed.weights.data() : nullptr;
}

void conv_back_direct(const Layer& layer, const kernels::KernelTable& table, const float* packed, const float* dy,
                      float* dx, std::vector<std::size_t>& offsets, std::size_t max_threads) {
  conv_forward_direct(conv_back_layer(layer), table, packed, dy, dx, false, offsets, max_threads);
}

}  // namespace pathwise::ops
