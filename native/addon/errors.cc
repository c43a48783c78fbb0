// The error mapping of the addon (errors.h): core error kinds to JS error classes and codes, and
// the one catch ladder every call goes through.
#include "errors.h"

#include <exception>
#include <new>

namespace pathwise_addon {

using pathwise::Error;

Napi::Error coded_error(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

Napi::Error to_js_error(Napi::Env env, const Error& e) {
  switch (e.kind()) {
    case Error::Kind::Type: return Napi::TypeError::New(env, e.what());
    case Error::Kind::Range: return Napi::RangeError::New(env, e.what());
    case Error::Kind::Model: return coded_error(env, e.what(), "PATHWISE_BAD_MODEL");
    case Error::Kind::Memory: return coded_error(env, e.what(), "PATHWISE_MEMORY_LIMIT");
    case Error::Kind::Cancelled: {
      // Shaped like Node's own AbortError (lib/ rethrows its own, with the signal's reason).
      Napi::Error err = coded_error(env, e.what(), "ABORT_ERR");
      err.Set("name", Napi::String::New(env, "AbortError"));
      return err;
    }
    case Error::Kind::Runtime: break;
  }
  return coded_error(env, e.what(), "PATHWISE_NATIVE");
}

Error current_core_error(const char* out_of_memory) {
  try {
    throw;
  } catch (const Error& e) {
    return e;
  } catch (const std::bad_alloc&) {
    return Error(Error::Kind::Runtime, out_of_memory);
  } catch (const std::exception& e) {  // e.g. std::length_error: never let it unwind into node
    return Error(Error::Kind::Runtime, e.what());
  } catch (...) {
    return Error(Error::Kind::Runtime, "unknown native exception");
  }
}

}  // namespace pathwise_addon
