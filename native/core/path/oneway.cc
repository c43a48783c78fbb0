#include "oneway.h"

#include <algorithm>
#include <cmath>
#include <set>

namespace pathwise {
namespace {

struct Entry {
  double value = 0;    // partial value from the bottom up to this node
  double product = 0;  // partial product of edge weights (value = bottom · product)
  std::uint32_t prev_node = 0;
  bool prev_max = true;
  std::uint32_t prev_entry = 0;
};

struct Lists {
  std::vector<Entry> max, min;  // max: descending value; min: ascending value
};

void keep_best(std::vector<Entry>& v, std::size_t k, bool largest) {
  auto better = [largest](const Entry& a, const Entry& b) { return largest ? a.value > b.value : a.value < b.value; };
  if (v.size() > k) {
    std::nth_element(v.begin(), v.begin() + std::ptrdiff_t(k), v.end(), better);
    v.resize(k);
  }
  std::stable_sort(v.begin(), v.end(), better);
}

}  // namespace

std::vector<RankedPath> k_best_paths(const LayeredGraph& g, std::size_t k, bool abs_rank) {
  const std::size_t d = g.sizes.size();
  std::vector<std::vector<Lists>> lists(d);
  lists[0].resize(g.sizes[0]);
  for (std::size_t u = 0; u < g.sizes[0]; ++u) {
    Entry e{g.bottom[u], 1.0, 0, true, 0};
    lists[0][u].max = {e};
    lists[0][u].min = {e};
  }
  for (std::size_t j = 1; j < d; ++j) {
    lists[j].resize(g.sizes[j]);
    for (std::size_t v = 0; v < g.sizes[j]; ++v) {
      Lists& out = lists[j][v];
      for (const auto& edge : g.incoming[j][v]) {
        // Plain copies, not a structured binding: C++17 lambdas cannot capture those (clang rejects it).
        const std::uint32_t u = edge.first;
        const double w = edge.second;
        const Lists& in = lists[j - 1][u];
        const auto feed = [&](const std::vector<Entry>& src, bool src_is_max, std::vector<Entry>& dst) {
          for (std::uint32_t q = 0; q < src.size(); ++q)
            dst.push_back(Entry{src[q].value * w, src[q].product * w, u, src_is_max, q});
        };
        if (w > 0) {
          feed(in.max, true, out.max);
          feed(in.min, false, out.min);
        } else if (w < 0) {
          feed(in.min, false, out.max);
          feed(in.max, true, out.min);
        }
        // Bound the work per node: trim once a list holds many more candidates than it keeps.
        if (out.max.size() > 8 * k + 64) keep_best(out.max, k, true);
        if (out.min.size() > 8 * k + 64) keep_best(out.min, k, false);
      }
      keep_best(out.max, k, true);
      keep_best(out.min, k, false);
    }
  }
  // Close at the top and collect candidates; one path may sit in both lists of a node.
  std::vector<RankedPath> candidates;
  const auto trace = [&](std::size_t top_node, bool is_max, std::uint32_t idx) {
    RankedPath p;
    p.nodes.resize(d);
    std::size_t node = top_node;
    for (std::size_t j = d; j-- > 0;) {
      p.nodes[j] = std::uint32_t(node);
      const Entry& e = (is_max ? lists[j][node].max : lists[j][node].min)[idx];
      if (j + 1 == d) {
        p.value = e.value * g.top[top_node];
        p.product = e.product * g.top[top_node];
      }
      node = e.prev_node;
      is_max = e.prev_max;
      idx = e.prev_entry;
    }
    return p;
  };
  for (std::size_t v = 0; v < g.sizes[d - 1]; ++v) {
    const double w = g.top[v];
    if (w == 0) continue;
    const Lists& l = lists[d - 1][v];
    // Signed: the largest values come from max·w (w > 0) or min·w (w < 0); abs: from both ends.
    if (abs_rank || w > 0)
      for (std::uint32_t q = 0; q < l.max.size(); ++q) candidates.push_back(trace(v, true, q));
    if (abs_rank || w < 0)
      for (std::uint32_t q = 0; q < l.min.size(); ++q) candidates.push_back(trace(v, false, q));
  }
  auto key = [abs_rank](const RankedPath& p) { return abs_rank ? std::fabs(p.value) : p.value; };
  std::sort(candidates.begin(), candidates.end(), [&](const RankedPath& a, const RankedPath& b) {
    if (key(a) != key(b)) return key(a) > key(b);
    return std::lexicographical_compare(a.nodes.rbegin(), a.nodes.rend(), b.nodes.rbegin(), b.nodes.rend());
  });
  std::vector<RankedPath> out;
  for (auto& c : candidates) {
    if (out.size() == k) break;
    if (!out.empty() && out.back().nodes == c.nodes) continue;  // the same path from both lists
    bool seen = false;
    for (const auto& o : out) seen = seen || o.nodes == c.nodes;
    if (!seen) out.push_back(std::move(c));
  }
  return out;
}

}  // namespace pathwise
