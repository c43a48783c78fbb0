// What addon.cc shares with the other N-API files: the network behind a NativeNetwork handle, the
// core-error mapping, and the registration hooks those files provide.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/ir/network.h"
#include "../core/util/error.h"

namespace pathwise_addon {

// TypeError / RangeError / Error with code PATHWISE_* (the table in addon.cc).
Napi::Error to_js_error(Napi::Env env, const pathwise::Error& e);

// The network of a NativeNetwork handle; throws PATHWISE_DISPOSED after dispose().
std::shared_ptr<const pathwise::Network> network_of(Napi::Env env, Napi::Value handle);

// native/addon/baselines.cc: attribute, unwrap, insertionDeletion, networkLayers, quadrature,
// blurTaps.
void register_baselines(Napi::Env env, Napi::Object exports);

}  // namespace pathwise_addon
