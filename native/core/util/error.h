// Errors the core reports. The addon maps them to JavaScript error classes:
//   Kind::Type    -> TypeError
//   Kind::Range   -> RangeError (bad shape, index or option value)
//   Kind::Model   -> Error with code PATHWISE_BAD_MODEL
//   Kind::Memory  -> Error with code PATHWISE_MEMORY_LIMIT (the work would exceed the memory bound)
//   Kind::Runtime -> Error with code PATHWISE_NATIVE
//   Kind::Cancelled -> an AbortError (the caller's ExplainOptions::cancel flag was set)
// The core never aborts on user input: every check that can fail on user data throws one of these.
#pragma once

#include <stdexcept>
#include <string>

namespace pathwise {

class Error : public std::runtime_error {
 public:
  enum class Kind { Type, Range, Model, Memory, Runtime, Cancelled };
  Error(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

[[noreturn]] inline void throw_range(const std::string& m) { throw Error(Error::Kind::Range, m); }
[[noreturn]] inline void throw_model(const std::string& m) { throw Error(Error::Kind::Model, m); }
[[noreturn]] inline void throw_type(const std::string& m) { throw Error(Error::Kind::Type, m); }

}  // namespace pathwise
