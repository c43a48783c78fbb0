// The addon's entry point: builds the exports of `pathwise.node` from the parts in exports.h.
#include <napi.h>

#include "exports.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  pathwise_addon::register_network(env, exports);
  pathwise_addon::register_runtime(env, exports);
  pathwise_addon::register_baselines(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pathwise, Init)
