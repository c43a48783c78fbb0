// The one way the addon runs an operation, synchronously or on the libuv pool. An operation is a
// job: a plain struct (the "baton") filled on the JS thread from the call's arguments, holding no
// JS values, with
//   static constexpr const char* kName;         // async resource name, e.g. "pathwise.explain"
//   static constexpr const char* kOutOfMemory;  // the message for std::bad_alloc
//   using Result = …;
//   void validate() const;                      // option checks against the network (core)
//   Result run() const;                         // the core work: touches no JS value
//   static Napi::Value convert(Napi::Env, Result&);  // on the JS thread
// run_job(env, job, async) validates (errors throw, or reject before any work is queued), then
// runs and converts now, or queues a JobWorker and returns its promise. The sync and async forms
// of an entry point therefore share their parsing, work and conversion.
//
// Jobs own copies of their input arrays rather than references to the caller's: a reference keeps
// a typed array alive but cannot stop JavaScript from detaching or transferring its buffer while
// the work runs, and a caller may reuse its arrays as soon as the call returns.
#pragma once

#include <napi.h>

#include <optional>
#include <utility>

#include "errors.h"

namespace pathwise_addon {

template <class Job>
class JobWorker : public Napi::AsyncWorker {
 public:
  JobWorker(Napi::Env env, Job job)
      : Napi::AsyncWorker(env, Job::kName), deferred_(Napi::Promise::Deferred::New(env)), job_(std::move(job)) {}

  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_.emplace(job_.run());
    } catch (...) {
      error_.emplace(current_core_error(Job::kOutOfMemory));
    }
  }

  // When a worker thread is terminated with calls in flight, these run during its environment's
  // teardown, where no JavaScript can run: creating the results or settling the promise throws,
  // and an exception escaping into node-addon-api's callback wrapper aborts the whole process.
  // Nobody can observe the promise then, so the failure is dropped.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (error_) {
        deferred_.Reject(to_js_error(env, *error_).Value());
        return;
      }
      try {
        deferred_.Resolve(Job::convert(env, *result_));
      } catch (const Napi::Error& e) {
        deferred_.Reject(e.Value());
      } catch (...) {
        deferred_.Reject(to_js_error(env, current_core_error(Job::kOutOfMemory)).Value());
      }
    } catch (...) {
    }
  }

  void OnError(const Napi::Error& e) override {
    try {
      deferred_.Reject(e.Value());
    } catch (...) {
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  Job job_;
  std::optional<typename Job::Result> result_;
  std::optional<pathwise::Error> error_;
};

template <class Job>
Napi::Value run_job(Napi::Env env, Job job, bool async) {
  if (!async)
    return guarded(env, Job::kOutOfMemory, [&]() -> Napi::Value {
      job.validate();
      typename Job::Result result = job.run();
      return Job::convert(env, result);
    });
  guarded(env, Job::kOutOfMemory, [&] { job.validate(); });
  auto* worker = new JobWorker<Job>(env, std::move(job));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace pathwise_addon
