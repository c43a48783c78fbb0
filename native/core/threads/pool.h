// The core's thread pool: a fixed set of worker threads, created once and reused by every
// parallel region (no thread is ever spawned per call), plus a chunked parallel-for.
//
// Size: PATHWISE_THREADS if set to an integer >= 1, else std::thread::hardware_concurrency()
// (1 if unknown); set_pool_size() changes it later (the addon can expose it). A region of size T
// runs on the calling thread plus T − 1 pool workers.
//
// Determinism: parallel_for never decides how work is cut. The caller splits its work into
// `tasks` pieces from the problem shape and the thread count alone; each task must write only its
// own outputs and must not depend on which thread runs it or in which order tasks run. Then a
// result is identical for a given thread count however the OS schedules threads (the GEMM goes
// further: its per-element arithmetic does not depend on the split at all).
//
// Sharing and nesting (see DEVELOPERS.md, "Threads"):
//   * One region runs on the pool at a time. A second thread that opens a region while the pool
//     is busy (two async explain calls on two libuv threads) waits for it, so the machine never
//     runs more than T compute threads for regions, however many callers there are.
//   * A region opened from inside a region (a task that calls a parallel GEMM, on a worker or on
//     the region's caller) runs its tasks serially, in task order, on the current thread: no
//     deadlock, and the same tasks, hence the same result.
#pragma once

#include <cstddef>
#include <string>

namespace pathwise::threads {

// A task body: runs task number `task` of a region. `ctx` is the caller's context. Plain function
// pointer (not std::function) so kernel files compiled for AVX-512 instantiate no shared
// templates (DEVELOPERS.md "Toolchain notes": ODR risk across target-specific translation units).
using TaskFn = void (*)(void* ctx, std::size_t task);

// Threads a region may use, the caller included (>= 1).
std::size_t pool_size();

// Sets the pool size (n >= 1; 0 restores the default). Waits for a running region to finish,
// then stops the old workers and starts the new ones. Not to be called from inside a task.
void set_pool_size(std::size_t n);

// The default size: PATHWISE_THREADS or hardware_concurrency(). `error` (if non-null) receives
// a message when PATHWISE_THREADS is set but is not an integer in [1, 1024].
std::size_t default_pool_size(std::string* error = nullptr);

// True on a thread that is running a task of a region (worker or caller).
bool in_parallel_region();

// While it lives, regions opened on this thread run serially, in task order, as nested regions
// do (the same tasks, hence the same result): for calls too small for a region's wake-up to pay.
class SerialScope {
 public:
  SerialScope();
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool saved_;
};

// Runs fn(ctx, t) for t in [0, tasks) on up to min(max_threads, pool_size(), tasks) threads
// (max_threads 0 = the pool's size) and returns when all have finished. Tasks are handed out in
// increasing order to whichever thread is free. If a task throws, the first exception is
// rethrown on the caller's thread after every started task has finished (later tasks are
// skipped).
void parallel_for(std::size_t tasks, std::size_t max_threads, TaskFn fn, void* ctx);

}  // namespace pathwise::threads
