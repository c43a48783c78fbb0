// N-API surface of the baselines, unwrapping and the insertion/deletion metric. Every call copies
// its inputs into a plain job (so async work never touches JS values and a caller may reuse its
// arrays at once), runs the core either on the calling thread (…Sync in lib/) or in an AsyncWorker
// on the libuv pool, and converts the result on the JS thread.
#include <napi.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "../core/baselines/baselines.h"
#include "../core/metrics/insdel.h"
#include "common.h"

namespace pathwise_addon {
namespace {

using pathwise::Error;

[[noreturn]] void throw_type(Napi::Env env, const std::string& m) { throw Napi::TypeError::New(env, m); }
[[noreturn]] void throw_range(Napi::Env env, const std::string& m) { throw Napi::RangeError::New(env, m); }

std::vector<float> f32_copy(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_type(env, std::string(what) + " must be a Float32Array");
  Napi::Float32Array a = v.As<Napi::Float32Array>();
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

std::size_t size_of(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) throw_type(env, std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d))
    throw_range(env, std::string(what) + " must be a non-negative integer");
  return std::size_t(d);
}

std::size_t optional_size(Napi::Env env, Napi::Object o, const char* key, std::size_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsUndefined() ? fallback : size_of(env, v, key);
}

std::vector<std::int32_t> optional_targets(Napi::Env env, Napi::Object o) {
  Napi::Value t = o.Get("targets");
  if (t.IsUndefined() || t.IsNull()) return {};
  if (!t.IsTypedArray() || t.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw_type(env, "targets must be an Int32Array");
  Napi::Int32Array a = t.As<Napi::Int32Array>();
  return std::vector<std::int32_t>(a.Data(), a.Data() + a.ElementLength());
}

std::string string_of(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsString()) throw_type(env, std::string(what) + " must be a string");
  return v.As<Napi::String>();
}

template <class T, class A>
A typed_from(Napi::Env env, const std::vector<T>& v) {
  A out = A::New(env, v.size());
  std::copy(v.begin(), v.end(), out.Data());
  return out;
}
Napi::Float32Array f32(Napi::Env env, const std::vector<float>& v) { return typed_from<float, Napi::Float32Array>(env, v); }
Napi::Float64Array f64(Napi::Env env, const std::vector<double>& v) { return typed_from<double, Napi::Float64Array>(env, v); }
Napi::Int32Array i32(Napi::Env env, const std::vector<std::int32_t>& v) { return typed_from<std::int32_t, Napi::Int32Array>(env, v); }

// Runs `work` now (sync) or on the libuv pool (async → a Promise), then `convert` on the JS thread.
template <class Result>
class TaskWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<Result()>;
  using Convert = std::function<Napi::Value(Napi::Env, Result&)>;
  TaskWorker(Napi::Env env, const char* name, Work work, Convert convert)
      : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)),
        convert_(std::move(convert)) {}
  Napi::Promise promise() { return deferred_.Promise(); }
  void Execute() override {
    try {
      result_ = work_();
    } catch (const Error& e) {
      error_ = std::make_unique<Error>(e);
    } catch (const std::bad_alloc&) {
      error_ = std::make_unique<Error>(Error::Kind::Runtime, "out of memory");
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
      deferred_.Resolve(convert_(env, result_));
    } catch (const Napi::Error& e) {
      deferred_.Reject(e.Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Work work_;
  Convert convert_;
  Result result_;
  std::unique_ptr<Error> error_;
};

template <class Result>
Napi::Value run(Napi::Env env, bool async, const char* name, std::function<void()> validate,
                std::function<Result()> work, std::function<Napi::Value(Napi::Env, Result&)> convert) {
  try {
    validate();  // option errors throw (sync) or reject before any work is queued (async)
    if (!async) {
      Result r = work();
      return convert(env, r);
    }
  } catch (const Error& e) {
    throw to_js_error(env, e);
  } catch (const std::bad_alloc&) {
    throw to_js_error(env, Error(Error::Kind::Runtime, "out of memory"));
  }
  auto* worker = new TaskWorker<Result>(env, name, std::move(work), std::move(convert));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

std::size_t batch(Napi::Env env, const pathwise::Network& net, const std::vector<float>& x, Napi::Value n_value) {
  const std::size_t n = size_of(env, n_value, "n");
  if (n == 0) throw_range(env, "the batch is empty");
  if (x.size() != n * net.input_size())
    throw_range(env, "input has " + std::to_string(x.size()) + " values, expected " + std::to_string(n) + " x " +
                         std::to_string(net.input_size()));
  return n;
}

// attribute(handle, x, n, { method, targets?, steps?, rule?, baseline?, chunkSize?, layer?,
//   maxMemoryBytes? }, async) -> { attribution, logits, targets, predicted, delta?, layer? }
Napi::Value Attribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = network_of(env, info[0]);
  auto x = std::make_shared<std::vector<float>>(f32_copy(env, info[1], "input"));
  const std::size_t n = batch(env, *net, *x, info[2]);
  if (!info[3].IsObject()) throw_type(env, "options must be an object");
  Napi::Object o = info[3].As<Napi::Object>();
  auto opt = std::make_shared<pathwise::AttributeOptions>();
  const std::string method = string_of(env, o.Get("method"), "method");
  using M = pathwise::BaselineMethod;
  if (method == "saliency") opt->method = M::Saliency;
  else if (method == "inputXGradient") opt->method = M::InputXGradient;
  else if (method == "integratedGradients") opt->method = M::IntegratedGradients;
  else if (method == "guidedBackprop") opt->method = M::GuidedBackprop;
  else if (method == "guidedGradCam") opt->method = M::GuidedGradCam;
  else throw_range(env, "unknown method " + method);
  opt->targets = optional_targets(env, o);
  opt->steps = optional_size(env, o, "steps", 50);
  Napi::Value rule = o.Get("rule");
  if (!rule.IsUndefined()) {
    const std::string r = string_of(env, rule, "rule");
    if (r == "gauss-legendre") opt->rule = pathwise::IgRule::GaussLegendre;
    else if (r == "trapezoid") opt->rule = pathwise::IgRule::Trapezoid;
    else throw_range(env, "rule must be 'gauss-legendre' or 'trapezoid'");
  }
  Napi::Value base = o.Get("baseline");
  if (!base.IsUndefined() && !base.IsNull()) opt->baseline = f32_copy(env, base, "baseline");
  opt->chunk = optional_size(env, o, "chunkSize", 0);
  Napi::Value layer = o.Get("layer");
  if (!layer.IsUndefined()) opt->layer = long(size_of(env, layer, "layer"));
  opt->max_memory_bytes = optional_size(env, o, "maxMemoryBytes", opt->max_memory_bytes);
  const bool async = info[4].ToBoolean();
  return run<pathwise::AttributeResult>(
      env, async, "pathwise.attribute", [=] { pathwise::validate_attribute_options(*net, n, *opt); },
      [=] { return pathwise::attribute(*net, x->data(), n, *opt); },
      [](Napi::Env e, pathwise::AttributeResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(e);
        out.Set("attribution", f32(e, r.attribution));
        out.Set("logits", f32(e, r.logits));
        out.Set("targets", i32(e, r.target));
        out.Set("predicted", i32(e, r.predicted));
        if (!r.delta.empty()) out.Set("delta", f64(e, r.delta));
        if (r.layer >= 0) out.Set("layer", double(r.layer));
        return out;
      });
}

// unwrap(handle, x, n, { chunkSize?, maxMemoryBytes? }, async) -> { weights, bias, logits, residual }
Napi::Value Unwrap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = network_of(env, info[0]);
  auto x = std::make_shared<std::vector<float>>(f32_copy(env, info[1], "input"));
  const std::size_t n = batch(env, *net, *x, info[2]);
  if (!info[3].IsObject()) throw_type(env, "options must be an object");
  Napi::Object o = info[3].As<Napi::Object>();
  const std::size_t chunk = optional_size(env, o, "chunkSize", 0);
  const std::size_t mem = optional_size(env, o, "maxMemoryBytes", std::size_t(1) << 30);
  return run<pathwise::UnwrapResult>(
      env, info[4].ToBoolean(), "pathwise.unwrap", [] {},
      [=] { return pathwise::unwrap(*net, x->data(), n, chunk, mem); },
      [](Napi::Env e, pathwise::UnwrapResult& r) -> Napi::Value {
        Napi::Object out = Napi::Object::New(e);
        out.Set("weights", f32(e, r.weights));
        out.Set("bias", f64(e, r.bias));
        out.Set("logits", f32(e, r.logits));
        out.Set("residual", f64(e, r.residual));
        return out;
      });
}

struct InsDelJob {
  std::vector<pathwise::InsDelResult> results;
  pathwise::InsDelStats stats;
};

// insertionDeletion(handle, x, attribution, n, { step?, order?, insertion?, deletion?, targets?,
//   chunkSize?, maxMemoryBytes?, reuse? }, async)
//   -> { classes, steps, insertion?, deletion? (n × (steps + 1)), insertionAuc?, deletionAuc?,
//        forwards, batches }
Napi::Value InsertionDeletion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = network_of(env, info[0]);
  auto x = std::make_shared<std::vector<float>>(f32_copy(env, info[1], "input"));
  auto attr = std::make_shared<std::vector<float>>(f32_copy(env, info[2], "attribution"));
  const std::size_t n = batch(env, *net, *x, info[3]);
  if (attr->size() != x->size())
    throw_range(env, "attribution has " + std::to_string(attr->size()) + " values, expected " + std::to_string(x->size()));
  if (!info[4].IsObject()) throw_type(env, "options must be an object");
  Napi::Object o = info[4].As<Napi::Object>();
  auto opt = std::make_shared<pathwise::InsDelOptions>();
  opt->step = optional_size(env, o, "step", 0);
  Napi::Value order = o.Get("order");
  if (!order.IsUndefined()) {
    const std::string s = string_of(env, order, "order");
    if (s == "stable") opt->order = pathwise::TieOrder::Stable;
    else if (s == "reference") opt->order = pathwise::TieOrder::Reference;
    else throw_range(env, "order must be 'stable' or 'reference'");
  }
  if (!o.Get("insertion").IsUndefined()) opt->insertion = o.Get("insertion").ToBoolean();
  if (!o.Get("deletion").IsUndefined()) opt->deletion = o.Get("deletion").ToBoolean();
  if (!o.Get("reuse").IsUndefined()) opt->reuse = o.Get("reuse").ToBoolean();
  opt->classes = optional_targets(env, o);
  opt->chunk = optional_size(env, o, "chunkSize", 0);
  opt->max_memory_bytes = optional_size(env, o, "maxMemoryBytes", opt->max_memory_bytes);
  const pathwise::Shape shape = net->input_shape();
  return run<InsDelJob>(
      env, info[5].ToBoolean(), "pathwise.insertionDeletion", [=] { pathwise::validate_insdel_options(*net, n, *opt); },
      [=] {
        InsDelJob job;
        job.results = pathwise::insertion_deletion(*net, x->data(), attr->data(), n, *opt, &job.stats);
        return job;
      },
      [=](Napi::Env e, InsDelJob& job) -> Napi::Value {
        const auto& rs = job.results;
        const std::size_t step = opt->step == 0 ? shape.w : opt->step;
        const std::size_t steps = (shape.h * shape.w + step - 1) / step;
        Napi::Object out = Napi::Object::New(e);
        std::vector<std::int32_t> classes;
        for (const auto& r : rs) classes.push_back(r.cls);
        out.Set("classes", i32(e, classes));
        out.Set("steps", double(steps));
        out.Set("step", double(step));
        for (int mode = 0; mode < 2; ++mode) {
          const bool ins = mode == 0;
          if (ins ? !opt->insertion : !opt->deletion) continue;
          std::vector<double> curves, aucs;
          for (const auto& r : rs) {
            const auto& c = ins ? r.insertion : r.deletion;
            curves.insert(curves.end(), c.begin(), c.end());
            aucs.push_back(ins ? r.insertion_auc : r.deletion_auc);
          }
          out.Set(ins ? "insertion" : "deletion", f64(e, curves));
          out.Set(ins ? "insertionAuc" : "deletionAuc", f64(e, aucs));
        }
        out.Set("forwards", double(job.stats.forwards));
        out.Set("batches", double(job.stats.batches));
        return out;
      });
}

// networkLayers(handle) -> [{ index, kind, name, shape: [c, h, w] }] in engine order.
Napi::Value NetworkLayers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = network_of(env, info[0]);
  const auto& layers = net->layers();
  Napi::Array out = Napi::Array::New(env, layers.size());
  static const char* kinds[] = {"dense", "conv", "relu", "maxpool", "avgpool", "affine", "add"};
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", double(i));
    o.Set("kind", kinds[int(layers[i].kind)]);
    if (!layers[i].name.empty()) o.Set("name", layers[i].name);
    Napi::Array shape = Napi::Array::New(env, 3);
    shape.Set(0u, double(layers[i].out_shape.c));
    shape.Set(1u, double(layers[i].out_shape.h));
    shape.Set(2u, double(layers[i].out_shape.w));
    o.Set("shape", shape);
    out.Set(i, o);
  }
  return out;
}

// quadrature(rule, n) -> { alpha, weight } (Float64Array, ascending α): for tests and docs.
Napi::Value Quadrature(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string rule = string_of(env, info[0], "rule");
  const std::size_t n = size_of(env, info[1], "n");
  if (n < 1 || n > 100000) throw_range(env, "n must be in [1, 100000]");
  std::vector<double> a, w;
  pathwise::quadrature_01(rule == "trapezoid" ? pathwise::IgRule::Trapezoid : pathwise::IgRule::GaussLegendre, n, a, w);
  Napi::Object out = Napi::Object::New(env);
  out.Set("alpha", f64(env, a));
  out.Set("weight", f64(env, w));
  return out;
}

Napi::Value BlurTaps(const Napi::CallbackInfo& info) { return f64(info.Env(), pathwise::blur_taps()); }

// blurImage([c, h, w], x) -> Float32Array: the insertion substrate, for tests.
Napi::Value BlurImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() != 3) throw_type(env, "shape must be [c, h, w]");
  Napi::Array sa = info[0].As<Napi::Array>();
  const pathwise::Shape s{size_of(env, sa.Get(0u), "c"), size_of(env, sa.Get(1u), "h"), size_of(env, sa.Get(2u), "w")};
  const std::vector<float> x = f32_copy(env, info[1], "input");
  if (x.size() != s.size()) throw_range(env, "input does not match the shape");
  std::vector<float> out(x.size());
  pathwise::blur_image(s, x.data(), out.data());
  return f32(env, out);
}

}  // namespace

void register_baselines(Napi::Env env, Napi::Object exports) {
  exports.Set("attribute", Napi::Function::New(env, Attribute));
  exports.Set("unwrap", Napi::Function::New(env, Unwrap));
  exports.Set("insertionDeletion", Napi::Function::New(env, InsertionDeletion));
  exports.Set("networkLayers", Napi::Function::New(env, NetworkLayers));
  exports.Set("quadrature", Napi::Function::New(env, Quadrature));
  exports.Set("blurTaps", Napi::Function::New(env, BlurTaps));
  exports.Set("blurImage", Napi::Function::New(env, BlurImage));
}

}  // namespace pathwise_addon
