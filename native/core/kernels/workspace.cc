#include "workspace.h"

#include <cstdlib>
#include <new>

namespace pathwise::kernels {
namespace {

struct Buffers {
  float* ptr[4] = {nullptr, nullptr, nullptr, nullptr};
  std::size_t size[4] = {0, 0, 0, 0};
  ~Buffers() {
    for (float* p : ptr) std::free(p);
  }
};

thread_local Buffers t_buffers;

}  // namespace

float* workspace(Slot slot, std::size_t floats) {
  const unsigned i = unsigned(slot);
  Buffers& b = t_buffers;
  if (b.size[i] < floats) {
    std::free(b.ptr[i]);
    b.ptr[i] = nullptr;
    b.size[i] = 0;
    // Round up to whole 64-byte lines, as aligned_alloc requires.
    const std::size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    b.ptr[i] = static_cast<float*>(p);
    b.size[i] = bytes / sizeof(float);
  }
  return b.ptr[i];
}

}  // namespace pathwise::kernels
