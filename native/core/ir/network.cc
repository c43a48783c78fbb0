#include "network.h"

#include <cmath>
#include <string>

#include "../util/error.h"

namespace pathwise {
namespace {

// 2^31 floats per activation or weight matrix: beyond that, offsets would overflow the int32
// unit indices we report, and no ReLU network we target comes within 100× of it (VGG16's largest
// activation is 3.2 M floats, its largest weight matrix 103 M).
constexpr std::size_t kMaxElements = std::size_t(1) << 31;

std::string where(std::size_t i, const LayerDesc& d) {
  return "layer " + std::to_string(i) + (d.name.empty() ? "" : " (\"" + d.name + "\")");
}

}  // namespace

Network Network::build(std::size_t input_size, const std::vector<LayerDesc>& descs) {
  if (input_size == 0 || input_size >= kMaxElements)
    throw_model("input size " + std::to_string(input_size) + " is out of range");
  if (descs.empty()) throw_model("the network has no layers");

  Network net;
  net.input_size_ = input_size;
  net.max_width_ = input_size;
  std::size_t width = input_size;
  for (std::size_t i = 0; i < descs.size(); ++i) {
    const LayerDesc& d = descs[i];
    Layer layer;
    layer.kind = d.kind;
    layer.name = d.name;
    switch (d.kind) {
      case LayerKind::Dense: {
        if (d.in_size != width)
          throw_model(where(i, d) + ": dense layer expects " + std::to_string(d.in_size) +
                      " inputs but receives " + std::to_string(width));
        if (d.out_size == 0 || d.out_size >= kMaxElements)
          throw_model(where(i, d) + ": output size " + std::to_string(d.out_size) + " is out of range");
        if (d.in_size > kMaxElements / d.out_size)
          throw_model(where(i, d) + ": weight matrix " + std::to_string(d.out_size) + "x" +
                      std::to_string(d.in_size) + " is too large");
        if (d.weights == nullptr || d.weights_len != d.in_size * d.out_size)
          throw_model(where(i, d) + ": weights have " + std::to_string(d.weights_len) +
                      " values, expected out*in = " + std::to_string(d.in_size * d.out_size));
        if (d.bias != nullptr && d.bias_len != d.out_size)
          throw_model(where(i, d) + ": bias has " + std::to_string(d.bias_len) +
                      " values, expected " + std::to_string(d.out_size));
        layer.weights.assign(d.weights, d.weights + d.weights_len);
        layer.bias.assign(d.out_size, 0.0f);
        if (d.bias) layer.bias.assign(d.bias, d.bias + d.bias_len);
        for (float w : layer.weights)
          if (!std::isfinite(w)) throw_model(where(i, d) + ": weights contain a non-finite value");
        for (float b : layer.bias)
          if (!std::isfinite(b)) throw_model(where(i, d) + ": bias contains a non-finite value");
        layer.in_size = d.in_size;
        layer.out_size = d.out_size;
        break;
      }
      case LayerKind::Relu:
        layer.in_size = layer.out_size = width;
        net.relu_positions_.push_back(i);
        break;
      default:
        throw_model(where(i, d) + ": unknown layer kind");
    }
    width = layer.out_size;
    if (width > net.max_width_) net.max_width_ = width;
    net.layers_.push_back(std::move(layer));
  }
  const Layer& last = net.layers_.back();
  if (last.kind != LayerKind::Dense || last.out_size < 2)
    throw_model("the last layer must be dense (affine) with at least 2 outputs (the classes)");
  if (net.relu_positions_.empty())
    throw_model("the network has no ReLU layer: there is no path to explain");
  return net;
}

}  // namespace pathwise
