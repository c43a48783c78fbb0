// Picks the kernel table once per process. Order of preference: avx512, avx2, neon, scalar.
// PATHWISE_FORCE_KERNEL=<name> pins one (tests, benchmarks, or a user working around a CPU bug).
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

#include "kernels_isa.h"

namespace pathwise::kernels {
namespace {

bool cpu_supports(const KernelTable* t) {
#if PATHWISE_X86
  __builtin_cpu_init();
  if (t == &x86_v4::table) return __builtin_cpu_supports("x86-64-v4");
  if (t == &x86_v3::table) return __builtin_cpu_supports("x86-64-v3");
#endif
  (void)t;
  return true;
}

struct Choice {
  const KernelTable* table = nullptr;
  std::string force_error;
};

const Choice& choice() {
  static const Choice c = [] {
    Choice out;
    const auto tables = available();
    out.table = tables.front();
    if (const char* forced = std::getenv("PATHWISE_FORCE_KERNEL"); forced && *forced) {
      if (const KernelTable* t = find(forced)) {
        out.table = t;
      } else {
        std::string names;
        for (const auto* t2 : tables) names += (names.empty() ? "" : ", ") + std::string(t2->name);
        out.force_error = std::string("PATHWISE_FORCE_KERNEL=") + forced +
                          " is not available on this CPU/build (available: " + names + ")";
      }
    }
    return out;
  }();
  return c;
}

}  // namespace

std::vector<const KernelTable*> available() {
  std::vector<const KernelTable*> all = {
#if PATHWISE_X86
      &x86_v4::table, &x86_v3::table,
#endif
#if defined(__aarch64__)
      &arm64_neon::table,
#endif
      &scalar::table};
  std::vector<const KernelTable*> out;
  for (const auto* t : all)
    if (cpu_supports(t)) out.push_back(t);
  return out;
}

const KernelTable* find(const std::string& name) {
  for (const auto* t : available())
    if (name == t->name) return t;
  return nullptr;
}

const KernelTable& active() { return *choice().table; }

const std::string& force_error() { return choice().force_error; }

}  // namespace pathwise::kernels
