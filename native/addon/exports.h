// What each part of the addon adds to the module's exports; module.cc calls them in turn.
#pragma once

#include <napi.h>

#include <initializer_list>
#include <utility>

namespace pathwise_addon {

using Entry = Napi::Value (*)(const Napi::CallbackInfo&);

// Sets each named function on `exports`.
inline void export_functions(Napi::Env env, Napi::Object exports,
                             std::initializer_list<std::pair<const char*, Entry>> functions) {
  for (const auto& [name, fn] : functions) exports.Set(name, Napi::Function::New(env, fn));
}

// network.cc: NativeNetwork (forward, explainSync, explain, estimate, dispose); watch.cc: JobControl.
void register_network(Napi::Env env, Napi::Object exports);

// bench.cc: kernelInfo, setThreads, gemmWithKernel, gemmBench.
void register_runtime(Napi::Env env, Napi::Object exports);

// baselines.cc: attribute, unwrap, insertionDeletion, networkLayers, quadrature, blurTaps,
// blurImage.
void register_baselines(Napi::Env env, Napi::Object exports);

}  // namespace pathwise_addon
