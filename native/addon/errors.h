// Errors at the N-API boundary: one-line argument guards that throw TypeError / RangeError, the
// mapping from a core pathwise::Error to TypeError / RangeError / Error-with-code, and `guarded`,
// which runs core work on the JS thread and turns whatever it throws into that JS error.
#pragma once

#include <napi.h>

#include <string>

#include "../core/util/error.h"

// The addon throws C++ exceptions through node-addon-api, and a worker's teardown must not turn an
// error it cannot throw into JavaScript into a C++ exception (that would abort the process). Both
// are compiled into node-addon-api, so every file must see them: binding.gyp and CMakeLists.txt
// define them for the whole target, never a source file.
#if !defined(NAPI_CPP_EXCEPTIONS) || !defined(NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS)
#error "build the addon with NAPI_CPP_EXCEPTIONS and NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS (binding.gyp, CMakeLists.txt)"
#endif

// Argument guards. Macros so the message is only built when the check fails.
#define PATHWISE_THROW_TYPE_ERROR_IF(cond, env, message) \
  do {                                                   \
    if (cond) throw Napi::TypeError::New((env), (message)); \
  } while (false)
#define PATHWISE_THROW_RANGE_ERROR_IF(cond, env, message) \
  do {                                                    \
    if (cond) throw Napi::RangeError::New((env), (message)); \
  } while (false)

namespace pathwise_addon {

// An Error with a stable `code` (PATHWISE_*; codes are public API).
Napi::Error coded_error(Napi::Env env, const std::string& message, const char* code);

// TypeError / RangeError / Error with code PATHWISE_BAD_MODEL, PATHWISE_MEMORY_LIMIT or
// PATHWISE_NATIVE.
Napi::Error to_js_error(Napi::Env env, const pathwise::Error& e);

// The core error for the exception being handled; call only inside a catch block. The whole catch
// ladder of the addon: a pathwise::Error as it is, std::bad_alloc as `out_of_memory` (a
// PATHWISE_NATIVE message), any other exception as PATHWISE_NATIVE with its what().
pathwise::Error current_core_error(const char* out_of_memory);

// Runs `work` on the JS thread: JS errors it throws pass through, anything else becomes the JS
// error for current_core_error(out_of_memory). Nothing unwinds into Node as a foreign exception.
template <class Work>
auto guarded(Napi::Env env, const char* out_of_memory, Work&& work) -> decltype(work()) {
  try {
    return work();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw to_js_error(env, current_core_error(out_of_memory));
  }
}

}  // namespace pathwise_addon
