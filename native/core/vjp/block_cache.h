// Large float blocks kept between Sweeps (vjp.h): a Sweep that ends hands its blocks here, and the
// next one takes them instead of fresh memory. Fresh blocks come from the OS untouched, and their
// first write faults in every 4 KiB page: on resnet18 with 1000 classes one explanation's sweep
// blocks are 480 MB, 120 K minor faults, ~280 ms of kernel time in a ~1 s explanation (1 thread,
// perf: exc_page_fault, clear_page), every call alike, since the blocks went back to the OS with
// the Sweep.
//
// Memory: the cache only ever holds blocks some Sweep held a moment before, and a take that finds
// no block large enough frees every cached one before the caller allocates, so the process never
// holds a fresh block and an unused cached one at once (the memory estimate's premise: a sweep
// holds at most its own blocks). Blocks nobody takes for kIdleSeconds (block_cache.cc) are freed
// by a helper thread, so an idle process gives the memory back. PATHWISE_BLOCK_CACHE=0 (read at
// first use) keeps none.
#pragma once

#include <cstddef>
#include <vector>

namespace pathwise::block_cache {

// Blocks below this many floats (1 MiB) are not kept: they fault in quickly.
constexpr std::size_t kMinFloats = std::size_t(1) << 18;

// Moves the smallest cached block of at least `floats` capacity into v (whose own storage is
// freed first) and returns true; else frees every cached block and returns false. Thread-safe.
bool take(std::vector<float>& v, std::size_t floats);

// Keeps v's storage (when at least kMinFloats) for a later take, values and size as they are
// (so a take that resizes to at most that size writes nothing); v becomes empty. Thread-safe;
// never throws (a block it cannot keep is freed).
void give(std::vector<float>& v) noexcept;

// Frees every cached block now.
void release();

// Floats held by the cache (for tests).
std::size_t held_floats();

}  // namespace pathwise::block_cache
