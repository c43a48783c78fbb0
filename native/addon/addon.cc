// The N-API surface of pathwise: the only file that knows Node. It converts arguments (checking
// types and lengths at the boundary), runs the core synchronously or in an AsyncWorker, and maps
// core errors to TypeError / RangeError / Error-with-code.
//
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: during a worker's teardown, node-addon-api must not turn
// an error it cannot throw into JavaScript into a C++ exception (which would abort the process).
#define NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS
#include <napi.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "../core/forward/forward.h"
#include "../core/ir/network.h"
#include "../core/kernels/kernels.h"
#include "../core/path/explain.h"
#include "../core/threads/pool.h"
#include "../core/util/error.h"
#include "common.h"

namespace {

using pathwise::Error;

Napi::Error to_js_error(Napi::Env env, const Error& e) {
  switch (e.kind()) {
    case Error::Kind::Type: return Napi::TypeError::New(env, e.what());
    case Error::Kind::Range: return Napi::RangeError::New(env, e.what());
    case Error::Kind::Model: {
      Napi::Error err = Napi::Error::New(env, e.what());
      err.Set("code", Napi::String::New(env, "PATHWISE_BAD_MODEL"));
      return err;
    }
    case Error::Kind::Memory: {
      Napi::Error err = Napi::Error::New(env, e.what());
      err.Set("code", Napi::String::New(env, "PATHWISE_MEMORY_LIMIT"));
      return err;
    }
    case Error::Kind::Runtime: break;
  }
  Napi::Error err = Napi::Error::New(env, e.what());
  err.Set("code", Napi::String::New(env, "PATHWISE_NATIVE"));
  return err;
}

Napi::Error native_error(Napi::Env env, const std::string& message) {
  return to_js_error(env, Error(Error::Kind::Runtime, message));
}

[[noreturn]] void throw_type(Napi::Env env, const std::string& m) {
  throw Napi::TypeError::New(env, m);
}
[[noreturn]] void throw_range(Napi::Env env, const std::string& m) {
  throw Napi::RangeError::New(env, m);
}

Napi::Float32Array expect_f32(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, std::string(what) + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

std::size_t expect_size(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) throw_type(env, std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw_range(env, std::string(what) + " must be a non-negative integer");
  return std::size_t(d);
}

// Options arrive already validated and normalised by lib/ (which knows the public option names);
// they are checked again here because the addon must never trust its caller.
pathwise::ExplainOptions parse_options(Napi::Env env, Napi::Value v) {
  if (!v.IsObject()) throw_type(env, "options must be an object");
  Napi::Object o = v.As<Napi::Object>();
  pathwise::ExplainOptions opt;
  Napi::Value mode = o.Get("widthMode");
  if (!mode.IsString()) throw_type(env, "widthMode must be a string");
  const std::string m = mode.As<Napi::String>();
  if (m == "all") opt.width.mode = pathwise::WidthRule::Mode::All;
  else if (m == "count") opt.width.mode = pathwise::WidthRule::Mode::Count;
  else if (m == "percent") opt.width.mode = pathwise::WidthRule::Mode::Percent;
  else throw_range(env, "widthMode must be 'all', 'count' or 'percent'");
  if (opt.width.mode != pathwise::WidthRule::Mode::All) {
    Napi::Value wv = o.Get("widthValue");
    if (!wv.IsNumber()) throw_type(env, "widthValue must be a number");
    opt.width.value = wv.As<Napi::Number>().DoubleValue();
  }
  opt.depth = expect_size(env, o.Get("depth"), "depth");
  Napi::Value sem = o.Get("semantics");
  if (!sem.IsUndefined()) {
    if (!sem.IsString()) throw_type(env, "semantics must be a string");
    const std::string sv = sem.As<Napi::String>();
    if (sv == "official") opt.semantics = pathwise::Semantics::Official;
    else if (sv == "linear") opt.semantics = pathwise::Semantics::Linear;
    else throw_range(env, "semantics must be 'official' or 'linear'");
  }
  Napi::Value paths = o.Get("paths");
  if (!paths.IsUndefined()) {
    if (!paths.IsObject()) throw_type(env, "paths must be an object");
    Napi::Object po = paths.As<Napi::Object>();
    opt.paths.k = expect_size(env, po.Get("k"), "paths.k");
    if (opt.paths.k == 0) throw_range(env, "paths.k must be >= 1");
    Napi::Value rank = po.Get("rank");
    if (!rank.IsUndefined()) {
      const std::string rs = rank.IsString() ? std::string(rank.As<Napi::String>()) : "";
      if (rs != "signed" && rs != "abs") throw_range(env, "paths.rank must be 'signed' or 'abs'");
      opt.paths.abs_rank = rs == "abs";
    }
    if (!po.Get("maxEdges").IsUndefined()) opt.paths.max_edges = expect_size(env, po.Get("maxEdges"), "paths.maxEdges");
    if (!po.Get("beam").IsUndefined()) opt.paths.beam = expect_size(env, po.Get("beam"), "paths.beam");
  }
  Napi::Value region = o.Get("region");
  if (!region.IsUndefined()) {
    Napi::Float32Array rf = expect_f32(env, region, "region");
    opt.region.assign(rf.Data(), rf.Data() + rf.ElementLength());
  }
  Napi::Value dec = o.Get("decompose");
  if (!dec.IsUndefined()) {
    if (!dec.IsObject()) throw_type(env, "decompose must be an object");
    Napi::Object d = dec.As<Napi::Object>();
    Napi::Value by = d.Get("by");
    const std::string bys = by.IsString() ? std::string(by.As<Napi::String>()) : "";
    using By = pathwise::DecomposeOptions::By;
    if (bys == "unit") opt.decompose.by = By::Unit;
    else if (bys == "channel") opt.decompose.by = By::Channel;
    else if (bys == "top") {
      opt.decompose.by = By::Top;
      opt.decompose.top = expect_size(env, d.Get("top"), "decompose.top");
    } else throw_range(env, "decompose.by must be 'unit', 'channel' or 'top'");
    Napi::Value layer = d.Get("layer");
    if (!layer.IsUndefined()) opt.decompose.ordinal = std::ptrdiff_t(expect_size(env, layer, "decompose.layer"));
  }
  Napi::Value thr = o.Get("threshold");
  if (!thr.IsUndefined()) {
    if (!thr.IsNumber()) throw_type(env, "threshold must be a number");
    const double tv = thr.As<Napi::Number>().DoubleValue();
    if (!(tv >= 0.0 && tv < 1.0)) throw_range(env, "threshold must be in [0, 1)");
    opt.threshold = float(tv);
  }
  Napi::Value t = o.Get("targets");
  if (!t.IsUndefined() && !t.IsNull()) {
    if (!t.IsTypedArray() || t.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw_type(env, "targets must be an Int32Array");
    Napi::Int32Array ta = t.As<Napi::Int32Array>();
    opt.targets.assign(ta.Data(), ta.Data() + ta.ElementLength());
  }
  Napi::Value mem = o.Get("maxMemoryBytes");
  if (!mem.IsUndefined()) opt.max_memory_bytes = expect_size(env, mem, "maxMemoryBytes");
  return opt;
}

Napi::Float32Array f32_from(Napi::Env env, const std::vector<float>& v) {
  Napi::Float32Array out = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), out.Data());
  return out;
}

Napi::Array results_to_js(Napi::Env env, const std::vector<pathwise::ExplainResult>& results) {
  Napi::Array arr = Napi::Array::New(env, results.size());
  for (std::size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("target", r.target);
    o.Set("predicted", r.predicted);
    o.Set("logits", f32_from(env, r.logits));
    o.Set("pathLogits", f32_from(env, r.path_logits));
    o.Set("weights", f32_from(env, r.weights));
    o.Set("attribution", f32_from(env, r.attribution));
    o.Set("bias", r.bias);
    o.Set("residual", r.residual);
    o.Set("recomputes", double(r.recomputes));
    o.Set("classChunk", double(r.class_chunk));
    Napi::Array layers = Napi::Array::New(env, r.layers.size());
    for (std::size_t l = 0; l < r.layers.size(); ++l) {
      const auto& s = r.layers[l].selection;
      Napi::Object lo = Napi::Object::New(env);
      lo.Set("ordinal", double(r.layers[l].ordinal));
      Napi::Int32Array units = Napi::Int32Array::New(env, s.units.size());
      std::copy(s.units.begin(), s.units.end(), units.Data());
      lo.Set("units", units);
      lo.Set("scores", f32_from(env, s.scores));
      lo.Set("fallback", s.fallback);
      lo.Set("k", double(s.k));
      lo.Set("borderline", double(s.borderline));
      layers.Set(l, lo);
    }
    o.Set("layers", layers);
    if (r.has_paths) {
      Napi::Object po = Napi::Object::New(env);
      po.Set("coverage", r.paths.coverage);
      po.Set("biasAbove", r.paths.bias_above);
      po.Set("exact", r.paths.exact);
      Napi::Array items = Napi::Array::New(env, r.paths.paths.size());
      for (std::size_t q = 0; q < r.paths.paths.size(); ++q) {
        const auto& p = r.paths.paths[q];
        Napi::Object io = Napi::Object::New(env);
        Napi::Int32Array units = Napi::Int32Array::New(env, p.units.size());
        std::copy(p.units.begin(), p.units.end(), units.Data());
        io.Set("units", units);
        io.Set("contribution", p.contribution);
        io.Set("weights", f32_from(env, p.weights));
        io.Set("bias", p.bias);
        items.Set(q, io);
      }
      po.Set("items", items);
      o.Set("paths", po);
    }
    if (r.has_region) {
      o.Set("regionAttribution", f32_from(env, r.region_attribution));
      o.Set("regionShare", r.region_share);
    }
    if (r.has_decomposition) {
      const auto& dd = r.decomposition;
      Napi::Object dobj = Napi::Object::New(env);
      dobj.Set("ordinal", double(dd.ordinal));
      dobj.Set("biasAbove", dd.bias_above);
      Napi::Array comps = Napi::Array::New(env, dd.components.size());
      for (std::size_t c = 0; c < dd.components.size(); ++c) {
        const auto& comp = dd.components[c];
        Napi::Object co = Napi::Object::New(env);
        Napi::Int32Array units = Napi::Int32Array::New(env, comp.units.size());
        std::copy(comp.units.begin(), comp.units.end(), units.Data());
        co.Set("units", units);
        co.Set("weights", f32_from(env, comp.weights));
        co.Set("attribution", f32_from(env, comp.attribution));
        co.Set("bias", comp.bias);
        co.Set("contribution", comp.contribution);
        co.Set("rest", comp.rest);
        comps.Set(c, co);
      }
      dobj.Set("components", comps);
      o.Set("decomposition", dobj);
    }
    arr.Set(i, o);
  }
  return arr;
}

std::vector<std::size_t> expect_sizes(Napi::Env env, Napi::Value v, const std::string& what, std::size_t len) {
  if (!v.IsArray()) throw_type(env, what + " must be an array of " + std::to_string(len) + " integers");
  Napi::Array a = v.As<Napi::Array>();
  if (a.Length() != len) throw_range(env, what + " must have " + std::to_string(len) + " entries");
  std::vector<std::size_t> out;
  for (std::uint32_t i = 0; i < len; ++i) out.push_back(expect_size(env, a.Get(i), what.c_str()));
  return out;
}

pathwise::Shape expect_shape(Napi::Env env, Napi::Value v, const std::string& what) {
  const auto s = expect_sizes(env, v, what, 3);
  return {s[0], s[1], s[2]};
}

// { kind, inputs?, inShape, out?, weights?, bias?, groups?, kernel?, stride?, pads?, dilation?,
//   ceilMode?, countIncludePad?, name? }
// The weight and bias arrays of one layer, re-read after every layer has been parsed (see the
// NativeNetwork constructor).
struct LayerArrays {
  Napi::Value weights, bias;
};

pathwise::LayerDesc parse_layer(Napi::Env env, Napi::Object o, const std::string& at, LayerArrays& arrays) {
  using pathwise::LayerKind;
  pathwise::LayerDesc d;
  Napi::Value name = o.Get("name");
  if (name.IsString()) d.name = name.As<Napi::String>();
  Napi::Value kind = o.Get("kind");
  const std::string k = kind.IsString() ? std::string(kind.As<Napi::String>()) : "";
  if (k == "dense") d.kind = LayerKind::Dense;
  else if (k == "conv") d.kind = LayerKind::Conv;
  else if (k == "relu") d.kind = LayerKind::Relu;
  else if (k == "maxpool") d.kind = LayerKind::MaxPool;
  else if (k == "avgpool") d.kind = LayerKind::AvgPool;
  else if (k == "affine") d.kind = LayerKind::Affine;
  else if (k == "add") d.kind = LayerKind::Add;
  else throw_type(env, at + ".kind must be dense, conv, relu, maxpool, avgpool, affine or add");
  Napi::Value inputs = o.Get("inputs");
  if (!inputs.IsUndefined()) {
    if (!inputs.IsArray()) throw_type(env, at + ".inputs must be an array");
    Napi::Array a = inputs.As<Napi::Array>();
    for (std::uint32_t j = 0; j < a.Length(); ++j) {
      Napi::Value p = a.Get(j);
      if (!p.IsNumber()) throw_type(env, at + ".inputs must hold layer indices");
      const double pv = p.As<Napi::Number>().DoubleValue();
      if (pv != std::floor(pv) || pv < -1 || pv > 2147483647.0) throw_range(env, at + ".inputs holds an invalid index");
      d.inputs.push_back(int(pv));
    }
  }
  Napi::Value in_shape = o.Get("inShape");
  if (!in_shape.IsUndefined()) d.in_shape = expect_shape(env, in_shape, at + ".inShape");
  Napi::Value out = o.Get("out");
  if (!out.IsUndefined()) d.out_features = expect_size(env, out, (at + ".out").c_str());
  Napi::Value w = o.Get("weights");
  if (!w.IsUndefined()) {
    Napi::Float32Array wf = expect_f32(env, w, (at + ".weights").c_str());
    arrays.weights = w;
    d.weights = wf.Data();
    d.weights_len = wf.ElementLength();
  }
  Napi::Value b = o.Get("bias");
  if (!b.IsUndefined() && !b.IsNull()) {
    Napi::Float32Array bf = expect_f32(env, b, (at + ".bias").c_str());
    arrays.bias = b;
    d.bias = bf.Data();
    d.bias_len = bf.ElementLength();
  }
  Napi::Value groups = o.Get("groups");
  if (!groups.IsUndefined()) d.groups = expect_size(env, groups, (at + ".groups").c_str());
  pathwise::Window& win = d.window;
  if (!o.Get("kernel").IsUndefined()) {
    const auto kk = expect_sizes(env, o.Get("kernel"), at + ".kernel", 2);
    win.kh = kk[0];
    win.kw = kk[1];
    win.sh = kk[0];  // pools default to stride = kernel; lib/ always passes it explicitly
    win.sw = kk[1];
  }
  if (!o.Get("stride").IsUndefined()) {
    const auto st = expect_sizes(env, o.Get("stride"), at + ".stride", 2);
    win.sh = st[0];
    win.sw = st[1];
  }
  if (!o.Get("pads").IsUndefined()) {
    const auto pd = expect_sizes(env, o.Get("pads"), at + ".pads", 4);
    win.pt = pd[0];
    win.pl = pd[1];
    win.pb = pd[2];
    win.pr = pd[3];
  }
  if (!o.Get("dilation").IsUndefined()) {
    const auto dl = expect_sizes(env, o.Get("dilation"), at + ".dilation", 2);
    win.dh = dl[0];
    win.dw = dl[1];
  }
  win.ceil_mode = o.Get("ceilMode").ToBoolean();
  win.count_include_pad = o.Get("countIncludePad").ToBoolean();
  return d;
}

class NativeNetwork;

// The baton: everything Execute() needs, with no JS values. The input is copied (n × d floats,
// negligible next to an explanation's ≥ C forward passes of work): a zero-copy view would race
// with a caller that transfers or detaches the ArrayBuffer while the work runs. Sync calls read
// the caller's array in place.
class ExplainWorker : public Napi::AsyncWorker {
 public:
  ExplainWorker(Napi::Env env, std::shared_ptr<const pathwise::Network> net, Napi::Float32Array input,
                std::size_t n, pathwise::ExplainOptions options)
      : Napi::AsyncWorker(env, "pathwise.explain"),
        deferred_(Napi::Promise::Deferred::New(env)),
        net_(std::move(net)),
        input_(input.Data(), input.Data() + input.ElementLength()),
        n_(n),
        options_(std::move(options)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      results_ = pathwise::explain(*net_, input_.data(), n_, options_);
    } catch (const Error& e) {
      error_ = std::make_unique<Error>(e);
    } catch (const std::bad_alloc&) {
      error_ = std::make_unique<Error>(Error::Kind::Runtime, "out of memory while explaining");
    } catch (const std::exception& e) {
      error_ = std::make_unique<Error>(Error::Kind::Runtime, e.what());
    }
  }

  // When a worker thread is terminated with calls in flight, these run during its environment's
  // teardown, where no JavaScript can run: creating the results or settling the promise throws,
  // and an exception escaping into node-addon-api's callback wrapper aborts the whole process.
  // Nobody can observe the promise then, so the failure is dropped.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (error_) {
        deferred_.Reject(to_js_error(env, *error_).Value());
        return;
      }
      try {
        deferred_.Resolve(results_to_js(env, results_));
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      } catch (const std::exception& e) {
        deferred_.Reject(native_error(env, e.what()).Value());
      }
    } catch (...) {
    }
  }

  void OnError(const Napi::Error& e) override {
    try {
      deferred_.Reject(e.Value());
    } catch (...) {
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<const pathwise::Network> net_;
  std::vector<float> input_;
  std::size_t n_;
  pathwise::ExplainOptions options_;
  std::vector<pathwise::ExplainResult> results_;
  std::unique_ptr<Error> error_;
};

class NativeNetwork : public Napi::ObjectWrap<NativeNetwork> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeNetwork",
                       {InstanceMethod("forward", &NativeNetwork::Forward),
                        InstanceMethod("explainSync", &NativeNetwork::ExplainSync),
                        InstanceMethod("explain", &NativeNetwork::ExplainAsync),
                        InstanceMethod("dispose", &NativeNetwork::Dispose)});
  }

  // new NativeNetwork(inputShape: [c, h, w], layers: NativeLayer[]) — see lib/native.ts for the
  // layer fields. Everything is validated again by Network::build.
  explicit NativeNetwork(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeNetwork>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2) throw_type(env, "NativeNetwork(inputShape, layers)");
    const pathwise::Shape input_shape = expect_shape(env, info[0], "inputShape");
    if (!info[1].IsArray()) throw_type(env, "layers must be an array");
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<pathwise::LayerDesc> descs;
    std::vector<LayerArrays> arrays;
    // The typed arrays stay alive (as JS values reachable from `arr`) while build() copies them.
    for (std::uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      const std::string at = "layers[" + std::to_string(i) + "]";
      if (!v.IsObject()) throw_type(env, at + " must be an object");
      arrays.emplace_back();
      descs.push_back(parse_layer(env, v.As<Napi::Object>(), at, arrays.back()));
    }
    // Reading a later layer's fields can run JavaScript (getters, proxies) that detaches or
    // transfers an earlier layer's buffer: take the data pointers again now that no JavaScript
    // runs before build() has copied them. A detached array reads as empty and fails the checks.
    for (std::size_t i = 0; i < descs.size(); ++i) {
      if (!arrays[i].weights.IsEmpty()) {
        Napi::Float32Array fresh = arrays[i].weights.As<Napi::Float32Array>();
        descs[i].weights = fresh.ElementLength() ? fresh.Data() : nullptr;
        descs[i].weights_len = fresh.ElementLength();
      }
      if (!arrays[i].bias.IsEmpty()) {
        Napi::Float32Array fresh = arrays[i].bias.As<Napi::Float32Array>();
        descs[i].bias = fresh.ElementLength() ? fresh.Data() : nullptr;
        descs[i].bias_len = fresh.ElementLength();
      }
    }
    try {
      net_ = std::make_shared<const pathwise::Network>(pathwise::Network::build(input_shape, descs));
    } catch (const Error& e) {
      throw to_js_error(env, e);
    } catch (const std::bad_alloc&) {
      throw native_error(env, "out of memory while loading the network");
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {  // e.g. std::length_error: never let it unwind into node
      throw native_error(env, e.what());
    }
  }

 private:
  std::shared_ptr<const pathwise::Network> network(Napi::Env env) {
    if (!net_) {
      Napi::Error err = Napi::Error::New(env, "the model has been disposed");
      err.Set("code", Napi::String::New(env, "PATHWISE_DISPOSED"));
      throw err;
    }
    return net_;
  }

  // Checks an input batch: a Float32Array of n × inputSize values.
  static std::size_t batch_size(Napi::Env env, const pathwise::Network& net, Napi::Float32Array x,
                                Napi::Value n_value) {
    const std::size_t n = expect_size(env, n_value, "n");
    if (n == 0) throw_range(env, "the batch is empty");
    // Compared by division: n × inputSize can wrap around for an absurd n.
    const std::size_t d = net.input_size();
    if (x.ElementLength() % d != 0 || x.ElementLength() / d != n)
      throw_range(env, "input has " + std::to_string(x.ElementLength()) + " values, expected " +
                           std::to_string(n) + " x " + std::to_string(net.input_size()));
    return n;
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    Napi::Float32Array x = expect_f32(env, info[0], "input");
    const std::size_t n = batch_size(env, *net, x, info[1]);
    try {
      return f32_from(env, pathwise::forward_logits(*net, x.Data(), n));
    } catch (const Error& e) {
      throw to_js_error(env, e);
    } catch (const std::bad_alloc&) {
      throw native_error(env, "out of memory in forward");
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {  // e.g. std::length_error: never let it unwind into node
      throw native_error(env, e.what());
    }
  }

  Napi::Value ExplainSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    // Options first: reading them can run JavaScript (getters) that detaches the input's buffer,
    // so the input's data pointer is taken afterwards.
    pathwise::ExplainOptions opt = parse_options(env, info[2]);
    Napi::Float32Array x = expect_f32(env, info[0], "input");
    const std::size_t n = batch_size(env, *net, x, info[1]);
    try {
      return results_to_js(env, pathwise::explain(*net, x.Data(), n, opt));
    } catch (const Error& e) {
      throw to_js_error(env, e);
    } catch (const std::bad_alloc&) {
      throw native_error(env, "out of memory while explaining");
    } catch (const Napi::Error&) {
      throw;
    } catch (const std::exception& e) {  // e.g. std::length_error: never let it unwind into node
      throw native_error(env, e.what());
    }
  }

  Napi::Value ExplainAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    // Options first: reading them can run JavaScript (getters) that detaches the input's buffer,
    // so the input's data pointer is taken afterwards.
    pathwise::ExplainOptions opt = parse_options(env, info[2]);
    Napi::Float32Array x = expect_f32(env, info[0], "input");
    const std::size_t n = batch_size(env, *net, x, info[1]);
    try {
      pathwise::validate_options(*net, n, opt);  // option errors reject before any work is queued
    } catch (const Error& e) {
      throw to_js_error(env, e);
    }
    auto* worker = new ExplainWorker(env, std::move(net), x, n, std::move(opt));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  }

  // For the other addon files (common.h): the network behind a handle, or PATHWISE_DISPOSED.
  friend std::shared_ptr<const pathwise::Network> pathwise_addon::network_of(Napi::Env, Napi::Value);

  // In-flight workers hold their own reference to the network, so they finish safely.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    net_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<const pathwise::Network> net_;
};

// kernelInfo() -> { active, available: string[], description, forceError? }
Napi::Value KernelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const auto& active = pathwise::kernels::active();
  o.Set("active", active.name);
  o.Set("description", active.description);
  const auto tables = pathwise::kernels::available();
  Napi::Array names = Napi::Array::New(env, tables.size());
  for (std::size_t i = 0; i < tables.size(); ++i) names.Set(i, tables[i]->name);
  o.Set("available", names);
  if (!pathwise::kernels::force_error().empty()) o.Set("forceError", pathwise::kernels::force_error());
  o.Set("threads", double(pathwise::threads::pool_size()));
  std::string threads_error;
  pathwise::threads::default_pool_size(&threads_error);
  if (!threads_error.empty()) o.Set("threadsError", threads_error);
  return o;
}

// setThreads(n): the core pool's size, 1 … 1024 threads (0 = the default: PATHWISE_THREADS or the
// core count). Waits for a running parallel region (an async call's product) to finish first.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsNumber()) throw_type(env, "threads must be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  if (!(n >= 0 && n <= 1024 && n == std::floor(n))) throw_range(env, "threads must be an integer in [0, 1024] (0 = the default)");
  pathwise::threads::set_pool_size(std::size_t(n));
  return env.Undefined();
}

// The arguments (kernel, transB, m, n, k, a, b) shared by gemmWithKernel and gemmBench.
struct GemmArgs {
  const pathwise::kernels::KernelTable* table;
  bool trans_b;
  std::size_t m, n, k;
  Napi::Float32Array a, b;
};

GemmArgs gemm_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type(env, "kernel must be a string");
  GemmArgs g;
  g.table = pathwise::kernels::find(info[0].As<Napi::String>());
  if (!g.table) throw_range(env, "kernel not available: " + std::string(info[0].As<Napi::String>()));
  g.trans_b = info[1].ToBoolean();
  g.m = expect_size(env, info[2], "m");
  g.n = expect_size(env, info[3], "n");
  g.k = expect_size(env, info[4], "k");
  g.a = expect_f32(env, info[5], "a");
  g.b = expect_f32(env, info[6], "b");
  // Sizes are checked by division: m × k or k × n can wrap around for absurd m, n, k.
  auto holds = [](std::size_t len, std::size_t rows, std::size_t cols) {
    return rows == 0 || cols == 0 ? len == 0 : len % rows == 0 && len / rows == cols;
  };
  if (!holds(g.a.ElementLength(), g.m, g.k) || !holds(g.b.ElementLength(), g.k, g.n) ||
      (g.m != 0 && g.n > (std::size_t(1) << 40) / g.m))
    throw_range(env, "a must have m*k and b k*n values");
  return g;
}

// gemmWithKernel(kernel, transB, m, n, k, a, b) -> Float32Array(m × n): runs one named kernel,
// so a test can check every compiled kernel against the scalar path in one process.
Napi::Value GemmWithKernel(const Napi::CallbackInfo& info) {
  const GemmArgs g = gemm_args(info);
  Napi::Float32Array c = Napi::Float32Array::New(info.Env(), g.m * g.n);
  (g.trans_b ? g.table->gemm_nt : g.table->gemm_nn)(g.m, g.n, g.k, g.a.Data(), g.k, g.b.Data(),
                                                     g.trans_b ? g.k : g.n, c.Data(), g.n, false);
  return c;
}

// gemmBench(kernel, transB, m, n, k, a, b, iterations, threads)
//   -> { seconds: Float64Array(iterations), threads, c: Float32Array(m × n) }
// Times `iterations` calls of one named kernel in C++ (wall time of each call, after one warm-up
// call), on up to `threads` threads of the core pool (0 = the pool's size), for npm run bench.
// `c` is the last call's product, so tests can compare thread counts.
Napi::Value GemmBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GemmArgs g = gemm_args(info);
  const auto* table = g.table;
  const bool trans_b = g.trans_b;
  const std::size_t m = g.m, n = g.n, k = g.k;
  const Napi::Float32Array &a = g.a, &b = g.b;
  const std::size_t iterations = expect_size(env, info[7], "iterations");
  const std::size_t threads = expect_size(env, info[8], "threads");
  if (iterations < 1) throw_range(env, "iterations must be >= 1");
  Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
  Napi::Float64Array seconds = Napi::Float64Array::New(env, iterations);
  const auto fn = trans_b ? table->gemm_nt_threads : table->gemm_nn_threads;
  const std::size_t ldb = trans_b ? k : n;
  fn(m, n, k, a.Data(), k, b.Data(), ldb, c.Data(), n, false, threads);
  for (std::size_t i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn(m, n, k, a.Data(), k, b.Data(), ldb, c.Data(), n, false, threads);
    seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const std::size_t pool = pathwise::threads::pool_size();
  Napi::Object out = Napi::Object::New(env);
  out.Set("seconds", seconds);
  out.Set("threads", double(threads == 0 || threads > pool ? pool : threads));
  out.Set("c", c);
  return out;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeNetwork", NativeNetwork::Init(env));
  exports.Set("kernelInfo", Napi::Function::New(env, KernelInfo));
  exports.Set("setThreads", Napi::Function::New(env, SetThreads));
  exports.Set("gemmWithKernel", Napi::Function::New(env, GemmWithKernel));
  exports.Set("gemmBench", Napi::Function::New(env, GemmBench));
  pathwise_addon::register_baselines(env, exports);
  return exports;
}

}  // namespace

namespace pathwise_addon {

Napi::Error to_js_error(Napi::Env env, const pathwise::Error& e) { return ::to_js_error(env, e); }

// Only NativeNetwork objects are wrapped in this addon, and lib/ passes Model.handle().
std::shared_ptr<const pathwise::Network> network_of(Napi::Env env, Napi::Value handle) {
  if (!handle.IsObject()) throw Napi::TypeError::New(env, "expected a NativeNetwork handle");
  return NativeNetwork::Unwrap(handle.As<Napi::Object>())->network(env);
}

}  // namespace pathwise_addon

NODE_API_MODULE(pathwise, Init)
