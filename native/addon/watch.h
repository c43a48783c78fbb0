// Watching and stopping an async explain: JobControl, the handle lib/ holds to cancel one call
// (an AbortSignal listener calls cancel()), and the progress sink that carries the core's
// (done, total) steps to a JavaScript callback through a thread-safe function.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>

namespace pathwise_addon {

// The flag a job's core work polls. The JobControl object and the job each hold a reference, so
// cancelling a finished job, or a job whose JobControl was collected, touches live memory.
using CancelFlag = std::shared_ptr<std::atomic<bool>>;

// The flag of a JobControl object (TypeError for anything else).
CancelFlag cancel_flag_of(Napi::Env env, Napi::Value control);

// A core progress callback that calls `fn(done, total)` on the JS thread. The thread-safe function
// is released when the last copy of the returned std::function is destroyed (with the job, on
// every path: results, errors, and a worker thread's teardown).
std::function<void(std::size_t, std::size_t)> progress_sink(Napi::Env env, Napi::Function fn);

// Adds JobControl to the module's exports.
void register_watch(Napi::Env env, Napi::Object exports);

}  // namespace pathwise_addon
