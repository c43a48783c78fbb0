// The option objects of the addon's operations, read into the core's option structs. They arrive
// already validated and normalised by lib/ (which knows the public option names) and are checked
// again here, because the addon must never trust its caller; the core checks them against the
// network (validate_… functions).
#pragma once

#include <napi.h>

#include <cstddef>

#include "../core/baselines/baselines.h"
#include "../core/metrics/insdel.h"
#include "../core/path/explain.h"

namespace pathwise_addon {

// { widthMode, widthValue?, depth, semantics?, paths?: { k, rank?, maxEdges?, beam? }, region?,
//   decompose?: { by, top?, layer? }, threshold?, targets?, maxMemoryBytes? }
pathwise::ExplainOptions parse_explain_options(Napi::Env env, Napi::Value v);

// { method, targets?, steps?, rule?, baseline?, chunkSize?, layer?, maxMemoryBytes? }
pathwise::AttributeOptions parse_attribute_options(Napi::Env env, Napi::Value v);

struct UnwrapOptions {
  std::size_t chunk = 0;  // inputs per engine batch; 0 = as many as fit in memory
  std::size_t max_memory_bytes = std::size_t(1) << 30;
};
// { chunkSize?, maxMemoryBytes? }
UnwrapOptions parse_unwrap_options(Napi::Env env, Napi::Value v);

// { step?, order?, insertion?, deletion?, targets?, chunkSize?, maxMemoryBytes?, reuse? }
pathwise::InsDelOptions parse_insdel_options(Napi::Env env, Napi::Value v);

}  // namespace pathwise_addon
