// The network behind a NativeNetwork handle, for the entry points that take one as an argument.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/ir/network.h"

namespace pathwise_addon {

// The network of a NativeNetwork handle: TypeError for anything else, PATHWISE_DISPOSED after
// dispose().
std::shared_ptr<const pathwise::Network> network_of(Napi::Env env, Napi::Value handle);

}  // namespace pathwise_addon
