#include "conv_back_sparse.h"

#include <algorithm>

#include "../kernels/kernels.h"
#include "../threads/pool.h"

namespace pathwise {

namespace {

// v · w rounded to float before it is added: the scatter is one multiply and one add per term on
// every build (GCC contracts a product into a following add wherever the target has an FMA, as on
// arm64; the kernel table's conv_scatter rounds twice as well).
inline float product(float v, float w) {
#if defined(__has_builtin)
#if __has_builtin(__builtin_assoc_barrier)
  return __builtin_assoc_barrier(v * w);
#endif
#endif
  return v * w;
}

}  // namespace

// δ_in += Wᵀ·δ_out for one row from the nonzeros of δ_out: each adds its weight row (Cin_g × kh ×
// kw) at the input positions its window covers. The sweeps of a path network are this sparse
// above l_min: a masked ReLU leaves `width` units of δ (ops::sparse_nonzeros).
void conv_back_sparse_row(const Layer& layer, const float* dy, const std::vector<std::uint32_t>& nonzeros, float* dx) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * w.kh * w.kw, positions = os.h * os.w, plane = is.h * is.w;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  for (std::uint32_t q : nonzeros) {
    const float v = dy[q];
    const std::size_t co = q / positions, p = q % positions, oy = p / os.w, ox = p % os.w;
    const float* wrow = layer.weights.data() + co * k;
    float* dxg = dx + (co / cout_g) * cin_g * plane;
    // The window's rows and columns inside the input, found once per nonzero (each input value
    // gets one term per nonzero, so the loop order changes no sum).
    const std::ptrdiff_t y0 = std::ptrdiff_t(oy * w.sh) - std::ptrdiff_t(w.pt), x0 = std::ptrdiff_t(ox * w.sw) - std::ptrdiff_t(w.pl);
    std::size_t ky0 = 0, ky1 = w.kh, kx0 = 0, kx1 = w.kw;
    while (ky0 < ky1 && y0 + std::ptrdiff_t(ky0 * w.dh) < 0) ++ky0;
    while (ky1 > ky0 && y0 + std::ptrdiff_t((ky1 - 1) * w.dh) >= ih) --ky1;
    while (kx0 < kx1 && x0 + std::ptrdiff_t(kx0 * w.dw) < 0) ++kx0;
    while (kx1 > kx0 && x0 + std::ptrdiff_t((kx1 - 1) * w.dw) >= iw) --kx1;
    if (ky0 == ky1 || kx0 == kx1) continue;
    const std::size_t taps = w.kh * w.kw;
    if (w.dw == 1 && kx1 - kx0 == 3) {  // the common 3-wide row of a 3×3 window, unrolled
      for (std::size_t ci = 0; ci < cin_g; ++ci) {
        const float* wc = wrow + ci * taps;
        float* dc = dxg + ci * plane;
        for (std::size_t ky = ky0; ky < ky1; ++ky) {
          const float* wr = wc + ky * w.kw + kx0;
          float* row = dc + std::size_t((y0 + std::ptrdiff_t(ky * w.dh)) * iw + x0 + std::ptrdiff_t(kx0));
          const float a0 = product(v, wr[0]), a1 = product(v, wr[1]), a2 = product(v, wr[2]);
          row[0] += a0;
          row[1] += a1;
          row[2] += a2;
        }
      }
      continue;
    }
    for (std::size_t ci = 0; ci < cin_g; ++ci) {
      const float* wc = wrow + ci * taps;
      float* dc = dxg + ci * plane;
      for (std::size_t ky = ky0; ky < ky1; ++ky) {
        const float* wr = wc + ky * w.kw;
        float* row = dc + std::size_t((y0 + std::ptrdiff_t(ky * w.dh)) * iw + x0);
        for (std::size_t kx = kx0; kx < kx1; ++kx) row[kx * w.dw] += product(v, wr[kx]);
      }
    }
  }
}

namespace {

// Rows of one example below which conv_scatter's L-row blocks are not tried: a block of fewer rows
// still pays for L lanes, and a few rows of δ_in stay in the caches for the scalar scatter. AVX-512
// (L = 32), 1 thread, ms for 8 / 12 / 16 rows, scalar vs conv_scatter (the shapes of build_plan's
// table): 512 × 7 × 7 0.96 vs 0.71 / 1.49 vs 0.71 / 3.40 vs 0.69; 1 × 1 stride 2 0.45 vs 0.50 /
// 0.66 vs 0.62 / 1.02 vs 0.63; 128 × 28 × 28 0.71 vs 1.96 / 1.22 vs 2.69 / 1.86 vs 1.56.
constexpr std::size_t kMinBlockRows = 16;

// Examples whose plans (mostly their packed weights) are built before one parallel region over
// their rows, at most this many floats of them (resnet18's layer4 at width 64: 295 K floats each).
constexpr std::size_t kPlanFloats = std::size_t(1) << 22;

// Scatter multiply-adds below which a call runs on the caller's thread alone.
constexpr double kParallelMacs = 1 << 20;

using Plan = ConvScatterScratch::Plan;

// Example e's items (its kept units with a window inside the input), their taps, the weights of
// every tap per input channel, and whether its rows go through conv_scatter. Returns the plan's
// scatter multiply-adds per row.
double build_plan(const Layer& layer, const std::vector<std::uint32_t>& kept, std::size_t rows_per_example,
                  std::size_t lanes, bool force_blocked, Plan& plan) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::size_t groups = layer.groups, cin_g = is.c / groups, cout_g = os.c / groups;
  const std::size_t taps = w.kh * w.kw, k = cin_g * taps, positions = os.h * os.w, plane = is.h * is.w;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  plan.units.clear();
  plan.tap_begin.assign(1, 0);
  plan.tap_position.clear();
  plan.group_begin.assign(groups + 1, 0);
  std::vector<std::uint32_t> tap_index;  // each tap's ky·kw + kx
  for (std::uint32_t q : kept) {
    const std::size_t co = q / positions, p = q % positions, oy = p / os.w, ox = p % os.w;
    const std::ptrdiff_t y0 = std::ptrdiff_t(oy * w.sh) - std::ptrdiff_t(w.pt), x0 = std::ptrdiff_t(ox * w.sw) - std::ptrdiff_t(w.pl);
    const std::size_t before = plan.tap_position.size();
    for (std::size_t ky = 0; ky < w.kh; ++ky) {
      const std::ptrdiff_t y = y0 + std::ptrdiff_t(ky * w.dh);
      if (y < 0 || y >= ih) continue;
      for (std::size_t kx = 0; kx < w.kw; ++kx) {
        const std::ptrdiff_t x = x0 + std::ptrdiff_t(kx * w.dw);
        if (x < 0 || x >= iw) continue;
        plan.tap_position.push_back(std::uint32_t(y * iw + x));
        tap_index.push_back(std::uint32_t(ky * w.kw + kx));
      }
    }
    if (plan.tap_position.size() == before) continue;  // the window misses the input
    plan.units.push_back(q);
    plan.tap_begin.push_back(std::uint32_t(plan.tap_position.size()));
    ++plan.group_begin[co / cout_g + 1];  // kept is ascending, so are the groups
  }
  for (std::size_t g = 0; g < groups; ++g) plan.group_begin[g + 1] += plan.group_begin[g];
  // Per row: the scatter's multiply-adds, and the floats conv_scatter moves (each channel of a
  // group with items, transposed in and out). AVX-512, 1 thread, 256 rows of about 60 kept units,
  // ms for scalar rows vs conv_scatter, moved / multiply-adds in brackets: 512 × 7 × 7 3 × 3 [0.1] 33 vs 6; 1 × 1
  // stride 2 onto 256 × 14 × 14 [3.4] 25 vs 8; 128 × 28 × 28 [1.7] 38 vs 36 (fresh 27 vs 11);
  // 64 × 56 × 56 [5.7] 33 vs 34 (fresh 15 vs 19); the same with 10 units [35] 8 vs 33; 64 ×
  // 112 × 112 [21] 59 vs 139. Both are memory-bound once δ_in outgrows the caches.
  double macs = 0.0, moved = 0.0;
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t a = plan.group_begin[g], b = plan.group_begin[g + 1];
    if (a == b) continue;
    macs += double(cin_g) * double(plan.tap_begin[b] - plan.tap_begin[a]);
    moved += double(cin_g) * double(plane);
  }
  plan.blocked = macs > 0.0 && (force_blocked || (rows_per_example >= kMinBlockRows && lanes > 1 && moved <= 4.0 * macs));
  plan.weights.clear();
  if (!plan.blocked) return macs;
  plan.weights.resize(cin_g * plan.tap_position.size());
  float* out = plan.weights.data();
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t a = plan.group_begin[g], b = plan.group_begin[g + 1];
    for (std::size_t ci = 0; ci < cin_g && a < b; ++ci)
      for (std::size_t i = a; i < b; ++i) {
        const float* wc = layer.weights.data() + std::size_t(plan.units[i] / positions) * k + ci * taps;
        for (std::size_t j = plan.tap_begin[i]; j < plan.tap_begin[i + 1]; ++j) *out++ = wc[tap_index[j]];
      }
  }
  return macs;
}

struct Unit {
  std::size_t example, r0, rows;
};

struct Job {
  const Layer* layer;
  const float* cot;
  float* target;
  bool fresh;
  const std::vector<std::vector<std::uint32_t>>* kept;
  std::size_t first_example;
  ConvScatterScratch* scratch;
  const kernels::KernelTable* table;
  const std::vector<Unit>* units;
  std::size_t tasks;
};

void run_unit(const Job& job, const Unit& u, std::size_t task) {
  const Layer& layer = *job.layer;
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const std::size_t in = is.size(), out = os.size(), plane = is.h * is.w;
  const std::size_t groups = layer.groups, cin_g = is.c / groups;
  const Plan& plan = job.scratch->plans[u.example - job.first_example];
  float* dx = job.target + u.r0 * in;
  if (!plan.blocked) {
    std::vector<std::uint32_t>& nonzeros = job.scratch->task_nonzeros[task];
    const std::vector<std::uint32_t>& kept = (*job.kept)[u.example];
    for (std::size_t r = 0; r < u.rows; ++r) {
      const float* dy = job.cot + (u.r0 + r) * out;
      if (job.fresh) std::fill(dx + r * in, dx + (r + 1) * in, 0.0f);
      nonzeros.clear();
      for (std::uint32_t q : kept)
        if (dy[q] != 0.0f) nonzeros.push_back(q);
      conv_back_sparse_row(layer, dy, nonzeros, dx + r * in);
    }
    return;
  }
  const kernels::KernelTable& table = *job.table;
  const std::size_t lanes = table.scatter_lanes, items = plan.units.size();
  std::vector<float>& floats = job.scratch->task_floats[task];
  std::vector<std::uint8_t>& skip = job.scratch->task_skip[task];
  floats.resize(items * lanes + plane * lanes);
  skip.resize(items);
  float* values = floats.data();
  for (std::size_t i = 0; i < items; ++i) {
    std::size_t zeros = lanes - u.rows;
    const float* column = job.cot + u.r0 * out + plan.units[i];
    for (std::size_t r = 0; r < u.rows; ++r) {
      const float v = column[r * out];
      values[i * lanes + r] = v;
      zeros += v == 0.0f;
    }
    for (std::size_t r = u.rows; r < lanes; ++r) values[i * lanes + r] = 0.0f;
    skip[i] = zeros == lanes;
  }
  for (std::size_t g = 0; g < groups; ++g) {
    const std::size_t a = plan.group_begin[g], b = plan.group_begin[g + 1];
    float* dxg = dx + g * cin_g * plane;
    if (a == b) {  // no item reaches the group's channels
      if (job.fresh)
        for (std::size_t r = 0; r < u.rows; ++r) std::fill(dxg + r * in, dxg + r * in + cin_g * plane, 0.0f);
      continue;
    }
    kernels::ConvScatterArgs args{dxg, in, u.rows, cin_g, plane, job.fresh, b - a, values + a * lanes, skip.data() + a,
                                  plan.tap_begin.data() + a, plan.tap_position.data(),
                                  plan.weights.data() + cin_g * plan.tap_begin[a], values + items * lanes};
    table.conv_scatter(args);
  }
}

void run_task(void* ctx, std::size_t task) {
  const Job& job = *static_cast<const Job*>(ctx);
  const std::vector<Unit>& units = *job.units;
  for (std::size_t j = task * units.size() / job.tasks, end = (task + 1) * units.size() / job.tasks; j < end; ++j)
    run_unit(job, units[j], task);
}

}  // namespace

// Examples are taken in runs whose plans fit kPlanFloats; a run's rows are cut into units of at
// most L rows of one example (the block of a conv_scatter call), and units into contiguous tasks.
// Each unit writes its own rows of δ_in, and a row's arithmetic does not depend on the cut, so the
// result is the same for every thread count and batch size.
void conv_back_kept(const Layer& layer, const float* cot, std::size_t rows, std::size_t rows_per_example,
                    const std::vector<std::vector<std::uint32_t>>& kept, float* target, bool fresh,
                    ConvScatterScratch& scratch, const kernels::KernelTable* table) {
  if (!table) table = &kernels::active();
  const std::size_t lanes = table->scatter_lanes, examples = rows / rows_per_example;
  std::vector<Unit> units;
  for (std::size_t e0 = 0; e0 < examples;) {
    std::size_t e1 = e0, floats = 0;
    double macs = 0.0;
    units.clear();
    while (e1 < examples && (e1 == e0 || floats < kPlanFloats)) {
      if (scratch.plans.size() <= e1 - e0) scratch.plans.resize(e1 - e0 + 1);
      Plan& plan = scratch.plans[e1 - e0];
      macs += double(rows_per_example) * build_plan(layer, kept[e1], rows_per_example, lanes, scratch.force_blocked, plan);
      floats += plan.weights.size();
      scratch.blocked_examples += plan.blocked;
      for (std::size_t r = 0; r < rows_per_example; r += lanes)
        units.push_back({e1, e1 * rows_per_example + r, std::min(lanes, rows_per_example - r)});
      ++e1;
    }
    const std::size_t threads = threads::pool_size();
    const bool parallel = threads > 1 && units.size() > 1 && macs >= kParallelMacs && !threads::in_parallel_region();
    const std::size_t tasks = parallel ? std::min(units.size(), 4 * threads) : 1;
    if (scratch.task_floats.size() < tasks) {
      scratch.task_floats.resize(tasks);
      scratch.task_skip.resize(tasks);
      scratch.task_nonzeros.resize(tasks);
    }
    Job job{&layer, cot, target, fresh, &kept, e0, &scratch, table, &units, tasks};
    if (tasks == 1)
      run_task(&job, 0);
    else
      threads::parallel_for(tasks, threads, run_task, &job);
    e0 = e1;
  }
}

}  // namespace pathwise
