// Runtime controls and kernel timing: kernelInfo and setThreads (the core's kernel dispatch and
// thread pool, for lib/runtime.ts), gemmWithKernel and gemmBench (one named GEMM kernel, for the
// kernel tests and npm run bench).
#include <chrono>
#include <cmath>
#include <string>

#include "../core/kernels/kernels.h"
#include "../core/threads/pool.h"
#include "convert.h"
#include "errors.h"
#include "exports.h"

namespace pathwise_addon {

namespace {

// kernelInfo() -> { active, available: string[], description, forceError? }
Napi::Value KernelInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  const auto& active = pathwise::kernels::active();
  o.Set("active", active.name);
  o.Set("description", active.description);
  const auto tables = pathwise::kernels::available();
  Napi::Array names = Napi::Array::New(env, tables.size());
  for (std::size_t i = 0; i < tables.size(); ++i) names.Set(i, tables[i]->name);
  o.Set("available", names);
  if (!pathwise::kernels::force_error().empty()) o.Set("forceError", pathwise::kernels::force_error());
  o.Set("threads", double(pathwise::threads::pool_size()));
  std::string threads_error;
  pathwise::threads::default_pool_size(&threads_error);
  if (!threads_error.empty()) o.Set("threadsError", threads_error);
  return o;
}

// setThreads(n): the core pool's size, 1 … 1024 threads (0 = the default: PATHWISE_THREADS or the
// core count). Waits for a running parallel region (an async call's product) to finish first.
Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  PATHWISE_THROW_TYPE_ERROR_IF(!info[0].IsNumber(), env, "threads must be a number");
  const double n = info[0].As<Napi::Number>().DoubleValue();
  PATHWISE_THROW_RANGE_ERROR_IF(!(n >= 0 && n <= 1024 && n == std::floor(n)), env,
                                "threads must be an integer in [0, 1024] (0 = the default)");
  pathwise::threads::set_pool_size(std::size_t(n));
  return env.Undefined();
}

// The arguments (kernel, transB, m, n, k, a, b) shared by gemmWithKernel and gemmBench.
struct GemmArgs {
  const pathwise::kernels::KernelTable* table;
  bool trans_b;
  std::size_t m, n, k;
  Napi::Float32Array a, b;
};

GemmArgs gemm_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string kernel = expect_string(env, info[0], "kernel");
  GemmArgs g;
  g.table = pathwise::kernels::find(kernel);
  PATHWISE_THROW_RANGE_ERROR_IF(!g.table, env, "kernel not available: " + kernel);
  g.trans_b = info[1].ToBoolean();
  g.m = expect_size(env, info[2], "m");
  g.n = expect_size(env, info[3], "n");
  g.k = expect_size(env, info[4], "k");
  g.a = expect_f32(env, info[5], "a");
  g.b = expect_f32(env, info[6], "b");
  // Sizes are checked by division: m × k or k × n can wrap around for absurd m, n, k.
  auto holds = [](std::size_t len, std::size_t rows, std::size_t cols) {
    return rows == 0 || cols == 0 ? len == 0 : len % rows == 0 && len / rows == cols;
  };
  PATHWISE_THROW_RANGE_ERROR_IF(!holds(g.a.ElementLength(), g.m, g.k) || !holds(g.b.ElementLength(), g.k, g.n) ||
                                    (g.m != 0 && g.n > (std::size_t(1) << 40) / g.m),
                                env, "a must have m*k and b k*n values");
  return g;
}

// gemmWithKernel(kernel, transB, m, n, k, a, b) -> Float32Array(m × n): runs one named kernel,
// so a test can check every compiled kernel against the scalar path in one process.
Napi::Value GemmWithKernel(const Napi::CallbackInfo& info) {
  const GemmArgs g = gemm_args(info);
  Napi::Float32Array c = Napi::Float32Array::New(info.Env(), g.m * g.n);
  (g.trans_b ? g.table->gemm_nt : g.table->gemm_nn)(g.m, g.n, g.k, g.a.Data(), g.k, g.b.Data(),
                                                     g.trans_b ? g.k : g.n, c.Data(), g.n, false);
  return c;
}

// gemmBench(kernel, transB, m, n, k, a, b, iterations, threads)
//   -> { seconds: Float64Array(iterations), threads, c: Float32Array(m × n) }
// Times `iterations` calls of one named kernel in C++ (wall time of each call, after one warm-up
// call), on up to `threads` threads of the core pool (0 = the pool's size), for npm run bench.
// `c` is the last call's product, so tests can compare thread counts.
Napi::Value GemmBench(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const GemmArgs g = gemm_args(info);
  const auto* table = g.table;
  const bool trans_b = g.trans_b;
  const std::size_t m = g.m, n = g.n, k = g.k;
  const Napi::Float32Array &a = g.a, &b = g.b;
  const std::size_t iterations = expect_size(env, info[7], "iterations");
  const std::size_t threads = expect_size(env, info[8], "threads");
  PATHWISE_THROW_RANGE_ERROR_IF(iterations < 1, env, "iterations must be >= 1");
  Napi::Float32Array c = Napi::Float32Array::New(env, m * n);
  Napi::Float64Array seconds = Napi::Float64Array::New(env, iterations);
  const auto fn = trans_b ? table->gemm_nt_threads : table->gemm_nn_threads;
  const std::size_t ldb = trans_b ? k : n;
  fn(m, n, k, a.Data(), k, b.Data(), ldb, c.Data(), n, false, threads);
  for (std::size_t i = 0; i < iterations; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn(m, n, k, a.Data(), k, b.Data(), ldb, c.Data(), n, false, threads);
    seconds[i] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const std::size_t pool = pathwise::threads::pool_size();
  Napi::Object out = Napi::Object::New(env);
  out.Set("seconds", seconds);
  out.Set("threads", double(threads == 0 || threads > pool ? pool : threads));
  out.Set("c", c);
  return out;
}

}  // namespace

void register_runtime(Napi::Env env, Napi::Object exports) {
  export_functions(env, exports, {{"kernelInfo", KernelInfo},
                                  {"setThreads", SetThreads},
                                  {"gemmWithKernel", GemmWithKernel},
                                  {"gemmBench", GemmBench}});
}

}  // namespace pathwise_addon
