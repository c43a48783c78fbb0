// The network IR: a validated chain of layers over flat float32 activations (NCHW order, batch
// dimension outermost). Shape-only layers (Flatten, Reshape, Identity, Dropout) are resolved by the
// loaders and do not appear here: they do not move a single float.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pathwise {

enum class LayerKind { Dense, Relu };

struct Layer {
  LayerKind kind;
  std::size_t in_size;   // floats per example entering the layer
  std::size_t out_size;  // floats per example leaving it
  // Dense only: weights row-major out × in, bias of length out (zeros if the model had none).
  std::vector<float> weights;
  std::vector<float> bias;
  std::string name;  // for error messages
};

// What a loader hands to Network::build: the same fields, weights borrowed until build copies them.
struct LayerDesc {
  LayerKind kind;
  std::size_t in_size = 0;
  std::size_t out_size = 0;
  const float* weights = nullptr;  // out × in
  std::size_t weights_len = 0;
  const float* bias = nullptr;  // out, or nullptr
  std::size_t bias_len = 0;
  std::string name;
};

class Network {
 public:
  // Validates and copies. Throws Error(Model) naming the layer on any inconsistency: sizes that do
  // not chain, a weight array of the wrong length, non-finite weights, a ReLU-free or affine-free
  // network, a last layer that is not dense with ≥ 2 outputs, absurd sizes.
  static Network build(std::size_t input_size, const std::vector<LayerDesc>& layers);

  std::size_t input_size() const { return input_size_; }
  std::size_t num_classes() const { return layers_.back().out_size; }
  const std::vector<Layer>& layers() const { return layers_; }
  // Indices into layers() of the ReLU layers, bottom → top (ordinal = position in this list).
  const std::vector<std::size_t>& relu_positions() const { return relu_positions_; }
  // Largest per-example activation anywhere in the chain (sizes scratch buffers).
  std::size_t max_width() const { return max_width_; }

 private:
  std::size_t input_size_ = 0;
  std::size_t max_width_ = 0;
  std::vector<Layer> layers_;
  std::vector<std::size_t> relu_positions_;
};

}  // namespace pathwise
