// The conv VJP δ_in += Wᵀ·δ_out for cotangent rows with few nonzeros (docs/method.md §4.1): below a
// path layer a sweep's rows are +0 but at the layer's kept units (`width` of them), and every
// nonzero adds its weight row (Cin_g × kh × kw) at the input positions its window covers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

namespace kernels {
struct KernelTable;
}

// One row: dx += the scatter of dy's `nonzeros` (ascending), one multiply-add per tap and nonzero.
void conv_back_sparse_row(const Layer& layer, const float* dy, const std::vector<std::uint32_t>& nonzeros, float* dx);

// What conv_back_kept keeps between calls (the per-example plan and each task's scratch).
struct ConvScatterScratch {
  struct Plan {
    std::vector<std::uint32_t> units;         // the kept units whose window meets the input, ascending
    std::vector<std::uint32_t> group_begin;   // groups + 1: the items of group g are [group_begin[g], group_begin[g + 1])
    std::vector<std::uint32_t> tap_begin;     // items + 1
    std::vector<std::uint32_t> tap_position;  // each tap's position within its input plane
    std::vector<float> weights;               // per group: Cin_g × (its taps), channel-major
    bool blocked = false;                     // rows go through the kernel table's conv_scatter
  };
  std::vector<Plan> plans;
  std::vector<std::vector<float>> task_floats;
  std::vector<std::vector<std::uint8_t>> task_skip;
  std::vector<std::vector<std::uint32_t>> task_nonzeros;
  // For tests: every example with rows of at least one kept unit goes through conv_scatter; and the
  // count of examples that did.
  bool force_blocked = false;
  std::size_t blocked_examples = 0;
};

// The conv VJP of `rows` rows (row r of example r / rows_per_example) that are +0 outside the units
// kept[e] (ascending) of their example: target (+)= the scatter of each row's nonzeros, with the
// bits of conv_back_sparse_row on those nonzeros. `fresh`: target holds no values yet (every value
// is written, none read). The rows of an example share their units, so the kernel table's
// conv_scatter takes them L rows at a time when that beats one row at a time. `table`: the kernel
// table to use (null: kernels::active(); tests compare them all).
void conv_back_kept(const Layer& layer, const float* cot, std::size_t rows, std::size_t rows_per_example,
                    const std::vector<std::vector<std::uint32_t>>& kept, float* target, bool fresh,
                    ConvScatterScratch& scratch, const kernels::KernelTable* table = nullptr);

}  // namespace pathwise
