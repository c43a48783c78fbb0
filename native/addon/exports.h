// What each part of the addon adds to the module's exports; module.cc calls them in turn.
#pragma once

#include <napi.h>

namespace pathwise_addon {

// network.cc: NativeNetwork (forward, explainSync, explain, dispose).
void register_network(Napi::Env env, Napi::Object exports);

// bench.cc: kernelInfo, setThreads, gemmWithKernel, gemmBench.
void register_runtime(Napi::Env env, Napi::Object exports);

// baselines.cc: attribute, unwrap, insertionDeletion, networkLayers, quadrature, blurTaps,
// blurImage.
void register_baselines(Napi::Env env, Napi::Object exports);

}  // namespace pathwise_addon
