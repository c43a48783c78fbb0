// The baseline attributions, unwrapping and the insertion/deletion metric (attribute, unwrap,
// insertionDeletion: sync or async through worker.h, by their last argument), and the small
// helpers lib/ and the tests read (networkLayers, quadrature, blurTaps, blurImage).
#include <string>
#include <utility>
#include <vector>

#include "../core/baselines/baselines.h"
#include "../core/metrics/insdel.h"
#include "convert.h"
#include "errors.h"
#include "exports.h"
#include "layers.h"
#include "network.h"
#include "options.h"
#include "worker.h"

namespace pathwise_addon {

namespace {

struct AttributeJob {
  static constexpr const char* kName = "pathwise.attribute";
  static constexpr const char* kOutOfMemory = "out of memory";
  using Result = pathwise::AttributeResult;

  Batch batch;
  pathwise::AttributeOptions options;

  void validate() const { pathwise::validate_attribute_options(*batch.net, batch.n, options); }
  Result run() const { return pathwise::attribute(*batch.net, batch.input.data(), batch.n, options); }
  static Napi::Value convert(Napi::Env env, Result& r) { return attribute_result_to_js(env, r); }
};

struct UnwrapJob {
  static constexpr const char* kName = "pathwise.unwrap";
  static constexpr const char* kOutOfMemory = "out of memory";
  using Result = pathwise::UnwrapResult;

  Batch batch;
  UnwrapOptions options;

  void validate() const {}  // unwrap has no options to check against the network
  Result run() const {
    return pathwise::unwrap(*batch.net, batch.input.data(), batch.n, options.chunk, options.max_memory_bytes);
  }
  static Napi::Value convert(Napi::Env env, Result& r) { return unwrap_result_to_js(env, r); }
};

struct InsDelJob {
  static constexpr const char* kName = "pathwise.insertionDeletion";
  static constexpr const char* kOutOfMemory = "out of memory";
  struct Result {
    std::vector<pathwise::InsDelResult> results;
    pathwise::InsDelStats stats;
    pathwise::InsDelOptions options;  // for convert(): which curves were asked for
    std::size_t step = 0, steps = 0;
  };

  Batch batch;
  std::vector<float> attribution;  // n × inputSize
  pathwise::InsDelOptions options;

  void validate() const { pathwise::validate_insdel_options(*batch.net, batch.n, options); }
  Result run() const {
    Result r;
    r.results = pathwise::insertion_deletion(*batch.net, batch.input.data(), attribution.data(), batch.n, options, &r.stats);
    const pathwise::Shape shape = batch.net->input_shape();
    r.options = options;
    r.step = options.step == 0 ? shape.w : options.step;
    r.steps = (shape.h * shape.w + r.step - 1) / r.step;
    return r;
  }
  static Napi::Value convert(Napi::Env env, Result& r) {
    return insdel_results_to_js(env, r.results, r.stats, r.options, r.step, r.steps);
  }
};

// attribute(handle, x, n, options, async) -> { attribution, logits, targets, predicted, delta?,
//   layer? } (options.h lists the options)
Napi::Value Attribute(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  AttributeJob job{batch_of(env, network_of(env, info[0]), copy_f32(env, info[1], "input"), info[2]),
                   parse_attribute_options(env, info[3])};
  return run_job(env, std::move(job), info[4].ToBoolean());
}

// unwrap(handle, x, n, { chunkSize?, maxMemoryBytes? }, async) -> { weights, bias, logits, residual }
Napi::Value Unwrap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  UnwrapJob job{batch_of(env, network_of(env, info[0]), copy_f32(env, info[1], "input"), info[2]),
                parse_unwrap_options(env, info[3])};
  return run_job(env, std::move(job), info[4].ToBoolean());
}

// insertionDeletion(handle, x, attribution, n, options, async)
//   -> { classes, steps, step, insertion?, deletion? (n × (steps + 1)), insertionAuc?,
//        deletionAuc?, forwards, batches }
Napi::Value InsertionDeletion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = network_of(env, info[0]);
  std::vector<float> input = copy_f32(env, info[1], "input");
  std::vector<float> attribution = copy_f32(env, info[2], "attribution");
  InsDelJob job{batch_of(env, std::move(net), std::move(input), info[3]), std::move(attribution), {}};
  PATHWISE_THROW_RANGE_ERROR_IF(job.attribution.size() != job.batch.input.size(), env,
                                "attribution has " + std::to_string(job.attribution.size()) + " values, expected " +
                                    std::to_string(job.batch.input.size()));
  job.options = parse_insdel_options(env, info[4]);
  return run_job(env, std::move(job), info[5].ToBoolean());
}

Napi::Array shape_to_js(Napi::Env env, const pathwise::Shape& s) {
  Napi::Array shape = Napi::Array::New(env, 3);
  shape.Set(0u, double(s.c));
  shape.Set(1u, double(s.h));
  shape.Set(2u, double(s.w));
  return shape;
}

// networkLayers(handle) -> [{ index, kind, name, shape: [c, h, w] }] in engine order.
Napi::Value NetworkLayers(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto net = network_of(env, info[0]);
  const auto& layers = net->layers();
  Napi::Array out = Napi::Array::New(env, layers.size());
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("index", double(i));
    o.Set("kind", layer_kind_name(layers[i].kind));
    if (!layers[i].name.empty()) o.Set("name", layers[i].name);
    o.Set("shape", shape_to_js(env, layers[i].out_shape));
    out.Set(i, o);
  }
  return out;
}

// quadrature(rule, n) -> { alpha, weight } (Float64Array, ascending α): for tests and docs.
Napi::Value Quadrature(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string rule = expect_string(env, info[0], "rule");
  const std::size_t n = expect_size(env, info[1], "n");
  const auto named = pathwise::ig_rule_named(rule);
  PATHWISE_THROW_RANGE_ERROR_IF(!named, env, std::string("rule must be ") + pathwise::kIgRuleNames);
  const std::size_t least = pathwise::ig_rule_min_steps(*named);
  PATHWISE_THROW_RANGE_ERROR_IF(n < least || n > 100000, env, "n must be in [" + std::to_string(least) + ", 100000] for rule " + rule);
  std::vector<double> a, w;
  pathwise::quadrature_01(*named, n, a, w);
  Napi::Object out = Napi::Object::New(env);
  out.Set("alpha", to_f64(env, a));
  out.Set("weight", to_f64(env, w));
  return out;
}

Napi::Value BlurTaps(const Napi::CallbackInfo& info) { return to_f64(info.Env(), pathwise::blur_taps()); }

// blurImage([c, h, w], x) -> Float32Array: the insertion substrate, for tests.
Napi::Value BlurImage(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PATHWISE_THROW_TYPE_ERROR_IF(!info[0].IsArray() || info[0].As<Napi::Array>().Length() != 3, env, "shape must be [c, h, w]");
  Napi::Array sa = info[0].As<Napi::Array>();
  const pathwise::Shape s{expect_size(env, sa.Get(0u), "c"), expect_size(env, sa.Get(1u), "h"), expect_size(env, sa.Get(2u), "w")};
  const std::vector<float> x = copy_f32(env, info[1], "input");
  PATHWISE_THROW_RANGE_ERROR_IF(x.size() != s.size(), env, "input does not match the shape");
  std::vector<float> out(x.size());
  pathwise::blur_image(s, x.data(), out.data());
  return to_f32(env, out);
}

}  // namespace

void register_baselines(Napi::Env env, Napi::Object exports) {
  export_functions(env, exports, {{"attribute", Attribute},
                                  {"unwrap", Unwrap},
                                  {"insertionDeletion", InsertionDeletion},
                                  {"networkLayers", NetworkLayers},
                                  {"quadrature", Quadrature},
                                  {"blurTaps", BlurTaps},
                                  {"blurImage", BlurImage}});
}

}  // namespace pathwise_addon
