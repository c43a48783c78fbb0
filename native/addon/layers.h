// The layer descriptions of `new NativeNetwork(inputShape, layers)` (lib/native.ts lists the
// fields), read into the core's LayerDesc; Network::build validates them again.
#pragma once

#include <napi.h>

#include <vector>

#include "../core/ir/network.h"

namespace pathwise_addon {

// layers: [{ kind, inputs?, inShape?, out?, weights?, bias?, groups?, kernel?, stride?, pads?,
//   dilation?, ceilMode?, countIncludePad?, outShape?, map?, fill?, name? }] (outShape, map: Int32Array
//   and fill for "gather", copied). The descriptions point into the layers'
// Float32Arrays: valid until JavaScript runs again (Network::build copies them).
std::vector<pathwise::LayerDesc> parse_layers(Napi::Env env, Napi::Value layers);

// "dense", "conv", … : the name lib/ uses for a layer kind.
const char* layer_kind_name(pathwise::LayerKind kind);

}  // namespace pathwise_addon
