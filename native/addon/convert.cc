// Argument reading and result building for the addon (convert.h).
#include "convert.h"

#include <algorithm>
#include <cmath>

#include "errors.h"

namespace pathwise_addon {

namespace {

bool is_typed(Napi::Value v, napi_typedarray_type type) {
  return v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == type;
}

template <class Array, class T>
Array typed_from(Napi::Env env, const std::vector<T>& v) {
  Array out = Array::New(env, v.size());
  std::copy(v.begin(), v.end(), out.Data());
  return out;
}

}  // namespace

Napi::Float32Array expect_f32(Napi::Env env, Napi::Value v, const char* what) {
  PATHWISE_THROW_TYPE_ERROR_IF(!is_typed(v, napi_float32_array), env, std::string(what) + " must be a Float32Array");
  return v.As<Napi::Float32Array>();
}

std::vector<float> copy_f32(Napi::Env env, Napi::Value v, const char* what) {
  Napi::Float32Array a = expect_f32(env, v, what);
  return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
}

std::vector<std::int32_t> copy_optional_i32(Napi::Env env, Napi::Value v, const char* what) {
  if (v.IsUndefined() || v.IsNull()) return {};
  PATHWISE_THROW_TYPE_ERROR_IF(!is_typed(v, napi_int32_array), env, std::string(what) + " must be an Int32Array");
  Napi::Int32Array a = v.As<Napi::Int32Array>();
  return std::vector<std::int32_t>(a.Data(), a.Data() + a.ElementLength());
}

std::size_t expect_size(Napi::Env env, Napi::Value v, const char* what) {
  PATHWISE_THROW_TYPE_ERROR_IF(!v.IsNumber(), env, std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  PATHWISE_THROW_RANGE_ERROR_IF(!(d >= 0 && d <= 9007199254740991.0) || d != std::floor(d), env,
                                std::string(what) + " must be a non-negative integer");
  return std::size_t(d);
}

std::size_t size_or(Napi::Env env, Napi::Value v, const char* what, std::size_t fallback) {
  return v.IsUndefined() ? fallback : expect_size(env, v, what);
}

std::vector<std::size_t> expect_sizes(Napi::Env env, Napi::Value v, const std::string& what, std::size_t len) {
  PATHWISE_THROW_TYPE_ERROR_IF(!v.IsArray(), env, what + " must be an array of " + std::to_string(len) + " integers");
  Napi::Array a = v.As<Napi::Array>();
  PATHWISE_THROW_RANGE_ERROR_IF(a.Length() != len, env, what + " must have " + std::to_string(len) + " entries");
  std::vector<std::size_t> out;
  for (std::uint32_t i = 0; i < len; ++i) out.push_back(expect_size(env, a.Get(i), what.c_str()));
  return out;
}

pathwise::Shape expect_shape(Napi::Env env, Napi::Value v, const std::string& what) {
  const auto s = expect_sizes(env, v, what, 3);
  return {s[0], s[1], s[2]};
}

std::string expect_string(Napi::Env env, Napi::Value v, const char* what) {
  PATHWISE_THROW_TYPE_ERROR_IF(!v.IsString(), env, std::string(what) + " must be a string");
  return v.As<Napi::String>();
}

Napi::Object expect_object(Napi::Env env, Napi::Value v, const char* what) {
  PATHWISE_THROW_TYPE_ERROR_IF(!v.IsObject(), env, std::string(what) + " must be an object");
  return v.As<Napi::Object>();
}

std::string string_or_empty(Napi::Value v) { return v.IsString() ? std::string(v.As<Napi::String>()) : ""; }

std::size_t batch_size(Napi::Env env, const pathwise::Network& net, std::size_t values, Napi::Value n_value) {
  const std::size_t n = expect_size(env, n_value, "n");
  PATHWISE_THROW_RANGE_ERROR_IF(n == 0, env, "the batch is empty");
  // Compared by division: n × inputSize can wrap around for an absurd n.
  const std::size_t d = net.input_size();
  PATHWISE_THROW_RANGE_ERROR_IF(values % d != 0 || values / d != n, env,
                                "input has " + std::to_string(values) + " values, expected " + std::to_string(n) +
                                    " x " + std::to_string(d));
  return n;
}

Batch batch_of(Napi::Env env, std::shared_ptr<const pathwise::Network> net, std::vector<float> input, Napi::Value n_value) {
  const std::size_t n = batch_size(env, *net, input.size(), n_value);
  return {std::move(net), std::move(input), n};
}

Napi::Float32Array to_f32(Napi::Env env, const std::vector<float>& v) { return typed_from<Napi::Float32Array>(env, v); }
Napi::Float64Array to_f64(Napi::Env env, const std::vector<double>& v) { return typed_from<Napi::Float64Array>(env, v); }
Napi::Int32Array to_i32(Napi::Env env, const std::vector<std::int32_t>& v) { return typed_from<Napi::Int32Array>(env, v); }

namespace {

Napi::Object paths_to_js(Napi::Env env, const pathwise::OneWayPaths& paths) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("coverage", paths.coverage);
  o.Set("biasAbove", paths.bias_above);
  o.Set("exact", paths.exact);
  Napi::Array items = Napi::Array::New(env, paths.paths.size());
  for (std::size_t q = 0; q < paths.paths.size(); ++q) {
    const auto& p = paths.paths[q];
    Napi::Object io = Napi::Object::New(env);
    io.Set("units", to_i32(env, p.units));
    io.Set("contribution", p.contribution);
    io.Set("weights", to_f32(env, p.weights));
    io.Set("bias", p.bias);
    items.Set(q, io);
  }
  o.Set("items", items);
  return o;
}

Napi::Object decomposition_to_js(Napi::Env env, const pathwise::Decomposition& d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ordinal", double(d.ordinal));
  o.Set("biasAbove", d.bias_above);
  Napi::Array comps = Napi::Array::New(env, d.components.size());
  for (std::size_t c = 0; c < d.components.size(); ++c) {
    const auto& comp = d.components[c];
    Napi::Object co = Napi::Object::New(env);
    co.Set("units", to_i32(env, comp.units));
    co.Set("weights", to_f32(env, comp.weights));
    co.Set("attribution", to_f32(env, comp.attribution));
    co.Set("bias", comp.bias);
    co.Set("contribution", comp.contribution);
    co.Set("rest", comp.rest);
    comps.Set(c, co);
  }
  o.Set("components", comps);
  return o;
}

}  // namespace

Napi::Array explain_results_to_js(Napi::Env env, const std::vector<pathwise::ExplainResult>& results) {
  // Three typed arrays for the whole batch and lib/explain/explain.ts cuts them into the result
  // objects, instead of a JS object per result and per layer built here: each named property set
  // through N-API makes its key string and walks V8's lookup, and each typed array is two N-API
  // calls. On the Fashion MLP (batch 1) building the objects here was 14 % of an explanation (perf).
  std::size_t f32 = 0, i32 = 0, f64 = 0;
  for (const auto& r : results) {
    f32 += 2 * r.logits.size() + 2 * r.weights.size() + r.region_attribution.size();
    f64 += kExplainHeader + kExplainLayerFields * r.layers.size();
    for (const auto& l : r.layers) {
      f32 += l.selection.scores.size();
      i32 += l.selection.units.size();
    }
  }
  Napi::Float32Array floats = Napi::Float32Array::New(env, f32);
  Napi::Int32Array ints = Napi::Int32Array::New(env, i32);
  Napi::Float64Array numbers = Napi::Float64Array::New(env, f64);
  float* fp = floats.Data();
  std::int32_t* ip = ints.Data();
  double* np = numbers.Data();
  const auto put = [&fp](const std::vector<float>& v) { fp = std::copy(v.begin(), v.end(), fp); };
  bool extras = false;
  for (const auto& r : results) {
    extras = extras || r.has_paths || r.has_decomposition;
    *np++ = r.target;
    *np++ = r.predicted;
    *np++ = double(r.logits.size());
    *np++ = double(r.weights.size());
    *np++ = r.bias;
    *np++ = r.residual;
    *np++ = double(r.recomputes);
    *np++ = double(r.class_chunk);
    *np++ = r.has_region ? 1.0 : 0.0;
    *np++ = r.region_share;
    *np++ = double(r.layers.size());
    put(r.logits);
    put(r.path_logits);
    put(r.weights);
    put(r.attribution);
    if (r.has_region) put(r.region_attribution);
    for (const auto& l : r.layers) {
      const auto& s = l.selection;
      *np++ = double(l.ordinal);
      *np++ = s.fallback ? 1.0 : 0.0;
      *np++ = double(s.k);
      *np++ = double(s.borderline);
      *np++ = double(s.units.size());
      ip = std::copy(s.units.begin(), s.units.end(), ip);
      put(s.scores);
    }
  }
  Napi::Array out = Napi::Array::New(env, extras ? 4 : 3);
  out.Set(0u, numbers);
  out.Set(1u, floats);
  out.Set(2u, ints);
  if (extras) {
    // One-way paths and decompositions (opt-in, each already seconds of work) keep their objects.
    Napi::Array per = Napi::Array::New(env, results.size());
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      Napi::Object o = Napi::Object::New(env);
      if (r.has_paths) o.Set("paths", paths_to_js(env, r.paths));
      if (r.has_decomposition) o.Set("decomposition", decomposition_to_js(env, r.decomposition));
      per.Set(std::uint32_t(i), o);
    }
    out.Set(3u, per);
  }
  return out;
}

Napi::Object attribute_result_to_js(Napi::Env env, const pathwise::AttributeResult& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("attribution", to_f32(env, r.attribution));
  out.Set("logits", to_f32(env, r.logits));
  out.Set("targets", to_i32(env, r.target));
  out.Set("predicted", to_i32(env, r.predicted));
  if (!r.delta.empty()) out.Set("delta", to_f64(env, r.delta));
  if (r.layer >= 0) out.Set("layer", double(r.layer));
  return out;
}

Napi::Object unwrap_result_to_js(Napi::Env env, const pathwise::UnwrapResult& r) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("weights", to_f32(env, r.weights));
  out.Set("bias", to_f64(env, r.bias));
  out.Set("logits", to_f32(env, r.logits));
  out.Set("residual", to_f64(env, r.residual));
  return out;
}

Napi::Object insdel_results_to_js(Napi::Env env, const std::vector<pathwise::InsDelResult>& results,
                                  const pathwise::InsDelStats& stats, const pathwise::InsDelOptions& options,
                                  std::size_t step, std::size_t steps) {
  Napi::Object out = Napi::Object::New(env);
  std::vector<std::int32_t> classes;
  for (const auto& r : results) classes.push_back(r.cls);
  out.Set("classes", to_i32(env, classes));
  out.Set("steps", double(steps));
  out.Set("step", double(step));
  for (const bool insertion : {true, false}) {
    if (insertion ? !options.insertion : !options.deletion) continue;
    std::vector<double> curves, aucs;
    for (const auto& r : results) {
      const auto& c = insertion ? r.insertion : r.deletion;
      curves.insert(curves.end(), c.begin(), c.end());
      aucs.push_back(insertion ? r.insertion_auc : r.deletion_auc);
    }
    out.Set(insertion ? "insertion" : "deletion", to_f64(env, curves));
    out.Set(insertion ? "insertionAuc" : "deletionAuc", to_f64(env, aucs));
  }
  out.Set("forwards", double(stats.forwards));
  out.Set("batches", double(stats.batches));
  return out;
}

}  // namespace pathwise_addon
