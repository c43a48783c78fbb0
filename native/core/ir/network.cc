#include "network.h"

#include <cmath>
#include <limits>
#include <string>

#include "../forward/conv_direct.h"
#include "../kernels/kernels.h"
#include "../vjp/conv_back_direct.h"
#include "../util/error.h"

namespace pathwise {
namespace {

// 2^31 values per tensor: unit indices are reported as int32, and no ReLU network we target comes
// within 100× of it (VGG16's largest activation is 3.2 M floats, its largest weight matrix 103 M).
constexpr std::size_t kMaxElements = std::size_t(1) << 31;

// Work per example of one window layer: a pool visits out × kh × kw window taps, a conv does
// out × (Cin/groups) × kh × kw multiply-adds. Padding lets a tiny model ask for centuries of it (a
// MaxPool with no weights, kernel 2^16 × 2^14 on a 1 × 1 input: 2^30 windows of 2^30 taps), so
// both are bounded, far above real networks: VGG16's largest conv at 224 × 224 is 1.85e9 (2^30.8)
// multiply-adds and its pools 3.2e6 × 4 taps.
constexpr std::size_t kMaxPoolTaps = std::size_t(1) << 36;
constexpr std::size_t kMaxConvMacs = std::size_t(1) << 38;

std::string where(std::size_t i, const LayerDesc& d) {
  return "layer " + std::to_string(i) + (d.name.empty() ? "" : " (\"" + d.name + "\")");
}

std::string str(const Shape& s) {
  return "[" + std::to_string(s.c) + ", " + std::to_string(s.h) + ", " + std::to_string(s.w) + "]";
}

bool checked_mul(std::size_t a, std::size_t b, std::size_t& out) {
  if (a != 0 && b > kMaxElements / a) return false;
  out = a * b;
  return out < kMaxElements;
}

bool valid_shape(const Shape& s) {
  std::size_t hw = 0, chw = 0;
  return s.c > 0 && s.h > 0 && s.w > 0 && checked_mul(s.h, s.w, hw) && checked_mul(hw, s.c, chw);
}

// Output extent of a window sweep along one axis (PyTorch's rule for pools: with ceil_mode the last
// window must start inside the input or the leading pad). Returns 0 when nothing fits.
std::size_t sweep_extent(std::size_t in, std::size_t k, std::size_t s, std::size_t pad_begin,
                         std::size_t pad_end, std::size_t d, bool ceil_mode) {
  const std::size_t padded = in + pad_begin + pad_end;
  const std::size_t span = d * (k - 1) + 1;
  if (span > padded) return 0;
  std::size_t out = (padded - span) / s + 1;
  if (ceil_mode && (padded - span) % s != 0) {
    ++out;
    if ((out - 1) * s >= in + pad_begin) --out;
  }
  return out;
}

void check_window(std::size_t i, const LayerDesc& d, const Shape& in, bool pool) {
  const Window& w = d.window;
  if (w.kh == 0 || w.kw == 0 || w.sh == 0 || w.sw == 0 || w.dh == 0 || w.dw == 0)
    throw_model(where(i, d) + ": kernel, stride and dilation must be positive");
  if (w.kh > 1 << 16 || w.kw > 1 << 16 || w.sh > 1 << 16 || w.sw > 1 << 16 || w.dh > 1 << 16 ||
      w.dw > 1 << 16 || w.pt > 1 << 16 || w.pl > 1 << 16 || w.pb > 1 << 16 || w.pr > 1 << 16)
    throw_model(where(i, d) + ": window geometry out of range");
  if (pool && (w.pt >= w.dh * (w.kh - 1) + 1 || w.pb >= w.dh * (w.kh - 1) + 1 ||
               w.pl >= w.dw * (w.kw - 1) + 1 || w.pr >= w.dw * (w.kw - 1) + 1))
    throw_model(where(i, d) + ": pool padding must be smaller than the window");
  (void)in;
}

// A gate's parameters (docs/semantics.md "Gates beyond ReLU"): lower in [−∞, ∞), upper in
// (−∞, ∞], lower ≤ upper, a finite lower value and finite slopes, one or one per channel.
void check_gate(std::size_t i, const LayerDesc& d, const Shape& in) {
  const GateParams& g = d.gate;
  if (std::isnan(g.lower) || std::isnan(g.upper) || g.lower == std::numeric_limits<float>::infinity() ||
      g.upper == -std::numeric_limits<float>::infinity() || !(g.lower <= g.upper))
    throw_model(where(i, d) + ": gate bounds must satisfy -Infinity <= lower <= upper <= Infinity with lower < Infinity "
                "and upper > -Infinity (got lower " + std::to_string(g.lower) + ", upper " + std::to_string(g.upper) + ")");
  if (!std::isfinite(g.lower_value)) throw_model(where(i, d) + ": the gate's lower value must be finite");
  if (!g.slope.empty() && g.slope.size() != 1 && g.slope.size() != in.c)
    throw_model(where(i, d) + ": the gate's slope has " + std::to_string(g.slope.size()) + " values, expected 1 or " +
                std::to_string(in.c) + " (one per channel)");
  for (float v : g.slope)
    if (!std::isfinite(v)) throw_model(where(i, d) + ": the gate's slope contains a non-finite value");
}

}  // namespace

Network Network::build(Shape input_shape, const std::vector<LayerDesc>& descs) {
  if (!valid_shape(input_shape)) throw_model("input shape " + str(input_shape) + " is out of range");
  if (descs.empty()) throw_model("the network has no layers");

  Network net;
  net.input_shape_ = input_shape;
  net.max_width_ = input_shape.size();
  net.consumers_.resize(descs.size());
  for (std::size_t i = 0; i < descs.size(); ++i) {
    const LayerDesc& d = descs[i];
    Layer layer;
    layer.kind = d.kind;
    layer.name = d.name;
    layer.inputs = d.inputs.empty() ? std::vector<int>{int(i) - 1} : d.inputs;
    const std::size_t arity = d.kind == LayerKind::Add ? 2 : 1;
    if (d.kind == LayerKind::Concat && layer.inputs.size() < 2)
      throw_model(where(i, d) + ": concatenates at least 2 inputs, got " + std::to_string(layer.inputs.size()));
    if (d.kind != LayerKind::Concat && layer.inputs.size() != arity)
      throw_model(where(i, d) + ": expects " + std::to_string(arity) + " input(s), got " +
                  std::to_string(layer.inputs.size()));
    std::vector<Shape> producer_shapes;
    for (int p : layer.inputs) {
      if (p < -1 || p >= int(i))
        throw_model(where(i, d) + ": input " + std::to_string(p) +
                    " is not an earlier layer (layers must be in topological order)");
      producer_shapes.push_back(p < 0 ? input_shape : net.layers_[std::size_t(p)].out_shape);
      if (p >= 0) net.consumers_[std::size_t(p)].push_back(i);
    }
    const Shape& produced = producer_shapes[0];
    // The declared input shape re-reads the producer's values (a flatten or reshape in between).
    // A gate reads its input as declared when the declaration holds the producer's values: a
    // per-channel slope after a Flatten has one channel per feature, not the producer's channels
    // (tfjs PReLU on flattened features). Otherwise (the default 1×1×1 of a LayerDesc) it reads the
    // producer's shape, as before gates had parameters.
    const bool gate_as_produced = d.kind == LayerKind::Relu && d.in_shape.size() != produced.size();
    layer.in_shape = (d.in_shape.size() == 0 || gate_as_produced || d.kind == LayerKind::Add || d.kind == LayerKind::Concat) ? produced : d.in_shape;
    if (!valid_shape(layer.in_shape) || layer.in_shape.size() != produced.size())
      throw_model(where(i, d) + ": reads its input as " + str(layer.in_shape) + " but its producer writes " +
                  str(produced) + " (" + std::to_string(produced.size()) + " values)");
    const Shape& in = layer.in_shape;
    switch (d.kind) {
      case LayerKind::Dense: {
        const std::size_t in_size = in.size(), out = d.out_features;
        std::size_t wlen = 0;
        if (out == 0 || !checked_mul(out, in_size, wlen))
          throw_model(where(i, d) + ": dense " + std::to_string(out) + "x" + std::to_string(in_size) + " is out of range");
        if (d.weights == nullptr || d.weights_len != wlen)
          throw_model(where(i, d) + ": weights have " + std::to_string(d.weights_len) +
                      " values, expected out*in = " + std::to_string(wlen));
        if (d.bias != nullptr && d.bias_len != out)
          throw_model(where(i, d) + ": bias has " + std::to_string(d.bias_len) + " values, expected " + std::to_string(out));
        layer.out_shape = {out, 1, 1};
        break;
      }
      case LayerKind::Conv: {
        check_window(i, d, in, false);
        const Window& w = d.window;
        const std::size_t g = d.groups, cout = d.out_features;
        if (g == 0 || in.c % g != 0 || cout == 0 || cout % g != 0)
          throw_model(where(i, d) + ": channels (in " + std::to_string(in.c) + ", out " + std::to_string(cout) +
                      ") must be positive multiples of groups " + std::to_string(g));
        const std::size_t oh = sweep_extent(in.h, w.kh, w.sh, w.pt, w.pb, w.dh, false);
        const std::size_t ow = sweep_extent(in.w, w.kw, w.sw, w.pl, w.pr, w.dw, false);
        if (oh == 0 || ow == 0) throw_model(where(i, d) + ": the kernel does not fit the padded input " + str(in));
        std::size_t k = 0, wlen = 0;
        if (!checked_mul(in.c / g, w.kh * w.kw, k) || !checked_mul(k, cout, wlen))
          throw_model(where(i, d) + ": weights out of range");
        if (d.weights == nullptr || d.weights_len != wlen)
          throw_model(where(i, d) + ": weights have " + std::to_string(d.weights_len) + " values, expected " +
                      std::to_string(wlen) + " (out x in/groups x kh x kw)");
        if (d.bias != nullptr && d.bias_len != cout)
          throw_model(where(i, d) + ": bias has " + std::to_string(d.bias_len) + " values, expected " + std::to_string(cout));
        layer.out_shape = {cout, oh, ow};
        layer.window = w;
        layer.groups = g;
        break;
      }
      case LayerKind::MaxPool:
      case LayerKind::AvgPool: {
        check_window(i, d, in, true);
        const Window& w = d.window;
        const std::size_t oh = sweep_extent(in.h, w.kh, w.sh, w.pt, w.pb, w.dh, w.ceil_mode);
        const std::size_t ow = sweep_extent(in.w, w.kw, w.sw, w.pl, w.pr, w.dw, w.ceil_mode);
        if (oh == 0 || ow == 0) throw_model(where(i, d) + ": the window does not fit the padded input " + str(in));
        layer.out_shape = {in.c, oh, ow};
        layer.window = w;
        if (d.kind == LayerKind::MaxPool) net.has_max_pool_ = true;
        break;
      }
      case LayerKind::Affine:
        if (d.weights == nullptr || d.weights_len != in.c || d.bias == nullptr || d.bias_len != in.c)
          throw_model(where(i, d) + ": per-channel scale and shift need " + std::to_string(in.c) + " values each");
        layer.out_shape = in;
        break;
      case LayerKind::Relu:
        check_gate(i, d, in);
        layer.gate = d.gate;
        layer.out_shape = in;
        net.relu_positions_.push_back(i);
        break;
      case LayerKind::Add:
        if (producer_shapes[0].size() != producer_shapes[1].size())
          throw_model(where(i, d) + ": adds " + str(producer_shapes[0]) + " and " + str(producer_shapes[1]));
        layer.out_shape = in;
        break;
      case LayerKind::Concat: {
        // Channels concatenate when every producer has the same H × W; otherwise the output is the
        // flat concatenation (the same values in the same order either way).
        std::size_t total = 0, channels = 0;
        bool planes_agree = true;
        for (const Shape& s : producer_shapes) {
          total += s.size();
          channels += s.c;
          planes_agree = planes_agree && s.h == produced.h && s.w == produced.w;
        }
        layer.out_shape = planes_agree ? Shape{channels, produced.h, produced.w} : Shape{total, 1, 1};
        break;
      }
      case LayerKind::Gather: {
        if (!valid_shape(d.out_shape))
          throw_model(where(i, d) + ": output shape " + str(d.out_shape) + " is out of range (2^31 values at most)");
        if (d.map.size() != d.out_shape.size())
          throw_model(where(i, d) + ": the map has " + std::to_string(d.map.size()) + " entries, expected " +
                      std::to_string(d.out_shape.size()) + " (one per output value)");
        for (std::int32_t m : d.map)
          if (m < -1 || (m >= 0 && std::size_t(m) >= in.size()))
            throw_model(where(i, d) + ": map entry " + std::to_string(m) + " is not an input index (0 to " +
                        std::to_string(in.size() - 1) + ") or -1");
        if (!std::isfinite(d.fill)) throw_model(where(i, d) + ": the fill value must be finite");
        layer.out_shape = d.out_shape;
        layer.map = d.map;
        layer.fill = d.fill;
        break;
      }
      default:
        throw_model(where(i, d) + ": unknown layer kind");
    }
    // Padding can make a window layer's output far larger than its input; the last layer's output
    // (the classes) has no consumer to check it as an input.
    if (!valid_shape(layer.out_shape))
      throw_model(where(i, d) + ": output shape " + str(layer.out_shape) + " is out of range (2^31 values at most)");
    // out < 2^31 and kh · kw ≤ 2^32 (or Cin/g · kh · kw < 2^31): the products fit in 64 bits.
    if ((d.kind == LayerKind::MaxPool || d.kind == LayerKind::AvgPool) &&
        layer.out_size() * d.window.kh * d.window.kw > kMaxPoolTaps)
      throw_model(where(i, d) + ": a " + std::to_string(d.window.kh) + "x" + std::to_string(d.window.kw) +
                  " window over " + str(layer.out_shape) + " outputs is too much work per example (2^36 window taps at most)");
    if (d.kind == LayerKind::Conv && layer.out_size() * (in.c / d.groups) * d.window.kh * d.window.kw > kMaxConvMacs)
      throw_model(where(i, d) + ": a " + std::to_string(d.window.kh) + "x" + std::to_string(d.window.kw) +
                  " kernel over " + str(layer.out_shape) + " outputs is too much work per example (2^38 multiply-adds at most)");
    if (d.weights) {
      layer.weights.assign(d.weights, d.weights + d.weights_len);
      for (float v : layer.weights)
        if (!std::isfinite(v)) throw_model(where(i, d) + ": weights contain a non-finite value");
    }
    if (layer.has_bias()) {
      // Per output channel (a dense layer's outputs are its channels); zeros when absent.
      layer.bias.assign(layer.out_shape.c, 0.0f);
      if (d.bias) layer.bias.assign(d.bias, d.bias + d.bias_len);
      for (float v : layer.bias)
        if (!std::isfinite(v)) throw_model(where(i, d) + ": bias contains a non-finite value");
    }
    if (layer.kind == LayerKind::Conv) {
      // weights_t[g] = (W_g)ᵀ: K × Cout_g with K = Cin_g · kh · kw.
      const std::size_t g = layer.groups, cout_g = layer.out_shape.c / g;
      const std::size_t k = (in.c / g) * layer.window.kh * layer.window.kw;
      layer.weights_t.resize(layer.weights.size());
      for (std::size_t gi = 0; gi < g; ++gi)
        for (std::size_t o = 0; o < cout_g; ++o)
          for (std::size_t r = 0; r < k; ++r)
            layer.weights_t[gi * k * cout_g + r * cout_g + o] = layer.weights[(gi * cout_g + o) * k + r];
      if (ops::conv_direct_applies(layer)) {
        layer.packed_rows = kernels::active().conv_rows;
        layer.weights_packed = ops::pack_conv_weights(layer, layer.packed_rows);
      }
      if (ops::conv_back_direct_applies(layer)) {
        // Packed now rather than on the first dense VJP, which would spare depth-'all' users the
        // memory (59 MB on VGG16): lazily, VGG16 at width 64 depth 5 measured 720–726 ms CPU a call
        // against 683–699 packed here (1 thread, interleaved), its forward's per-call buffers
        // page-faulted in again on every call (33 K faults a call against 15 K; glibc's mmap
        // threshold settles differently).
        layer.back_packed = std::make_shared<ConvBackPacked>();
        ops::back_packed_for(layer, kernels::active());
      }
    }
    if (layer.kind == LayerKind::Dense && layer.weights.size() <= kDenseTransposeMaxFloats) {
      // weights_t = Wᵀ (in × out): the forward X·Wᵀ becomes gemm_nn, which for a few rows reads it
      // in place; gemm_nt re-packed (transposed) all of W on every call, 5 % of a Fashion-CNN
      // explanation at batch 1 (perf). The same arithmetic per element, so the same bits.
      const std::size_t rows = layer.out_size(), cols = layer.in_size();
      layer.weights_t.resize(layer.weights.size());
      for (std::size_t o = 0; o < rows; ++o)
        for (std::size_t r = 0; r < cols; ++r) layer.weights_t[r * rows + o] = layer.weights[o * cols + r];
    }
    const std::size_t width = layer.out_size();
    if (width > net.max_width_) net.max_width_ = width;
    net.total_activation_ += width;
    net.layers_.push_back(std::move(layer));
  }
  const Layer& last = net.layers_.back();
  if ((last.kind != LayerKind::Dense && last.kind != LayerKind::Conv && last.kind != LayerKind::Affine) ||
      last.out_size() < 2)
    throw_model("the last layer must be affine (dense) with at least 2 outputs (the classes)");
  if (net.relu_positions_.empty()) throw_model("the network has no ReLU or other gate layer: there is no path to explain");
  for (std::size_t i = 0; i + 1 < net.layers_.size(); ++i)
    if (net.consumers_[i].empty())
      throw_model("layer " + std::to_string(i) + (net.layers_[i].name.empty() ? "" : " (\"" + net.layers_[i].name + "\")") +
                  ": its output is never used (only the last layer may be a graph output)");
  return net;
}

}  // namespace pathwise
