// The N-API surface of pathwise: the only file that knows Node. It converts arguments (checking
// types and lengths at the boundary), runs the core synchronously or in an AsyncWorker, and maps
// core errors to TypeError / RangeError / Error-with-code.
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
  Napi::Value t = o.Get("targets");
  if (!t.IsUndefined() && !t.IsNull()) {
    if (!t.IsTypedArray() || t.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
      throw_type(env, "targets must be an Int32Array");
    Napi::Int32Array ta = t.As<Napi::Int32Array>();
    opt.targets.assign(ta.Data(), ta.Data() + ta.ElementLength());
  }
  Napi::Value mem = o.Get("maxJacobianFloats");
  if (!mem.IsUndefined()) opt.max_jacobian_floats = std::max<std::size_t>(1, expect_size(env, mem, "maxJacobianFloats"));
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
    arr.Set(i, o);
  }
  return arr;
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

  void OnOK() override {
    Napi::Env env = Env();
    if (error_) {
      deferred_.Reject(to_js_error(env, *error_).Value());
      return;
    }
    try {
      deferred_.Resolve(results_to_js(env, results_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

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

  // new NativeNetwork(inputSize, layers: ({kind:'dense', in, out, weights, bias?, name?} |
  //                                       {kind:'relu', name?})[])
  explicit NativeNetwork(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeNetwork>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2) throw_type(env, "NativeNetwork(inputSize, layers)");
    const std::size_t input_size = expect_size(env, info[0], "inputSize");
    if (!info[1].IsArray()) throw_type(env, "layers must be an array");
    Napi::Array arr = info[1].As<Napi::Array>();
    std::vector<pathwise::LayerDesc> descs;
    // Keep the typed arrays alive (as JS values on this stack frame) while build() copies them.
    for (std::uint32_t i = 0; i < arr.Length(); ++i) {
      Napi::Value v = arr.Get(i);
      if (!v.IsObject()) throw_type(env, "layers[" + std::to_string(i) + "] must be an object");
      Napi::Object o = v.As<Napi::Object>();
      pathwise::LayerDesc d;
      Napi::Value name = o.Get("name");
      if (name.IsString()) d.name = name.As<Napi::String>();
      Napi::Value kind = o.Get("kind");
      const std::string k = kind.IsString() ? std::string(kind.As<Napi::String>()) : "";
      if (k == "dense") {
        d.kind = pathwise::LayerKind::Dense;
        d.in_size = expect_size(env, o.Get("in"), "in");
        d.out_size = expect_size(env, o.Get("out"), "out");
        Napi::Float32Array w = expect_f32(env, o.Get("weights"), "weights");
        d.weights = w.Data();
        d.weights_len = w.ElementLength();
        Napi::Value b = o.Get("bias");
        if (!b.IsUndefined() && !b.IsNull()) {
          Napi::Float32Array bf = expect_f32(env, b, "bias");
          d.bias = bf.Data();
          d.bias_len = bf.ElementLength();
        }
      } else if (k == "relu") {
        d.kind = pathwise::LayerKind::Relu;
      } else {
        throw_type(env, "layers[" + std::to_string(i) + "].kind must be 'dense' or 'relu'");
      }
      descs.push_back(std::move(d));
    }
    try {
      net_ = std::make_shared<const pathwise::Network>(pathwise::Network::build(input_size, descs));
    } catch (const Error& e) {
      throw to_js_error(env, e);
    } catch (const std::bad_alloc&) {
      throw native_error(env, "out of memory while loading the network");
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
    if (x.ElementLength() != n * net.input_size())
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
    }
  }

  Napi::Value ExplainSync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    Napi::Float32Array x = expect_f32(env, info[0], "input");
    const std::size_t n = batch_size(env, *net, x, info[1]);
    pathwise::ExplainOptions opt = parse_options(env, info[2]);
    try {
      return results_to_js(env, pathwise::explain(*net, x.Data(), n, opt));
    } catch (const Error& e) {
      throw to_js_error(env, e);
    } catch (const std::bad_alloc&) {
      throw native_error(env, "out of memory while explaining");
    }
  }

  Napi::Value ExplainAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    Napi::Float32Array x = expect_f32(env, info[0], "input");
    const std::size_t n = batch_size(env, *net, x, info[1]);
    pathwise::ExplainOptions opt = parse_options(env, info[2]);
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
  return o;
}

// gemmWithKernel(kernel, transB, m, n, k, a, b) -> Float32Array(m × n): runs one named kernel,
// so a test can check every compiled kernel against the scalar path in one process.
Napi::Value GemmWithKernel(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type(env, "kernel must be a string");
  const auto* table = pathwise::kernels::find(info[0].As<Napi::String>());
  if (!table) throw_range(env, "kernel not available: " + std::string(info[0].As<Napi::String>()));
  const bool trans_b = info[1].ToBoolean();
  const std::size_t m = expect_size(env, info[2], "m"), n = expect_size(env, info[3], "n"),
                    k = expect_size(env, info[4], "k");
  Napi::Float32Array a = expect_f32(env, info[5], "a"), b = expect_f32(env, info[6], "b");
  if (a.ElementLength() != m * k || b.ElementLength() != k * n)
    throw_range(env, "a must have m*k and b k*n values");
  Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
  (trans_b ? table->gemm_nt : table->gemm_nn)(m, n, k, a.Data(), k, b.Data(), trans_b ? k : n,
                                               c.Data(), n, false);
  return c;
}

// gemmBench(kernel, transB, m, n, k, a, b, iterations, threads)
//   -> { seconds: Float64Array(iterations), threads, c: Float32Array(m × n) }
// Times `iterations` calls of one named kernel in C++ (wall time of each call, after one warm-up
// call), on up to `threads` threads of the core pool (0 = the pool's size), for npm run bench.
// `c` is the last call's product, so tests can compare thread counts.
Napi::Value GemmBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_type(env, "kernel must be a string");
  const auto* table = pathwise::kernels::find(info[0].As<Napi::String>());
  if (!table) throw_range(env, "kernel not available: " + std::string(info[0].As<Napi::String>()));
  const bool trans_b = info[1].ToBoolean();
  const std::size_t m = expect_size(env, info[2], "m"), n = expect_size(env, info[3], "n"),
                    k = expect_size(env, info[4], "k");
  Napi::Float32Array a = expect_f32(env, info[5], "a"), b = expect_f32(env, info[6], "b");
  if (a.ElementLength() != m * k || b.ElementLength() != k * n)
    throw_range(env, "a must have m*k and b k*n values");
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
  exports.Set("gemmWithKernel", Napi::Function::New(env, GemmWithKernel));
  exports.Set("gemmBench", Napi::Function::New(env, GemmBench));
  return exports;
}

}  // namespace

NODE_API_MODULE(pathwise, Init)
