// The k best complete one-way paths of a layered graph by signed or absolute product (docs/method.md §8).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pathwise {

// Layers 0 … d−1 of nodes; incoming[j][v] lists (u, w) for every edge u → v from layer j − 1 to
// layer j (j ≥ 1). A path's value is bottom[u_0] · Π w · top[u_{d−1}].
struct LayeredGraph {
  std::vector<std::size_t> sizes;  // nodes per layer
  std::vector<std::vector<std::vector<std::pair<std::uint32_t, double>>>> incoming;
  std::vector<double> bottom;  // per node of layer 0
  std::vector<double> top;     // per node of layer d − 1
};

struct RankedPath {
  std::vector<std::uint32_t> nodes;  // node index per layer, bottom → top
  double value = 0;    // bottom · Π w · top
  double product = 0;  // Π w · top (the value without the bottom factor)
};

// Each node keeps the k largest and k smallest partial values from the bottom; an edge of weight
// w > 0 feeds max→max and min→min, w < 0 swaps them; O(|E| · k log k). Returns the k best paths,
// value descending (or |value| descending when abs_rank), ties by (u_{d−1}, …, u_0) ascending.
std::vector<RankedPath> k_best_paths(const LayeredGraph& graph, std::size_t k, bool abs_rank);

}  // namespace pathwise
