// A conv layer's geometry for the conv tests (conv_test.cc: the forward, conv_back_test.cc: the
// VJP), and the network both build around it: conv → relu → dense 2, so Network::build packs the
// conv's weights as the engine does.
#pragma once

#include <cstddef>
#include <vector>

#include "../core/ir/network.h"

namespace pathwise_test {

struct ConvGeometry {
  std::size_t groups, cin, cout, h, w;
  pathwise::Window window;
};

// The network for g with the given weights (and bias, when not empty); oh × ow is the conv's output.
inline pathwise::Network conv_net(const ConvGeometry& g, const std::vector<float>& weights, const std::vector<float>& bias,
                                  std::vector<float>& dense_weights, std::size_t& oh, std::size_t& ow) {
  const pathwise::Window& w = g.window;
  pathwise::LayerDesc conv, relu, dense;
  conv.kind = pathwise::LayerKind::Conv;
  conv.in_shape = {g.cin, g.h, g.w};
  conv.out_features = g.cout;
  conv.weights = weights.data();
  conv.weights_len = weights.size();
  if (!bias.empty()) {
    conv.bias = bias.data();
    conv.bias_len = bias.size();
  }
  conv.window = w;
  conv.groups = g.groups;
  oh = (g.h + w.pt + w.pb - (w.kh - 1) * w.dh - 1) / w.sh + 1;
  ow = (g.w + w.pl + w.pr - (w.kw - 1) * w.dw - 1) / w.sw + 1;
  dense.kind = pathwise::LayerKind::Dense;
  dense.in_shape = {g.cout * oh * ow, 1, 1};
  dense.out_features = 2;
  dense_weights.assign(dense.in_shape.c * 2, 0.5f);
  dense.weights = dense_weights.data();
  dense.weights_len = dense_weights.size();
  return pathwise::Network::build({g.cin, g.h, g.w}, {conv, relu, dense});
}

}  // namespace pathwise_test
