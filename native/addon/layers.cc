// Reading the layer descriptions of a NativeNetwork (layers.h).
#include "layers.h"

#include <cmath>
#include <iterator>
#include <optional>
#include <string>

#include "convert.h"
#include "errors.h"

namespace pathwise_addon {

namespace {

using pathwise::LayerKind;

// Indexed by LayerKind.
constexpr const char* kLayerKindNames[] = {"dense", "conv", "relu", "maxpool", "avgpool", "affine", "add", "concat", "gather"};
static_assert(std::size(kLayerKindNames) == std::size_t(LayerKind::Gather) + 1, "a name for every LayerKind");

// The weight and bias arrays of one layer, whose data pointers are taken after every layer has
// been read (see parse_layers).
struct LayerArrays {
  Napi::Value weights, bias;
};

std::vector<int> parse_inputs(Napi::Env env, Napi::Value inputs, const std::string& at) {
  PATHWISE_THROW_TYPE_ERROR_IF(!inputs.IsArray(), env, at + ".inputs must be an array");
  Napi::Array a = inputs.As<Napi::Array>();
  std::vector<int> out;
  for (std::uint32_t j = 0; j < a.Length(); ++j) {
    Napi::Value p = a.Get(j);
    PATHWISE_THROW_TYPE_ERROR_IF(!p.IsNumber(), env, at + ".inputs must hold layer indices");
    const double pv = p.As<Napi::Number>().DoubleValue();
    PATHWISE_THROW_RANGE_ERROR_IF(pv != std::floor(pv) || pv < -1 || pv > 2147483647.0, env,
                                  at + ".inputs holds an invalid index");
    out.push_back(int(pv));
  }
  return out;
}

// The `len` integers of the optional field `key`, or nothing when it is undefined.
std::optional<std::vector<std::size_t>> optional_sizes(Napi::Env env, Napi::Object o, const char* key,
                                                       const std::string& at, std::size_t len) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return std::nullopt;
  return expect_sizes(env, v, at + "." + key, len);
}

// A gate's parameters (NativeLayer lower, upper, lowerValue, slope; absent = ReLU's). Types are
// checked here, ranges again by Network::build.
void parse_gate(Napi::Env env, Napi::Object o, const std::string& at, pathwise::LayerDesc& d) {
  const auto number = [&](const char* key, float& out) {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined()) return;
    PATHWISE_THROW_TYPE_ERROR_IF(!v.IsNumber(), env, at + "." + key + " must be a number");
    const double x = v.As<Napi::Number>().DoubleValue();
    PATHWISE_THROW_RANGE_ERROR_IF(std::isnan(x), env, at + "." + key + " must not be NaN");
    out = float(x);
  };
  number("lower", d.gate.lower);
  number("upper", d.gate.upper);
  number("lowerValue", d.gate.lower_value);
  Napi::Value slope = o.Get("slope");
  if (slope.IsUndefined()) return;
  Napi::Float32Array a = expect_f32(env, slope, (at + ".slope").c_str());
  const std::size_t len = a.ElementLength();
  PATHWISE_THROW_RANGE_ERROR_IF(len != 1 && (d.in_shape.size() == 0 || len != d.in_shape.c), env,
                                at + ".slope must hold 1 value or one per channel");
  d.gate.slope.assign(a.Data(), a.Data() + len);  // copied now: no later JavaScript can detach it
  for (float v : d.gate.slope) PATHWISE_THROW_RANGE_ERROR_IF(!std::isfinite(v), env, at + ".slope must be finite");
}

void parse_window(Napi::Env env, Napi::Object o, const std::string& at, pathwise::Window& win) {
  if (const auto kernel = optional_sizes(env, o, "kernel", at, 2)) {
    win.kh = win.sh = (*kernel)[0];  // pools default to stride = kernel; lib/ always passes it explicitly
    win.kw = win.sw = (*kernel)[1];
  }
  if (const auto stride = optional_sizes(env, o, "stride", at, 2)) {
    win.sh = (*stride)[0];
    win.sw = (*stride)[1];
  }
  if (const auto pads = optional_sizes(env, o, "pads", at, 4)) {
    win.pt = (*pads)[0];
    win.pl = (*pads)[1];
    win.pb = (*pads)[2];
    win.pr = (*pads)[3];
  }
  if (const auto dilation = optional_sizes(env, o, "dilation", at, 2)) {
    win.dh = (*dilation)[0];
    win.dw = (*dilation)[1];
  }
  win.ceil_mode = o.Get("ceilMode").ToBoolean();
  win.count_include_pad = o.Get("countIncludePad").ToBoolean();
}

// Gather's outShape, map (an Int32Array, copied now: later JavaScript may detach it) and fill.
void parse_gather(Napi::Env env, Napi::Object o, const std::string& at, pathwise::LayerDesc& d) {
  d.out_shape = expect_shape(env, o.Get("outShape"), at + ".outShape");
  Napi::Value map = o.Get("map");
  PATHWISE_THROW_TYPE_ERROR_IF(map.IsUndefined() || map.IsNull(), env, at + ".map must be an Int32Array");
  d.map = copy_optional_i32(env, map, (at + ".map").c_str());
  PATHWISE_THROW_RANGE_ERROR_IF(d.map.size() != d.out_shape.size(), env,
                                at + ".map has " + std::to_string(d.map.size()) + " entries, expected " +
                                    std::to_string(d.out_shape.size()) + " (one per output value)");
  for (std::int32_t m : d.map)
    PATHWISE_THROW_RANGE_ERROR_IF(m < -1, env, at + ".map entries must be input indices or -1 (the fill)");
  Napi::Value fill = o.Get("fill");
  if (fill.IsUndefined()) return;
  PATHWISE_THROW_TYPE_ERROR_IF(!fill.IsNumber(), env, at + ".fill must be a number");
  const double f = fill.As<Napi::Number>().DoubleValue();
  PATHWISE_THROW_RANGE_ERROR_IF(!std::isfinite(f) || std::fabs(f) > 3.4028234663852886e38, env,
                                at + ".fill must be a finite float32 value");
  d.fill = float(f);
}

pathwise::LayerDesc parse_layer(Napi::Env env, Napi::Object o, const std::string& at, LayerArrays& arrays) {
  pathwise::LayerDesc d;
  Napi::Value name = o.Get("name");
  if (name.IsString()) d.name = name.As<Napi::String>();
  const std::string kind = string_or_empty(o.Get("kind"));
  bool known = false;
  for (std::size_t i = 0; i < std::size(kLayerKindNames) && !known; ++i)
    if (kind == kLayerKindNames[i]) d.kind = LayerKind(i), known = true;
  PATHWISE_THROW_TYPE_ERROR_IF(!known, env, at + ".kind must be dense, conv, relu, maxpool, avgpool, affine, add, concat or gather");
  Napi::Value inputs = o.Get("inputs");
  if (!inputs.IsUndefined()) d.inputs = parse_inputs(env, inputs, at);
  Napi::Value in_shape = o.Get("inShape");
  if (!in_shape.IsUndefined()) d.in_shape = expect_shape(env, in_shape, at + ".inShape");
  d.out_features = size_or(env, o.Get("out"), (at + ".out").c_str(), d.out_features);
  Napi::Value w = o.Get("weights");
  if (!w.IsUndefined()) {
    expect_f32(env, w, (at + ".weights").c_str());
    arrays.weights = w;
  }
  Napi::Value b = o.Get("bias");
  if (!b.IsUndefined() && !b.IsNull()) {
    expect_f32(env, b, (at + ".bias").c_str());
    arrays.bias = b;
  }
  if (d.kind == LayerKind::Relu) parse_gate(env, o, at, d);
  d.groups = size_or(env, o.Get("groups"), (at + ".groups").c_str(), d.groups);
  parse_window(env, o, at, d.window);
  if (d.kind == LayerKind::Concat)
    PATHWISE_THROW_RANGE_ERROR_IF(d.inputs.size() < 2, env, at + ".inputs must name at least 2 producers to concatenate");
  if (d.kind == LayerKind::Gather) parse_gather(env, o, at, d);
  return d;
}

// A detached array reads as empty and fails Network::build's checks.
void point_at(Napi::Value array, const float*& data, std::size_t& len) {
  if (array.IsEmpty()) return;
  Napi::Float32Array a = array.As<Napi::Float32Array>();
  len = a.ElementLength();
  data = len ? a.Data() : nullptr;
}

}  // namespace

std::vector<pathwise::LayerDesc> parse_layers(Napi::Env env, Napi::Value layers) {
  PATHWISE_THROW_TYPE_ERROR_IF(!layers.IsArray(), env, "layers must be an array");
  Napi::Array arr = layers.As<Napi::Array>();
  std::vector<pathwise::LayerDesc> descs;
  std::vector<LayerArrays> arrays;
  // The typed arrays stay alive (as JS values reachable from `arr`) while build() copies them.
  for (std::uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    const std::string at = "layers[" + std::to_string(i) + "]";
    PATHWISE_THROW_TYPE_ERROR_IF(!v.IsObject(), env, at + " must be an object");
    arrays.emplace_back();
    descs.push_back(parse_layer(env, v.As<Napi::Object>(), at, arrays.back()));
  }
  // Reading a later layer's fields can run JavaScript (getters, proxies) that detaches or
  // transfers an earlier layer's buffer: the data pointers are taken only now, when no JavaScript
  // runs before build() has copied them.
  for (std::size_t i = 0; i < descs.size(); ++i) {
    point_at(arrays[i].weights, descs[i].weights, descs[i].weights_len);
    point_at(arrays[i].bias, descs[i].bias, descs[i].bias_len);
  }
  return descs;
}

const char* layer_kind_name(LayerKind kind) { return kLayerKindNames[int(kind)]; }

}  // namespace pathwise_addon
