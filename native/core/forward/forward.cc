#include "forward.h"

#include "../kernels/kernels.h"

namespace pathwise {

void dense_forward(const Layer& layer, const float* in, std::size_t n, float* out) {
  const std::size_t in_size = layer.in_size, out_size = layer.out_size;
  for (std::size_t e = 0; e < n; ++e)
    for (std::size_t o = 0; o < out_size; ++o) out[e * out_size + o] = layer.bias[o];
  kernels::active().gemm_nt(n, out_size, in_size, in, in_size, layer.weights.data(), in_size, out,
                            out_size, /*accumulate=*/true);
}

static void relu_forward(const float* in, std::size_t count, float* out) {
  for (std::size_t i = 0; i < count; ++i) out[i] = in[i] > 0.0f ? in[i] : 0.0f;
}

static void layer_forward(const Layer& layer, const float* in, std::size_t n, float* out) {
  switch (layer.kind) {
    case LayerKind::Dense: dense_forward(layer, in, n, out); break;
    case LayerKind::Relu: relu_forward(in, n * layer.in_size, out); break;
  }
}

void forward_original(const Network& net, const float* x, std::size_t n, Activations& acts) {
  const auto& layers = net.layers();
  acts.resize(layers.size() + 1);
  acts[0].assign(x, x + n * net.input_size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    acts[i + 1].resize(n * layers[i].out_size);
    layer_forward(layers[i], acts[i].data(), n, acts[i + 1].data());
  }
}

std::vector<float> forward_logits(const Network& net, const float* x, std::size_t n) {
  std::vector<float> cur(x, x + n * net.input_size()), next;
  for (const Layer& layer : net.layers()) {
    next.resize(n * layer.out_size);
    layer_forward(layer, cur.data(), n, next.data());
    cur.swap(next);
  }
  return cur;
}

std::size_t argmax_first(const float* values, std::size_t count) {
  std::size_t best = 0;
  for (std::size_t j = 1; j < count; ++j)
    if (values[j] > values[best]) best = j;
  return best;
}

}  // namespace pathwise
