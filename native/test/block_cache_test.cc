// block_cache (vjp/block_cache.h): a Sweep that ends hands its large blocks over, the next one's
// take gets them (the same storage, no new allocation), a take no cached block fits frees them
// all, and small blocks are not kept. Part of pathwise_core_test.
#include <vector>

#include "../core/ir/network.h"
#include "../core/vjp/block_cache.h"
#include "../core/vjp/vjp.h"

void check_core(bool ok, const char* what, double a, double b);  // core_test.cc

void test_block_cache() {
  namespace bc = pathwise::block_cache;
  bc::release();
  const std::size_t big = bc::kMinFloats * 2;
  std::vector<float> a(big, 1.0f), small(16, 1.0f);
  const float* storage = a.data();
  bc::give(a);
  bc::give(small);
  check_core(a.empty() && a.capacity() == 0, "block_cache: give empties the vector", double(a.capacity()), 0);
  check_core(bc::held_floats() == big, "block_cache: keeps large blocks only", double(bc::held_floats()), double(big));
  std::vector<float> b;
  check_core(bc::take(b, big / 2) && b.data() == storage, "block_cache: take returns the storage given", 0, 0);
  check_core(b.size() == big, "block_cache: a block keeps its size (a smaller resize writes nothing)", double(b.size()), double(big));
  bc::give(b);
  std::vector<float> c;
  check_core(!bc::take(c, big + 1), "block_cache: no block fits", 0, 0);
  check_core(bc::held_floats() == 0, "block_cache: a miss frees every block", double(bc::held_floats()), 0);

  // A Sweep's blocks outlive it in the cache, and the next Sweep takes them.
  pathwise::LayerDesc dense, relu, head;
  std::vector<float> w(bc::kMinFloats / 64 * 2, 0.5f), hw(2 * (bc::kMinFloats / 64), 0.5f);
  dense.kind = pathwise::LayerKind::Dense;
  dense.in_shape = {2, 1, 1};
  dense.out_features = bc::kMinFloats / 64;
  dense.weights = w.data();
  dense.weights_len = w.size();
  head.kind = pathwise::LayerKind::Dense;
  head.in_shape = {bc::kMinFloats / 64, 1, 1};
  head.out_features = 2;
  head.weights = hw.data();
  head.weights_len = hw.size();
  const auto net = pathwise::Network::build({2, 1, 1}, {dense, relu, head});
  const float* first = nullptr;
  {
    pathwise::Sweep s;
    s.reset(net, 64, 1);
    s.take(s.cot[1], 64 * net.layers()[1].out_size(), true);
    first = s.cot[1].data();
  }
  check_core(bc::held_floats() >= bc::kMinFloats, "block_cache: a Sweep's blocks outlive it", double(bc::held_floats()), 0);
  pathwise::Sweep s;
  s.reset(net, 64, 1);
  s.take(s.cot[0], 64 * net.layers()[0].out_size(), true);
  bool zero = true;
  for (float v : s.cot[0]) zero &= v == 0.0f;
  check_core(s.cot[0].data() == first && zero, "block_cache: the next Sweep takes them, zero-filled", 0, 0);
  bc::release();
}
