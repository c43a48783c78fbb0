// Values across the N-API boundary: reading arguments (typed arrays, sizes, shapes, strings,
// named choices), checking their types and ranges, and building the JS results of the core's
// operations.
#pragma once

#include <napi.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/baselines/baselines.h"
#include "../core/ir/network.h"
#include "../core/metrics/insdel.h"
#include "../core/path/explain.h"
#include "errors.h"

namespace pathwise_addon {

// --- Arguments (TypeError for a wrong type, RangeError for a bad value) -------------------------

// A Float32Array argument, read in place (its data is valid until JavaScript runs again).
Napi::Float32Array expect_f32(Napi::Env env, Napi::Value v, const char* what);
// A Float32Array argument, copied.
std::vector<float> copy_f32(Napi::Env env, Napi::Value v, const char* what);
// An optional Int32Array (undefined or null: empty), copied; `what` names it in the TypeError.
std::vector<std::int32_t> copy_optional_i32(Napi::Env env, Napi::Value v, const char* what);

// A non-negative integer up to 2^53 − 1.
std::size_t expect_size(Napi::Env env, Napi::Value v, const char* what);
// The same, or `fallback` when v is undefined.
std::size_t size_or(Napi::Env env, Napi::Value v, const char* what, std::size_t fallback);
// An array of `len` such integers.
std::vector<std::size_t> expect_sizes(Napi::Env env, Napi::Value v, const std::string& what, std::size_t len);
// [c, h, w].
pathwise::Shape expect_shape(Napi::Env env, Napi::Value v, const std::string& what);

std::string expect_string(Napi::Env env, Napi::Value v, const char* what);
// An object argument ("<what> must be an object").
Napi::Object expect_object(Napi::Env env, Napi::Value v, const char* what);
// The string, or "" for a value that is not a string.
std::string string_or_empty(Napi::Value v);

// The value named `name` among `choices`, or nothing (the caller says which error that is).
template <class T>
std::optional<T> choice(const std::string& name, std::initializer_list<std::pair<const char*, T>> choices) {
  for (const auto& c : choices)
    if (name == c.first) return c.second;
  return std::nullopt;
}

// The value named by the string v among `choices`: TypeError "<what> must be a string" for a value
// that is not a string, RangeError `unknown` for a name that is not a choice.
template <class T>
T expect_choice(Napi::Env env, Napi::Value v, const char* what,
                std::initializer_list<std::pair<const char*, T>> choices, const char* unknown) {
  const auto c = choice<T>(expect_string(env, v, what), choices);
  PATHWISE_THROW_RANGE_ERROR_IF(!c, env, unknown);
  return *c;
}

// The batch size argument n of an input of `values` floats: n ≥ 1 and values = n × inputSize.
std::size_t batch_size(Napi::Env env, const pathwise::Network& net, std::size_t values, Napi::Value n_value);

// A network, an input batch of n examples (copied) and n: what every job on a network starts from.
struct Batch {
  std::shared_ptr<const pathwise::Network> net;
  std::vector<float> input;  // n × inputSize
  std::size_t n = 0;
};
// `input` checked against the n argument (batch_size).
Batch batch_of(Napi::Env env, std::shared_ptr<const pathwise::Network> net, std::vector<float> input, Napi::Value n_value);

// --- Results ------------------------------------------------------------------------------------

Napi::Float32Array to_f32(Napi::Env env, const std::vector<float>& v);
Napi::Float64Array to_f64(Napi::Env env, const std::vector<double>& v);
Napi::Int32Array to_i32(Napi::Env env, const std::vector<std::int32_t>& v);

// explain → [numbers: Float64Array, floats: Float32Array, ints: Int32Array, extras?], the results of
// the batch packed one after another (lib/explain/explain.ts unpackResults reads them back):
//   numbers, per result: target, predicted, C, d, bias, residual, recomputes, classChunk, hasRegion,
//     regionShare, layer count L (kExplainHeader values), then per layer (bottom → top): ordinal,
//     fallback (0/1), k, borderline, unit count U (kExplainLayerFields values);
//   floats, per result: logits (C), pathLogits (C), weights (d), attribution (d), regionAttribution
//     (d, with a region), then each layer's scores (U);
//   ints: each layer's units (U), results and layers in the same order;
//   extras (only when some result has paths or a decomposition): per result { paths?, decomposition? }.
constexpr std::size_t kExplainHeader = 11, kExplainLayerFields = 5;
Napi::Array explain_results_to_js(Napi::Env env, const std::vector<pathwise::ExplainResult>& results);

// attribute → { attribution, logits, targets, predicted, delta?, layer? }
Napi::Object attribute_result_to_js(Napi::Env env, const pathwise::AttributeResult& r);

// unwrap → { weights, bias, logits, residual }
Napi::Object unwrap_result_to_js(Napi::Env env, const pathwise::UnwrapResult& r);

// insertionDeletion → { classes, steps, step, insertion?, deletion? (n × (steps + 1)),
//   insertionAuc?, deletionAuc?, forwards, batches }; `step` is the resolved step (pixels per step).
Napi::Object insdel_results_to_js(Napi::Env env, const std::vector<pathwise::InsDelResult>& results,
                                  const pathwise::InsDelStats& stats, const pathwise::InsDelOptions& options,
                                  std::size_t step, std::size_t steps);

}  // namespace pathwise_addon
