// JobControl (cancel one async explain) and the progress sink (core steps → a JS callback); see watch.h.
#include "watch.h"

#include <utility>

#include "errors.h"

namespace pathwise_addon {

namespace {

// new JobControl(); control.cancel(): sets the flag the job's core work polls between layer steps.
class JobControl : public Napi::ObjectWrap<JobControl> {
 public:
  static Napi::Function Init(Napi::Env env) {
    return DefineClass(env, "JobControl", {InstanceMethod("cancel", &JobControl::Cancel)});
  }
  explicit JobControl(const Napi::CallbackInfo& info)
      : Napi::ObjectWrap<JobControl>(info), flag_(std::make_shared<std::atomic<bool>>(false)) {}
  const CancelFlag& flag() const { return flag_; }

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info) {
    flag_->store(true, std::memory_order_relaxed);
    return info.Env().Undefined();
  }
  CancelFlag flag_;
};

Napi::FunctionReference* job_control_class(Napi::Env env) { return env.GetInstanceData<Napi::FunctionReference>(); }

struct Step {
  std::size_t done, total;
};

// Runs on the JS thread; env and fn are empty when the environment is being torn down (a worker
// thread terminated mid-call), and the step is freed either way. A throwing callback must not
// unwind into node: lib's wrapper catches its user's errors, this is the last guard.
void call_progress(Napi::Env env, Napi::Function fn, std::nullptr_t*, Step* step) {
  std::unique_ptr<Step> own(step);
  if (env == nullptr || fn.IsEmpty()) return;
  try {
    fn.Call({Napi::Number::New(env, double(own->done)), Napi::Number::New(env, double(own->total))});
  } catch (...) {
  }
}

using ProgressFunction = Napi::TypedThreadSafeFunction<std::nullptr_t, Step, call_progress>;

// Owns the thread-safe function; released when the job that holds it is destroyed.
struct ProgressChannel {
  ProgressFunction tsfn;
  explicit ProgressChannel(ProgressFunction f) : tsfn(std::move(f)) {}
  ProgressChannel(const ProgressChannel&) = delete;
  ProgressChannel& operator=(const ProgressChannel&) = delete;
  ~ProgressChannel() { tsfn.Release(); }
};

}  // namespace

CancelFlag cancel_flag_of(Napi::Env env, Napi::Value control) {
  Napi::FunctionReference* cls = job_control_class(env);
  PATHWISE_THROW_TYPE_ERROR_IF(!control.IsObject() || cls == nullptr || !control.As<Napi::Object>().InstanceOf(cls->Value()), env,
                               "expected a JobControl");
  return JobControl::Unwrap(control.As<Napi::Object>())->flag();
}

std::function<void(std::size_t, std::size_t)> progress_sink(Napi::Env env, Napi::Function fn) {
  auto channel = std::make_shared<ProgressChannel>(ProgressFunction::New(env, fn, "pathwise.progress", 0, 1, nullptr));
  return [channel](std::size_t done, std::size_t total) {
    auto* step = new Step{done, total};
    if (channel->tsfn.NonBlockingCall(step) != napi_ok) delete step;  // closing: nobody is listening
  };
}

void register_watch(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = JobControl::Init(env);
  // The class is kept as instance data so cancel_flag_of can check what it is given.
  env.SetInstanceData(new Napi::FunctionReference(Napi::Persistent(cls)));
  exports.Set("JobControl", cls);
}

}  // namespace pathwise_addon
