// The network IR: a validated DAG of layers over flat float32 activations (NCHW order, one example
// after another). Layers are stored in a topological order; each names its producers (-1 = the
// network input); the last layer's output is the logits. Shape-only layers (Flatten, Reshape,
// Identity, Dropout) are resolved by the loaders: a layer simply declares the shape it reads its
// input as, which must hold as many values as its producer writes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

namespace pathwise {

struct Shape {
  std::size_t c = 1, h = 1, w = 1;
  std::size_t size() const { return c * h * w; }
  bool operator==(const Shape& o) const { return c == o.c && h == o.h && w == o.w; }
};

// Concat: k ≥ 2 producers, each example's output their values back to back in input order (channel
// concatenation in NCHW). Gather: one producer and a map, out[o] = map[o] ≥ 0 ? in[map[o]] : fill
// (slices, splits, channel shuffles, constant padding and cropping; docs/semantics.md).
enum class LayerKind { Dense, Conv, Relu, MaxPool, AvgPool, Affine, Add, Concat, Gather };

// Window geometry shared by Conv and the pools. Pads are [top, left, bottom, right].
struct Window {
  std::size_t kh = 1, kw = 1;
  std::size_t sh = 1, sw = 1;
  std::size_t pt = 0, pl = 0, pb = 0, pr = 0;
  std::size_t dh = 1, dw = 1;
  bool ceil_mode = false;          // pools only
  bool count_include_pad = false;  // AvgPool only
};

// The parameters of a gate layer (LayerKind::Relu; docs/semantics.md "Gates beyond ReLU"):
// z ≤ lower → slope·(z − lower) + lower_value; lower < z < upper → z; z ≥ upper → upper. The
// defaults are ReLU, which takes its own (bit-identical to before) code paths everywhere.
struct GateParams {
  float lower = 0.0f;
  float upper = std::numeric_limits<float>::infinity();
  float lower_value = 0.0f;
  std::vector<float> slope;  // per channel (length C) or shared (length 1); empty = 0
  float slope_of(std::size_t channel) const { return slope.empty() ? 0.0f : slope[slope.size() == 1 ? 0 : channel]; }
  bool is_relu() const {
    if (!(lower == 0.0f && upper == std::numeric_limits<float>::infinity() && lower_value == 0.0f)) return false;
    for (float v : slope)
      if (v != 0.0f) return false;
    return true;
  }
};

// Dense layers up to this many weights (64 MiB) also keep Wᵀ: a copy above it would cost more
// memory than the per-call transposition it saves costs time.
constexpr std::size_t kDenseTransposeMaxFloats = std::size_t(1) << 24;

struct ConvBackPacked;  // vjp/conv_back_direct.h

struct Layer {
  LayerKind kind;
  std::vector<int> inputs;  // producers: layer indices, -1 = the network input
  Shape in_shape;           // how the layer reads its (first) input
  Shape out_shape;
  // Dense: weights out × in, bias out. Conv: weights Cout × (Cin/groups) × kh × kw, bias Cout, and
  // weights_t the per-group transpose ((Cin/groups)·kh·kw × Cout/groups), which makes the VJP a
  // plain GEMM; a dense layer of at most kDenseTransposeMaxFloats weights keeps Wᵀ (in × out) there
  // for its forward pass. Affine: weights = per-channel scale, bias = per-channel shift.
  std::vector<float> weights, bias, weights_t;
  // Conv layers that take the direct kernel (ops::conv_direct_applies): the weights packed at build
  // for the active kernel table (ops::pack_conv_weights with packed_rows = its conv_rows).
  std::vector<float> weights_packed;
  std::size_t packed_rows = 0;
  // Conv layers whose dense-row VJP takes the direct kernel (ops::conv_back_direct_applies): the
  // flipped, channel-transposed weights by stride phase (ops::back_packed_for; packed at build),
  // shared by copies of the layer; null for other layers.
  std::shared_ptr<ConvBackPacked> back_packed;
  GateParams gate;  // gate layers only
  Window window;
  std::size_t groups = 1;
  std::vector<std::int32_t> map;  // Gather: out_size entries, each an input index or -1 (= fill)
  float fill = 0.0f;              // Gather: the constant a -1 entry reads
  std::string name;
  std::size_t in_size() const { return in_shape.size(); }
  std::size_t out_size() const { return out_shape.size(); }
  bool has_bias() const { return kind == LayerKind::Dense || kind == LayerKind::Conv || kind == LayerKind::Affine; }
};

// What a loader hands to Network::build; arrays are borrowed until build copies them.
struct LayerDesc {
  LayerKind kind = LayerKind::Relu;
  std::vector<int> inputs;  // empty = the previous layer (the network input for layer 0)
  Shape in_shape;           // required for Conv, pools and Affine; Dense reads in_shape.size()
  std::size_t out_features = 0;  // Dense: outputs; Conv: output channels
  const float* weights = nullptr;
  std::size_t weights_len = 0;
  const float* bias = nullptr;  // optional for Dense and Conv
  std::size_t bias_len = 0;
  GateParams gate;  // gate layers (kind Relu) only; the default is ReLU
  Window window;
  std::size_t groups = 1;
  Shape out_shape;                // Gather: the output shape (map holds out_shape.size() entries)
  std::vector<std::int32_t> map;  // Gather: owned, so the caller's array is never read after build
  float fill = 0.0f;              // Gather: finite
  std::string name;
};

class Network {
 public:
  // Validates and copies. Throws Error(Model) naming the layer on any inconsistency: producers that
  // are not earlier layers, sizes that do not chain, wrong weight lengths, non-finite weights, zero
  // strides, windows larger than the padded input, absurd sizes, a last layer that is not affine
  // with ≥ 2 outputs, no gate layer, gate parameters out of range (a non-finite slope or
  // lower value, lower > upper, a slope of neither 1 nor C values). Validation happens before anything is sized from those numbers.
  static Network build(Shape input_shape, const std::vector<LayerDesc>& layers);

  const Shape& input_shape() const { return input_shape_; }
  std::size_t input_size() const { return input_shape_.size(); }
  std::size_t num_classes() const { return layers_.back().out_size(); }
  const std::vector<Layer>& layers() const { return layers_; }
  // Layer indices of the gate layers (kind Relu: ReLU and every other piecewise-linear gate) in
  // topological order (ordinal = position in this list): the path layers.
  const std::vector<std::size_t>& relu_positions() const { return relu_positions_; }
  const std::vector<std::size_t>& gate_positions() const { return relu_positions_; }
  // consumers()[i]: the layers that read layer i's output (a residual source has two).
  const std::vector<std::vector<std::size_t>>& consumers() const { return consumers_; }
  // Largest activation of one example anywhere in the graph, and the sum of all of them.
  std::size_t max_width() const { return max_width_; }
  std::size_t total_activation() const { return total_activation_; }
  bool has_max_pool() const { return has_max_pool_; }
  // Values per example of producer p (-1 = the network input).
  std::size_t producer_size(int p) const { return p < 0 ? input_size() : layers_[std::size_t(p)].out_size(); }

 private:
  Shape input_shape_;
  std::size_t max_width_ = 0, total_activation_ = 0;
  bool has_max_pool_ = false;
  std::vector<Layer> layers_;
  std::vector<std::size_t> relu_positions_;
  std::vector<std::vector<std::size_t>> consumers_;
};

}  // namespace pathwise
