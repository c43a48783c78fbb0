// NativeNetwork, the handle lib/model.ts holds: builds a core Network from layer descriptions,
// and runs forward and explain (sync, or async through worker.h) on it.
#include "network.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "../core/forward/forward.h"
#include "../core/path/explain.h"
#include "convert.h"
#include "errors.h"
#include "exports.h"
#include "layers.h"
#include "options.h"
#include "watch.h"
#include "worker.h"

namespace pathwise_addon {

namespace {

// explain / explainSync: everything the work needs, with no JS values (worker.h).
struct ExplainJob {
  static constexpr const char* kName = "pathwise.explain";
  static constexpr const char* kOutOfMemory = "out of memory while explaining";
  using Result = std::vector<pathwise::ExplainResult>;

  Batch batch;
  pathwise::ExplainOptions options;
  CancelFlag cancel;  // keeps options.cancel alive (async calls with a JobControl)

  void validate() const { pathwise::validate_options(*batch.net, batch.n, options); }
  Result run() const { return pathwise::explain(*batch.net, batch.input.data(), batch.n, options); }
  static Napi::Value convert(Napi::Env env, Result& results) { return explain_results_to_js(env, results); }
};

class NativeNetwork : public Napi::ObjectWrap<NativeNetwork> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "NativeNetwork",
                       {InstanceMethod("forward", &NativeNetwork::Forward),
                        InstanceMethod("explainSync", &NativeNetwork::ExplainSync),
                        InstanceMethod("explain", &NativeNetwork::ExplainAsync),
                        InstanceMethod("estimate", &NativeNetwork::Estimate),
                        InstanceMethod("dispose", &NativeNetwork::Dispose)});
  }

  // new NativeNetwork(inputShape: [c, h, w], layers: NativeLayer[]) — see lib/native.ts for the
  // layer fields. Everything is validated again by Network::build.
  explicit NativeNetwork(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeNetwork>(info) {
    Napi::Env env = info.Env();
    PATHWISE_THROW_TYPE_ERROR_IF(info.Length() < 2, env, "NativeNetwork(inputShape, layers)");
    const pathwise::Shape input_shape = expect_shape(env, info[0], "inputShape");
    const std::vector<pathwise::LayerDesc> descs = parse_layers(env, info[1]);
    net_ = guarded(env, "out of memory while loading the network", [&] {
      return std::make_shared<const pathwise::Network>(pathwise::Network::build(input_shape, descs));
    });
  }

  // The network, or PATHWISE_DISPOSED.
  std::shared_ptr<const pathwise::Network> network(Napi::Env env) const {
    if (!net_) throw coded_error(env, "the model has been disposed", "PATHWISE_DISPOSED");
    return net_;
  }

 private:
  // forward(input, n) -> Float32Array(n × classes)
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    Napi::Float32Array x = expect_f32(env, info[0], "input");
    const std::size_t n = batch_size(env, *net, x.ElementLength(), info[1]);
    return guarded(env, "out of memory in forward",
                   [&] { return to_f32(env, pathwise::forward_logits(*net, x.Data(), n)); });
  }

  // explain(input, n, options) / explainSync(…): the arguments of both, as a job.
  ExplainJob explain_job(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    // Options first: reading them can run JavaScript (getters) that detaches the input's buffer,
    // so the input is read afterwards.
    pathwise::ExplainOptions options = parse_explain_options(env, info[2]);
    return {batch_of(env, std::move(net), copy_f32(env, info[0], "input"), info[1]), std::move(options), nullptr};
  }

  Napi::Value ExplainSync(const Napi::CallbackInfo& info) { return run_job(info.Env(), explain_job(info), false); }

  // explain(input, n, options, control?: JobControl, onProgress?: (done, total) => void)
  Napi::Value ExplainAsync(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    ExplainJob job = explain_job(info);
    if (info.Length() > 3 && !info[3].IsUndefined()) {
      job.cancel = cancel_flag_of(env, info[3]);
      job.options.cancel = job.cancel.get();
    }
    if (info.Length() > 4 && !info[4].IsUndefined()) {
      PATHWISE_THROW_TYPE_ERROR_IF(!info[4].IsFunction(), env, "onProgress must be a function");
      job.options.progress = progress_sink(env, info[4].As<Napi::Function>());
    }
    return run_job(env, std::move(job), true);
  }

  // estimate(n, options) -> { bytesPerExample, fixedBytes, workingBytes, classChunk, chunkExamples,
  // fits, progressSteps, layerMacs, gatePositions, fullClassesFrom }: the memory the core would plan for n examples
  // (workingBytes: one chunk's), and the per-example multiply-accumulates of each layer's forward
  // pass, from which lib counts an explanation's FLOPs.
  Napi::Value Estimate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto net = network(env);
    PATHWISE_THROW_TYPE_ERROR_IF(!info[0].IsNumber(), env, "n must be a number");
    const double n_value = info[0].As<Napi::Number>().DoubleValue();
    PATHWISE_THROW_RANGE_ERROR_IF(!(n_value >= 1 && n_value <= 9007199254740991.0 && n_value == double(std::size_t(n_value))), env,
                                  "n must be a positive integer");
    const std::size_t n = std::size_t(n_value);
    pathwise::ExplainOptions options = parse_explain_options(env, info[1]);
    options.targets.clear();  // (targets and regions are per example; they change no cost)
    options.region.clear();
    return guarded(env, "out of memory while estimating", [&]() -> Napi::Value {
      bool fits = true;
      try {
        pathwise::validate_options(*net, n, options);
      } catch (const pathwise::Error& e) {
        if (e.kind() != pathwise::Error::Kind::Memory) throw;
        fits = false;
      }
      const std::size_t class_chunk = fits ? pathwise::class_chunk_for(*net, options) : 1;
      const std::size_t per_example = pathwise::explain_bytes_per_example(*net, options, class_chunk);
      const std::size_t fixed = pathwise::explain_fixed_bytes(*net);
      const std::size_t chunk = fits ? std::min(n, pathwise::explain_chunk_examples(*net, options, per_example)) : 1;
      const std::size_t relus = net->relu_positions().size();
      const std::size_t depth = options.depth == 0 || options.depth > relus ? relus : options.depth;
      Napi::Object out = Napi::Object::New(env);
      out.Set("bytesPerExample", double(per_example));
      out.Set("fixedBytes", double(fixed));
      out.Set("workingBytes", double(per_example) * double(chunk) + double(fixed));
      out.Set("classChunk", double(class_chunk));
      out.Set("chunkExamples", double(chunk));
      out.Set("fits", fits);
      out.Set("progressSteps", double(fits ? pathwise::explain_progress_total(*net, n, options) : n * (depth + 1)));
      const auto& layers = net->layers();
      Napi::Array macs = Napi::Array::New(env, layers.size());
      for (std::size_t i = 0; i < layers.size(); ++i) {
        const pathwise::Layer& l = layers[i];
        // Dense: out × in; conv: (Cout × Cin/groups × kh × kw) per output position.
        double m = 0;
        if (l.kind == pathwise::LayerKind::Dense) m = double(l.weights.size());
        if (l.kind == pathwise::LayerKind::Conv) m = double(l.weights.size()) * double(l.out_shape.h) * double(l.out_shape.w);
        macs.Set(std::uint32_t(i), m);
      }
      out.Set("layerMacs", macs);
      Napi::Array gates = Napi::Array::New(env, relus);
      for (std::size_t o = 0; o < relus; ++o) gates.Set(std::uint32_t(o), double(net->relu_positions()[o]));
      out.Set("gatePositions", gates);
      out.Set("fullClassesFrom", double(fits ? pathwise::full_class_ordinal(*net, options) : relus - depth));
      return out;
    });
  }

  // In-flight jobs hold their own reference to the network, so they finish safely.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    net_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<const pathwise::Network> net_;
};

}  // namespace

// Only NativeNetwork objects are wrapped in this addon, and lib/ passes Model.handle().
std::shared_ptr<const pathwise::Network> network_of(Napi::Env env, Napi::Value handle) {
  PATHWISE_THROW_TYPE_ERROR_IF(!handle.IsObject(), env, "expected a NativeNetwork handle");
  return NativeNetwork::Unwrap(handle.As<Napi::Object>())->network(env);
}

void register_network(Napi::Env env, Napi::Object exports) {
  exports.Set("NativeNetwork", NativeNetwork::Init(env));
  register_watch(env, exports);
}

}  // namespace pathwise_addon
