#include "pool.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <pthread.h>
#endif

namespace pathwise::threads {
namespace {

thread_local bool t_in_region = false;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// After a region, a worker spins this long for the next one before it sleeps on the condition
// variable. An explanation runs its GEMMs back to back with a little serial work between them;
// waking a sleeping thread costs 10–60 µs here (futex wake + reschedule on a 2-core KVM guest),
// as much as a whole 64×256×784 product. 100 µs of spinning is cheap next to that and is given
// back to the OS as soon as the pool stays idle.
constexpr auto kSpin = std::chrono::microseconds(100);

class Pool {
 public:
  explicit Pool(std::size_t size) { start(size); }

  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

  void resize(std::size_t size) {
    std::lock_guard<std::mutex> region(region_mutex_);
    stop_workers();
    start(size);
  }

  void run(std::size_t tasks, std::size_t threads, TaskFn fn, void* ctx) {
    std::lock_guard<std::mutex> region(region_mutex_);  // one region at a time; others wait
    // The pool may have been resized while this caller waited.
    if (threads > size()) threads = size();
    if (threads <= 1) {
      run_serial(tasks, fn, ctx);
      return;
    }
    fn_ = fn;
    ctx_ = ctx;
    tasks_ = tasks;
    next_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    error_ = nullptr;
    // Workers 1 .. threads − 1 get a ticket; the caller is the last participant. A worker acts
    // only on its own ticket, so one that slept through earlier regions cannot join this one by
    // mistake, and the job fields above stay valid until every ticketed worker has finished.
    pending_.store(threads - 1, std::memory_order_relaxed);
    {
      std::lock_guard<std::mutex> lk(m_);
      ++ticket_;
      for (std::size_t i = 1; i < threads; ++i) slots_[i].ticket.store(ticket_, std::memory_order_release);
    }
    cv_work_.notify_all();

    t_in_region = true;
    work();
    t_in_region = false;

    // Wait for the workers: spin briefly (they usually finish together with the caller), then
    // sleep.
    const auto until = std::chrono::steady_clock::now() + kSpin;
    while (pending_.load(std::memory_order_acquire) != 0 && std::chrono::steady_clock::now() < until)
      for (int i = 0; i < 64; ++i) cpu_relax();
    if (pending_.load(std::memory_order_acquire) != 0) {
      std::unique_lock<std::mutex> lk(m_);
      cv_done_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
    }
    if (error_) std::rethrow_exception(error_);
  }

  static void run_serial(std::size_t tasks, TaskFn fn, void* ctx) {
    const bool outer = t_in_region;
    t_in_region = true;
    try {
      for (std::size_t t = 0; t < tasks; ++t) fn(ctx, t);
    } catch (...) {
      t_in_region = outer;
      throw;
    }
    t_in_region = outer;
  }

 private:
  void start(std::size_t size) {
    stop_.store(false, std::memory_order_relaxed);
    size_.store(size, std::memory_order_relaxed);
    slots_ = std::vector<Slot>(size);
    for (std::size_t i = 1; i < size; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(m_);
      stop_.store(true, std::memory_order_relaxed);
      ++ticket_;
      for (auto& s : slots_) s.ticket.store(ticket_, std::memory_order_release);
    }
    cv_work_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  // Hands out tasks in increasing order until none are left (or one failed).
  void work() {
    for (;;) {
      if (failed_.load(std::memory_order_relaxed)) return;
      const std::size_t t = next_.fetch_add(1, std::memory_order_relaxed);
      if (t >= tasks_) return;
      try {
        fn_(ctx_, t);
      } catch (...) {
        std::lock_guard<std::mutex> lk(error_mutex_);
        if (!error_) error_ = std::current_exception();
        failed_.store(true, std::memory_order_relaxed);
      }
    }
  }

  void worker_loop(std::size_t index) {
#if defined(__linux__)
    pthread_setname_np(pthread_self(), ("pathwise-" + std::to_string(index)).substr(0, 15).c_str());
#endif
    std::atomic<std::uint64_t>& ticket = slots_[index].ticket;
    // A new slot holds ticket 0; a region may hand out a ticket before this thread first runs,
    // so start from 0, not from whatever the slot holds now.
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t t = ticket.load(std::memory_order_acquire);
      if (t == seen) {
        const auto until = std::chrono::steady_clock::now() + kSpin;
        do {
          for (int i = 0; i < 64; ++i) cpu_relax();
          t = ticket.load(std::memory_order_acquire);
        } while (t == seen && std::chrono::steady_clock::now() < until);
      }
      if (t == seen) {
        std::unique_lock<std::mutex> lk(m_);
        cv_work_.wait(lk, [&] { return ticket.load(std::memory_order_acquire) != seen; });
        t = ticket.load(std::memory_order_acquire);
      }
      seen = t;
      if (stop_.load(std::memory_order_relaxed)) return;  // written before the ticket
      t_in_region = true;
      work();
      t_in_region = false;
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard<std::mutex> lk(m_);
        cv_done_.notify_one();
      }
    }
  }

  struct alignas(64) Slot {
    std::atomic<std::uint64_t> ticket{0};
  };

  std::mutex region_mutex_;
  std::mutex m_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;
  std::atomic<std::size_t> size_{1};
  std::vector<Slot> slots_;       // one per thread index; slot 0 (the caller) is unused
  std::uint64_t ticket_ = 0;      // under m_
  std::atomic<bool> stop_{false};

  // The current region (written by the caller before the tickets are handed out).
  TaskFn fn_ = nullptr;
  void* ctx_ = nullptr;
  std::size_t tasks_ = 0;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> pending_{0};
  std::atomic<bool> failed_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

// Created on first use and never destroyed: workers sleeping at process exit are simply ended
// with the process, and no static destructor can race a region still running on another thread.
Pool& pool() {
  static Pool* p = new Pool(default_pool_size());
  return *p;
}

}  // namespace

std::size_t default_pool_size(std::string* error) {
  if (const char* env = std::getenv("PATHWISE_THREADS"); env && *env) {
    char* end = nullptr;
    const long v = std::strtol(env, &end, 10);
    if (end && *end == '\0' && v >= 1 && v <= 1024) return std::size_t(v);
    if (error) *error = std::string("PATHWISE_THREADS=") + env + " is not an integer in [1, 1024]";
  }
  const unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : hc;
}

std::size_t pool_size() { return pool().size(); }

void set_pool_size(std::size_t n) { pool().resize(n == 0 ? default_pool_size() : n); }

bool in_parallel_region() { return t_in_region; }

SerialScope::SerialScope() : saved_(t_in_region) { t_in_region = true; }
SerialScope::~SerialScope() { t_in_region = saved_; }

void parallel_for(std::size_t tasks, std::size_t max_threads, TaskFn fn, void* ctx) {
  if (tasks == 0) return;
  const std::size_t size = pool_size();
  std::size_t threads = max_threads == 0 || max_threads > size ? size : max_threads;
  if (threads > tasks) threads = tasks;
  if (threads <= 1 || t_in_region) {
    Pool::run_serial(tasks, fn, ctx);
    return;
  }
  pool().run(tasks, threads, fn, ctx);
}

}  // namespace pathwise::threads
