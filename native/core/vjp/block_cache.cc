#include "block_cache.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <thread>
#include <utility>

namespace pathwise::block_cache {
namespace {

// An explanation in a loop over inputs starts the next one within milliseconds; a process that
// has stopped explaining gets its memory back after this long.
constexpr auto kIdle = std::chrono::seconds(2);

// PATHWISE_BLOCK_CACHE=0 keeps no block (read once, when the cache is first used): for a process
// short of memory, and for tests that measure one call's peak RSS against the RSS before it.
bool enabled_by_environment() {
  const char* value = std::getenv("PATHWISE_BLOCK_CACHE");
  return !(value && std::strcmp(value, "0") == 0);
}

class Cache {
 public:
  bool take(std::vector<float>& v, std::size_t floats) {
    std::vector<std::vector<float>> dropped;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++activity_;
      std::size_t best = blocks_.size();
      for (std::size_t i = 0; i < blocks_.size(); ++i)
        if (blocks_[i].capacity() >= floats && (best == blocks_.size() || blocks_[i].capacity() < blocks_[best].capacity()))
          best = i;
      if (best < blocks_.size()) {
        std::vector<float>().swap(v);
        v = std::move(blocks_[best]);
        blocks_[best] = std::move(blocks_.back());
        blocks_.pop_back();
        return true;
      }
      dropped.swap(blocks_);
    }
    return false;  // `dropped` is freed here, outside the lock
  }

  void give(std::vector<float>& v) noexcept {
    std::vector<float> block;
    block.swap(v);
    if (block.capacity() < kMinFloats || !enabled_) return;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!janitor_.joinable()) janitor_ = std::thread([this] { run(); });
      ++activity_;
      blocks_.push_back(std::move(block));
    } catch (...) {
      return;  // no room to keep it (or no thread to free it later): the block is freed now
    }
    wake_.notify_all();
  }

  void release() {
    std::vector<std::vector<float>> dropped;
    std::lock_guard<std::mutex> lock(mutex_);
    dropped.swap(blocks_);
  }

  std::size_t held_floats() {
    std::lock_guard<std::mutex> lock(mutex_);
    std::size_t total = 0;
    for (const auto& b : blocks_) total += b.capacity();
    return total;
  }

 private:
  // Frees the blocks once the cache has seen no take or give for kIdle.
  void run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      if (blocks_.empty()) {
        wake_.wait(lock, [this] { return !blocks_.empty(); });
        continue;
      }
      const std::uint64_t seen = activity_;
      if (wake_.wait_for(lock, kIdle, [&] { return activity_ != seen; })) continue;
      std::vector<std::vector<float>> dropped;
      dropped.swap(blocks_);
      lock.unlock();
      dropped.clear();
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::vector<float>> blocks_;
  std::uint64_t activity_ = 0;
  std::thread janitor_;
  const bool enabled_ = enabled_by_environment();
};

// Created on first use and never destroyed, like the thread pool (threads/pool.cc): the helper
// thread ends with the process, and no static destructor can race a Sweep ending on another thread.
Cache& cache() {
  static Cache* c = new Cache();
  return *c;
}

}  // namespace

bool take(std::vector<float>& v, std::size_t floats) { return cache().take(v, floats); }
void give(std::vector<float>& v) noexcept { cache().give(v); }
void release() { cache().release(); }
std::size_t held_floats() { return cache().held_floats(); }

}  // namespace pathwise::block_cache
