// NativeNetwork, the handle lib/model.ts holds: builds a core Network from layer descriptions,
// and runs forward and explain (sync, or async through worker.h) on it.
#include "network.h"

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
    return {batch_of(env, std::move(net), copy_f32(env, info[0], "input"), info[1]), std::move(options)};
  }

  Napi::Value ExplainSync(const Napi::CallbackInfo& info) { return run_job(info.Env(), explain_job(info), false); }
  Napi::Value ExplainAsync(const Napi::CallbackInfo& info) { return run_job(info.Env(), explain_job(info), true); }

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

void register_network(Napi::Env env, Napi::Object exports) { exports.Set("NativeNetwork", NativeNetwork::Init(env)); }

}  // namespace pathwise_addon
