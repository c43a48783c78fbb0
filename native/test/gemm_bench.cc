// GEMM timing without Node, for tuning the kernels (npm run bench is the comparison of record).
//   build/pathwise_gemm_bench [m n k [threads [nn|nt [kernel]]]]
// Prints GFLOP/s of every available kernel (or the one named): best of 7 samples, each sample
// the mean of as many calls as fill ~0.15 s. Wall time: the machine is shared, so best-of-N is
// the figure that says what the code can do.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <time.h>

#include "../core/kernels/kernels.h"
#include "../core/threads/pool.h"

static double thread_cpu_seconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

int main(int argc, char** argv) {
  const std::size_t m = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 512;
  const std::size_t n = argc > 2 ? std::strtoul(argv[2], nullptr, 10) : 512;
  const std::size_t k = argc > 3 ? std::strtoul(argv[3], nullptr, 10) : 512;
  const std::size_t threads = argc > 4 ? std::strtoul(argv[4], nullptr, 10) : 1;
  const bool nt = argc > 5 && std::strcmp(argv[5], "nt") == 0;
  const std::string only = argc > 6 ? argv[6] : "";
  if (threads > pathwise::threads::pool_size()) pathwise::threads::set_pool_size(threads);

  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> a(m * k), b(k * n), c(m * n);
  for (auto& v : a) v = u(rng);
  for (auto& v : b) v = u(rng);
  const double flops = 2.0 * double(m) * double(n) * double(k);

  for (const auto* t : pathwise::kernels::available()) {
    if (!only.empty() && only != t->name) continue;
    auto fn = nt ? t->gemm_nt_threads : t->gemm_nn_threads;
    auto call = [&] { fn(m, n, k, a.data(), k, b.data(), nt ? k : n, c.data(), n, false, threads); };
    call();
    using clock = std::chrono::steady_clock;
    auto t0 = clock::now();
    call();
    const double once = std::chrono::duration<double>(clock::now() - t0).count();
    const int reps = std::max(1, int(0.15 / std::max(once, 1e-7)));
    double best = 1e30, best_cpu = 1e30;
    for (int s = 0; s < 7; ++s) {
      const double c0 = thread_cpu_seconds();
      t0 = clock::now();
      for (int r = 0; r < reps; ++r) call();
      best = std::min(best, std::chrono::duration<double>(clock::now() - t0).count() / reps);
      best_cpu = std::min(best_cpu, (thread_cpu_seconds() - c0) / reps);
    }
    std::printf("%-7s %s %zux%zux%zu threads %zu: %8.1f GFLOP/s  %9.3f ms", t->name,
                nt ? "nt" : "nn", m, n, k, threads, flops / best * 1e-9, best * 1e3);
    // With one thread, CPU time of the calling thread is less disturbed by other processes.
    if (threads == 1) std::printf("  (cpu time: %6.1f GFLOP/s)", flops / best_cpu * 1e-9);
    std::printf("  %s\n", t->description);
  }
  return 0;
}
