#include "vjp.h"

#include <algorithm>
#include <cstring>

#include "../forward/forward.h"
#include "block_cache.h"
#include "conv_back_sparse.h"
#include "../kernels/kernels.h"
#include "../threads/pool.h"
#include "../util/error.h"
#include "conv_back_direct.h"

namespace pathwise {

void Sweep::reset(const Network& net, std::size_t rows_, std::size_t rows_per_example_) {
  rows = rows_;
  rows_per_example = rows_per_example_;
  block_floats_ = rows * std::max(net.max_width(), net.num_classes());
  for (std::vector<float>& v : cot) release(v);
  release(input_cot);
  cot.resize(net.layers().size());
  support_from.assign(net.layers().size(), -1);
  gate_support.resize(net.layers().size());
}

void Sweep::release(std::vector<float>& v, std::size_t zeros) {
  // (The count is taken before the move: in the braced list v would be moved from already.)
  const std::size_t known_zeros = std::min(zeros, v.size());
  if (v.capacity() > 0) spare_.push_back({std::move(v), known_zeros});
  v = std::vector<float>();
}

void Sweep::trim() {
  for (Spare& spare : spare_) block_cache::give(spare.v);
  spare_.clear();
}

void Sweep::recycle() {
  for (std::vector<float>& v : cot) block_cache::give(v);
  block_cache::give(input_cot);
  trim();
}

Sweep& Sweep::operator=(Sweep&& other) noexcept {
  if (this != &other) {
    recycle();
    SweepState::operator=(std::move(other));
  }
  return *this;
}

Sweep::~Sweep() { recycle(); }

namespace {

// Blocks of at least this many floats are filled by the pool's threads (a 2-core guest wrote
// 7 GB/s from one thread and 11 from two).
constexpr std::size_t kParallelFloats = std::size_t(1) << 18;

// Runs body(r0, r1, task) over [0, rows) split into contiguous ranges, on the pool when the rows
// hold at least kParallelFloats values. Every row is independent, so the split changes no bit.
template <class Body>
void for_rows(std::size_t rows, std::size_t floats_per_row, Body&& body) {
  const std::size_t threads = threads::pool_size();
  if (threads == 1 || rows < 2 || rows * floats_per_row < kParallelFloats || threads::in_parallel_region()) {
    body(std::size_t(0), rows, std::size_t(0));
    return;
  }
  struct Ctx {
    Body* body;
    std::size_t rows, tasks;
  } ctx{&body, rows, std::min(rows, 4 * threads)};
  threads::parallel_for(ctx.tasks, threads, [](void* c, std::size_t t) {
    const Ctx& x = *static_cast<const Ctx*>(c);
    (*x.body)(t * x.rows / x.tasks, (t + 1) * x.rows / x.tasks, t);
  }, &ctx);
}

// Tasks for_rows may use (the per-task scratch it needs).
std::size_t row_tasks() { return 4 * threads::pool_size(); }

// Runs body(r, u0, u1) over the units [u0, u1) of every row r < rows, on the pool when the rows hold
// at least kParallelFloats values: like for_rows, but a row is also cut (at multiples of `align`
// units) when there are fewer rows than tasks. For elementwise passes whose units are independent
// (or, with `align` a channel's plane, only meet within a channel), so no split changes a bit. An
// explanation's final sweep has one row per example: at batch 1 its ReLU and MaxPool passes over
// VGG16's 3.2 M-unit layers ran on one core while the other waited (5 % of the main thread's
// explanation samples at 2 threads, perf).
// `floats_per_unit`: the values a unit stands for (a channel's plane when the units are channels).
template <class Body>
void for_pieces(std::size_t rows, std::size_t units, std::size_t align, Body&& body, std::size_t floats_per_unit = 1) {
  const std::size_t threads = threads::pool_size(), tasks = 4 * threads;
  if (threads == 1 || rows >= tasks || rows * units * floats_per_unit < kParallelFloats || threads::in_parallel_region()) {
    for_rows(rows, units * floats_per_unit, [&](std::size_t r0, std::size_t r1, std::size_t) {
      for (std::size_t r = r0; r < r1; ++r) body(r, std::size_t(0), units);
    });
    return;
  }
  const std::size_t blocks = (units + align - 1) / align;
  const std::size_t pieces = std::min(blocks, (tasks + rows - 1) / rows);
  struct Ctx {
    Body* body;
    std::size_t units, align, blocks, pieces;
  } ctx{&body, units, align, blocks, pieces};
  threads::parallel_for(rows * pieces, threads, [](void* c, std::size_t t) {
    const Ctx& x = *static_cast<const Ctx*>(c);
    const std::size_t r = t / x.pieces, piece = t % x.pieces;
    const std::size_t b0 = piece * x.blocks / x.pieces, b1 = (piece + 1) * x.blocks / x.pieces;
    (*x.body)(r, b0 * x.align, std::min(x.units, b1 * x.align));
  }, &ctx);
}

}  // namespace

void Sweep::take(std::vector<float>& v, std::size_t size, bool zero) {
  release(v);
  // Best fit among the spares (for a zeroed buffer, one already zero that far first); else the
  // largest, grown (so the arena never holds more buffers than were alive at once).
  std::size_t pick = spare_.size();
  const auto better = [&](const Spare& a, const Spare& b) {
    const bool a_fits = a.v.capacity() >= size, b_fits = b.v.capacity() >= size;
    if (a_fits != b_fits) return a_fits;
    if (!a_fits) return a.v.capacity() > b.v.capacity();
    if (zero) {
      const bool a_clean = a.zeros >= size, b_clean = b.zeros >= size;
      if (a_clean != b_clean) return a_clean;
    }
    return a.v.capacity() < b.v.capacity();
  };
  for (std::size_t i = 0; i < spare_.size(); ++i)
    if (pick == spare_.size() || better(spare_[i], spare_[pick])) pick = i;
  std::size_t zeros = 0;
  if (pick < spare_.size()) {
    v = std::move(spare_[pick].v);
    zeros = spare_[pick].zeros;
    spare_[pick] = std::move(spare_.back());
    spare_.pop_back();
  }
  if (v.capacity() < size) {
    std::vector<float> cached;
    if (size >= block_cache::kMinFloats && block_cache::take(cached, size)) {
      if (v.capacity() > 0) spare_.push_back({std::move(v), zeros});  // too small here; kept for later
      v = std::move(cached);
    } else {
      std::vector<float>().swap(v);
      v.reserve(size < block_cache::kMinFloats ? size : std::max(size, block_floats_));
    }
    zeros = 0;
  }
  // resize only initialises what it adds; a reused buffer's old values stay unless zeroed below.
  if (v.size() > size) v.resize(size);
  const std::size_t kept = v.size();
  v.resize(size);
  if (zero && kept > zeros) {
    float* d = v.data();
    const std::size_t from = zeros;
    for_rows((kept - from + 4095) / 4096, 4096, [&](std::size_t b0, std::size_t b1, std::size_t) {
      std::fill(d + from + b0 * 4096, d + std::min(kept, from + b1 * 4096), 0.0f);
    });
  }
}

namespace {

// The cotangent buffer of producer p. A buffer no earlier consumer has written is taken from the
// arena: zero-filled, or left as it is when the caller writes all of it (fresh = true: the caller
// stores 0 + v, which is what zero-fill-then-add gives, sign of zero included).
// With `zeroed`, a fresh buffer is zero-filled all the same (the caller writes only some values).
float* target_of(const Network& net, Sweep& s, int p, bool* fresh = nullptr, bool zeroed = false) {
  std::vector<float>& t = p < 0 ? s.input_cot : s.cot[std::size_t(p)];
  if (p >= 0 && std::size_t(p) < s.support_from.size()) s.support_from[std::size_t(p)] = -1;  // a write of unknown reach
  const bool empty = t.empty();
  if (fresh) *fresh = empty;
  if (empty) s.take(t, s.rows * (p < 0 ? net.input_size() : net.layers()[std::size_t(p)].out_size()), !fresh || zeroed);
  return t.data();
}

// The units gate layer i keeps per example (its frozen gate's nonzeros), or false when some example
// keeps more than 1/kSparseDivisor of them (the full passes are then as cheap).
bool gate_support_of(const Frozen& frozen, Sweep& s, std::size_t i, std::size_t out) {
  std::vector<std::vector<std::uint32_t>>& lists = s.gate_support[i];
  const std::size_t examples = s.rows / s.rows_per_example;
  lists.resize(examples);
  const float* gate = frozen.gates[i];
  for (std::size_t e = 0; e < examples; ++e)
    if (!ops::sparse_nonzeros(gate + e * out, out, lists[e])) return false;
  return true;
}

// ops::sparse_nonzeros for the sweep's rows (it skips all-zero runs 32 values at a time: the scalar
// scan was 14 % of resnet18 at depth 'all').
bool row_nonzeros(const float* v, std::size_t count, std::vector<std::uint32_t>& nonzeros) {
  return ops::sparse_nonzeros(v, count, nonzeros);
}

// ⟨row, β⟩ of one channel's plane of a cotangent row.
double channel_bias_term(const Layer& layer, const float* row, std::size_t c, std::size_t plane) {
  // Four partial sums: one float64 chain was latency-bound (4 cycles an add) at 13 % of a
  // Fashion-CNN explanation's sweep time (perf).
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  const float* v = row + c * plane;
  std::size_t p = 0;
  for (; p + 4 <= plane; p += 4) {
    s0 += v[p];
    s1 += v[p + 1];
    s2 += v[p + 2];
    s3 += v[p + 3];
  }
  for (; p < plane; ++p) s0 += v[p];
  return ((s0 + s1) + (s2 + s3)) * double(layer.bias[c]);
}

// bias[r] += ⟨δ[r], β⟩ for every row, the channels' terms summed in channel order. The terms are
// computed in pieces of channels on the pool (a batch-1 final sweep has one row: serial, this was
// 0.6 % of the main thread's explanation samples at 2 threads on VGG16, perf), then summed in order.
void accumulate_bias(const Layer& layer, const float* cot, std::size_t rows, double* bias, std::vector<double>& terms) {
  const std::size_t out = layer.out_size(), channels = layer.out_shape.c, plane = out / channels;
  terms.resize(rows * channels);
  for_pieces(rows, channels, 1, [&](std::size_t r, std::size_t c0, std::size_t c1) {
    for (std::size_t c = c0; c < c1; ++c) terms[r * channels + c] = channel_bias_term(layer, cot + r * out, c, plane);
  }, plane);
  for (std::size_t r = 0; r < rows; ++r) {
    double dot = 0.0;
    for (std::size_t c = 0; c < channels; ++c) dot += terms[r * channels + c];
    bias[r] += dot;
  }
}

// A dense layer's δ_in[rows × in] (+)= δ_out[rows × out] · W[out × in]. A row of δ_out with at most
// out / kDenseSparseDivisor nonzeros adds those weight rows (contiguous, `in` floats each) instead
// of joining the product: a path network's sweeps above l_min are that sparse (a masked ReLU keeps
// `width` units), and a product with few rows reads all of W for them — the Fashion MLP's final
// VJP (one row, 16 of 256 units kept at width 16) read 784 × 256 weights for 16 × 784 of work, a
// fifth of its explanation (perf). The product reaches ~16 multiply-adds a cycle on such short
// rows and the scatter ~4, hence 1/8 (a conv's scatter, which walks windows, uses 1/32). Which way
// a row goes depends on that row alone, so a row's result does not depend on the batch.
constexpr std::size_t kDenseSparseDivisor = 8;

void dense_back(const Layer& layer, const float* cot, std::size_t rows, float* target, bool accumulate,
                std::vector<std::uint32_t>& nonzeros) {
  const std::size_t out = layer.out_size(), in = layer.in_size(), limit = out / kDenseSparseDivisor;
  const float* weights = layer.weights.data();
  std::size_t run = 0;  // dense rows [r − run, r) not yet multiplied
  const auto flush = [&](std::size_t end) {
    if (run == 0) return;
    const std::size_t r0 = end - run;
    kernels::active().gemm_nn(run, in, out, cot + r0 * out, out, weights, in, target + r0 * in, in, accumulate);
    run = 0;
  };
  for (std::size_t r = 0; r < rows; ++r) {
    const float* dy = cot + r * out;
    nonzeros.clear();
    bool sparse = true;
    for (std::size_t j = 0; j < out && sparse; ++j)
      if (dy[j] != 0.0f) {
        sparse = nonzeros.size() < limit;
        nonzeros.push_back(std::uint32_t(j));
      }
    if (!sparse) {
      ++run;
      continue;
    }
    flush(r);
    float* __restrict dx = target + r * in;
    if (!accumulate) std::fill(dx, dx + in, 0.0f);
    // Four weight rows per pass over δ_in: one pass a row spent most of its time loading and
    // storing δ_in (perf, Fashion MLP).
    std::size_t q = 0;
    for (; q + 4 <= nonzeros.size(); q += 4) {
      const float v0 = dy[nonzeros[q]], v1 = dy[nonzeros[q + 1]], v2 = dy[nonzeros[q + 2]], v3 = dy[nonzeros[q + 3]];
      const float* __restrict w0 = weights + std::size_t(nonzeros[q]) * in;
      const float* __restrict w1 = weights + std::size_t(nonzeros[q + 1]) * in;
      const float* __restrict w2 = weights + std::size_t(nonzeros[q + 2]) * in;
      const float* __restrict w3 = weights + std::size_t(nonzeros[q + 3]) * in;
      for (std::size_t i = 0; i < in; ++i) dx[i] += (v0 * w0[i] + v1 * w1[i]) + (v2 * w2[i] + v3 * w3[i]);
    }
    for (; q < nonzeros.size(); ++q) {
      const float v = dy[nonzeros[q]];
      const float* __restrict w = weights + std::size_t(nonzeros[q]) * in;
      for (std::size_t i = 0; i < in; ++i) dx[i] += v * w[i];
    }
  }
  flush(rows);
}

// δ_in += Wᵀ·δ_out. Sparse rows scatter their nonzeros; the dense rows of a group share one column
// space: the GEMM's columns run over (row, output position), so the C class rows of a sweep make
// one product of rows·P columns per block instead of one of P per row. A block that spans rows
// gathers their δ_out columns first; col2im then scatters each row's share. Which path a row takes
// depends on that row alone, so a row's result does not depend on the batch. Sparse rows are
// scattered on the pool (each writes its own row of δ_in).
// `fresh`: no other consumer has written target (it is zero-filled, or left unfilled when every row
// takes the direct kernel), so a dense row the direct kernel takes is stored, not added (its sums
// start from +0 and are never −0: the bits zero-filling and adding gave).
void conv_back(const Layer& layer, const float* cot, std::size_t rows, float* target, bool fresh, Sweep& s) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const std::size_t g = layer.groups, cin_g = is.c / g, cout_g = os.c / g;
  const std::size_t k = cin_g * layer.window.kh * layer.window.kw, positions = os.h * os.w;
  const auto& gemm = kernels::active();
  const bool pointwise = ops::conv_is_pointwise(layer);
  s.dense_row.assign(rows, 0);
  if (s.nonzeros.size() < row_tasks()) s.nonzeros.resize(row_tasks());
  for_rows(rows, os.size(), [&](std::size_t r0, std::size_t r1, std::size_t task) {
    std::vector<std::uint32_t>& nonzeros = s.nonzeros[task];
    for (std::size_t r = r0; r < r1; ++r) {
      const float* dy = cot + r * os.size();
      if (row_nonzeros(dy, os.size(), nonzeros))
        conv_back_sparse_row(layer, dy, nonzeros, target + r * is.size());
      else
        s.dense_row[r] = 1;
    }
  });
  std::vector<std::size_t> dense;
  // Dense rows through the direct transposed conv (vjp/conv_back_direct.h): VGG16's final sweep
  // (one row through conv4_3 … conv1_1) spent ~40 % of a width-64 depth-5 explanation in im2col's
  // GEMM and col2im (perf, 1 thread); direct, the explanation went 795 → 725 ms (CPU time).
  const ConvBackPacked* back_packed = nullptr;
  if (layer.back_packed)
    for (std::size_t r = 0; r < rows && !back_packed; ++r)
      if (s.dense_row[r]) back_packed = ops::back_packed_for(layer, gemm);
  std::vector<std::size_t> offsets;
  for (std::size_t r = 0; r < rows; ++r) {
    if (!s.dense_row[r]) continue;
    if (back_packed) {
      ops::conv_back_direct(layer, gemm, *back_packed, cot + r * os.size(), target + r * is.size(), !fresh, s.cols, offsets);
      continue;
    }
    if (!pointwise) {
      dense.push_back(r);
      continue;
    }
    const float* dy = cot + r * os.size();
    for (std::size_t gi = 0; gi < g; ++gi)  // dx (K × P) += Wᵀ (K × Cout_g) · dy (Cout_g × P)
      gemm.gemm_nn(k, positions, cout_g, layer.weights_t.data() + gi * k * cout_g, cout_g,
                   dy + gi * cout_g * positions, positions, target + r * is.size() + gi * cin_g * is.h * is.w,
                   positions, true);
  }
  std::vector<float>& cols = s.cols;
  std::vector<float>& gathered = s.gathered;
  if (dense.empty()) return;
  const std::size_t block = ops::conv_back_block(layer), total = dense.size() * positions;
  cols.resize(k * std::min(block, total));
  for (std::size_t gi = 0; gi < g; ++gi) {
    const float* wt = layer.weights_t.data() + gi * k * cout_g;
    for (std::size_t c0 = 0; c0 < total; c0 += block) {
      const std::size_t count = std::min(block, total - c0), d0 = c0 / positions, p0 = c0 % positions;
      const float* b;
      std::size_t ldb;
      if (p0 + count <= positions) {  // within one row: read δ_out in place
        b = cot + dense[d0] * os.size() + gi * cout_g * positions + p0;
        ldb = positions;
      } else {
        gathered.resize(cout_g * count);
        for (std::size_t o = 0; o < cout_g; ++o)
          for (std::size_t j = 0, d = d0, p = p0; j < count;) {
            const std::size_t run = std::min(count - j, positions - p);
            const float* src = cot + dense[d] * os.size() + (gi * cout_g + o) * positions + p;
            std::copy(src, src + run, gathered.data() + o * count + j);
            j += run;
            ++d;
            p = 0;
          }
        b = gathered.data();
        ldb = count;
      }
      gemm.gemm_nn(k, count, cout_g, wt, cout_g, b, ldb, cols.data(), count, false);
      for (std::size_t j = 0, d = d0, p = p0; j < count;) {
        const std::size_t run = std::min(count - j, positions - p);
        ops::col2im_add(layer, cols.data() + j, count, p, run,
                        target + dense[d] * is.size() + gi * cin_g * is.h * is.w);
        j += run;
        ++d;
        p = 0;
      }
    }
  }
}

void avg_pool_back(const Layer& layer, const float* cot, std::size_t rows, float* target) {
  const Shape &is = layer.in_shape, &os = layer.out_shape;
  const Window& w = layer.window;
  const std::ptrdiff_t ih = std::ptrdiff_t(is.h), iw = std::ptrdiff_t(is.w);
  for (std::size_t r = 0; r < rows; ++r)
    for (std::size_t c = 0; c < os.c; ++c) {
      float* plane = target + r * is.size() + c * is.h * is.w;
      for (std::size_t oy = 0; oy < os.h; ++oy)
        for (std::size_t ox = 0; ox < os.w; ++ox) {
          const float g = cot[r * os.size() + (c * os.h + oy) * os.w + ox] / ops::avg_pool_divisor(layer, oy, ox);
          for (std::size_t ky = 0; ky < w.kh; ++ky) {
            const std::ptrdiff_t y = std::ptrdiff_t(oy * w.sh + ky * w.dh) - std::ptrdiff_t(w.pt);
            if (y < 0 || y >= ih) continue;
            for (std::size_t kx = 0; kx < w.kw; ++kx) {
              const std::ptrdiff_t x = std::ptrdiff_t(ox * w.sw + kx * w.dw) - std::ptrdiff_t(w.pl);
              if (x >= 0 && x < iw) plane[y * iw + x] += g;
            }
          }
        }
    }
}

}  // namespace

void sweep_back(const Network& net, const Frozen& frozen, Sweep& s, std::size_t lo, std::size_t hi, double* bias) {
  const auto& layers = net.layers();
  std::vector<double> bias_terms;
  for (std::size_t i = hi; i-- > lo;) {
    std::vector<float>& own = s.cot[i];
    if (own.empty()) continue;  // nothing flows through this layer
    const Layer& layer = layers[i];
    const float* cot = own.data();
    const std::size_t rows = s.rows, out = layer.out_size(), in = layer.in_size();
    if (bias && layer.has_bias()) accumulate_bias(layer, cot, rows, bias, bias_terms);
    switch (layer.kind) {
      case LayerKind::Dense: {
        // δ_in[rows × in] (+)= δ_out[rows × out] · W[out × in]: sparse rows add their weight rows,
        // runs of dense rows go through one product (dense_back).
        bool fresh = false;
        float* t = target_of(net, s, layer.inputs[0], &fresh);
        if (s.nonzeros.empty()) s.nonzeros.resize(1);
        dense_back(layer, cot, rows, t, !fresh, s.nonzeros[0]);
        break;
      }
      case LayerKind::Conv: {
        const int from = s.support_from[i];
        if (from >= 0) {  // rows +0 but at the kept units: their scatter alone (conv_back_sparse.cc)
          bool fresh = false;
          float* t = target_of(net, s, layer.inputs[0], &fresh);
          conv_back_kept(layer, cot, rows, s.rows_per_example, s.gate_support[std::size_t(from)], t, fresh, s.scatter);
          break;
        }
        // When every row is dense (conv_back's own test) and the direct kernel takes the layer, the
        // rows go straight to it: a fresh target, which it stores all of, needs no zero-fill first
        // (56 MB a call in VGG16's final sweep), and the rows are scanned once, not twice (the
        // scans were 1.6 % of the main thread's explanation samples at 2 threads, perf).
        bool all_dense = from < 0 && layer.back_packed;
        if (all_dense) {
          if (s.nonzeros.empty()) s.nonzeros.resize(1);
          for (std::size_t r = 0; r < rows && all_dense; ++r)
            all_dense = !row_nonzeros(cot + r * out, out, s.nonzeros[0]);
        }
        const ConvBackPacked* packed = all_dense ? ops::back_packed_for(layer, kernels::active()) : nullptr;
        bool fresh = false;
        float* t = target_of(net, s, layer.inputs[0], &fresh, /*zeroed=*/!packed);
        if (packed) {
          std::vector<std::size_t> offsets;
          for (std::size_t r = 0; r < rows; ++r)
            ops::conv_back_direct(layer, kernels::active(), *packed, cot + r * out, t + r * in, !fresh, s.cols, offsets);
          break;
        }
        conv_back(layer, cot, rows, t, fresh, s);
        break;
      }
      case LayerKind::Relu: {
        const float* gate = frozen.gates[i];
        if (!gate) throw Error(Error::Kind::Runtime, "internal: gate layer without a frozen gate");
        const float* constant = i < frozen.constants.size() ? frozen.constants[i] : nullptr;
        const std::size_t per = s.rows_per_example;
        const bool guided = frozen.guided;
        const int producer = layer.inputs[0];
        if (producer >= 0 && s.cot[std::size_t(producer)].empty() && !guided && !(bias && constant) &&
            gate_support_of(frozen, s, i, out)) {
          // A path layer's mask keeps few units: the fresh target is +0 but at those (what
          // 0 + δ·0 gives elsewhere for a finite δ), and its consumer may read only them.
          float* t = target_of(net, s, producer, nullptr);
          const auto& kept = s.gate_support[i];
          for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
            for (std::size_t r = r0; r < r1; ++r) {
              const float* g = gate + (r / per) * out;
              const float* dy = cot + r * out;
              float* dx = t + r * out;
              for (std::uint32_t u : kept[r / per]) dx[u] = 0.0f + dy[u] * g[u];
            }
          });
          s.support_from[std::size_t(producer)] = int(i);
          break;
        }
        bool fresh = false;
        float* t = target_of(net, s, producer, &fresh);
        if (bias && constant)
          for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
            for (std::size_t r = r0; r < r1; ++r) {
              const float* c = constant + (r / per) * out;
              const float* dy = cot + r * out;
              double dot = 0.0;
              for (std::size_t u = 0; u < out; ++u) dot += double(dy[u]) * double(c[u]);
              bias[r] += dot;
            }
          });
        // Pieces of 64 units: whole cache lines per task.
        for_pieces(rows, out, 64, [&](std::size_t r, std::size_t u0, std::size_t u1) {
          const float* g = gate + (r / per) * out;
          const float* dy = cot + r * out;
          float* dx = t + r * out;
          // A fresh target stores 0 + v: what zero-filling and adding gave.
          if (guided && fresh)
            for (std::size_t u = u0; u < u1; ++u) dx[u] = 0.0f + std::max(0.0f, dy[u] * g[u]);
          else if (guided)
            for (std::size_t u = u0; u < u1; ++u) dx[u] += std::max(0.0f, dy[u] * g[u]);
          else if (fresh)
            for (std::size_t u = u0; u < u1; ++u) dx[u] = 0.0f + dy[u] * g[u];
          else
            for (std::size_t u = u0; u < u1; ++u) dx[u] += dy[u] * g[u];
        });
        break;
      }
      case LayerKind::MaxPool: {
        const std::int32_t* win = frozen.winners[i];
        if (!win) throw Error(Error::Kind::Runtime, "internal: MaxPool layer without frozen winners");
        float* t = target_of(net, s, layer.inputs[0]);
        const std::size_t per = s.rows_per_example;
        // A window's winner lies in its own channel: pieces of whole channels write disjoint planes.
        // Row pointers in locals: through the lambda's captures the loop reloaded them after every
        // store (perf annotate: the scatter was 40 % of sweep_back's own samples).
        for_pieces(rows, out, layer.out_shape.h * layer.out_shape.w, [&](std::size_t r, std::size_t o0, std::size_t o1) {
          const std::int32_t* __restrict wr = win + (r / per) * out;
          const float* __restrict dy = cot + r * out;
          float* __restrict dx = t + r * in;
          for (std::size_t o = o0; o < o1; ++o)
            if (wr[o] >= 0) dx[wr[o]] += dy[o];
        });
        break;
      }
      case LayerKind::AvgPool: {
        float* t = target_of(net, s, layer.inputs[0]);
        for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
          avg_pool_back(layer, cot + r0 * out, r1 - r0, t + r0 * in);
        });
        break;
      }
      case LayerKind::Affine: {
        float* t = target_of(net, s, layer.inputs[0]);
        const std::size_t plane = layer.in_shape.h * layer.in_shape.w;
        for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
          for (std::size_t r = r0; r < r1; ++r)
            for (std::size_t c = 0; c < layer.in_shape.c; ++c) {
              const float a = layer.weights[c];
              for (std::size_t p = 0; p < plane; ++p) t[r * in + c * plane + p] += a * cot[r * in + c * plane + p];
            }
        });
        break;
      }
      case LayerKind::Gather: {
        // Scatter-add: an input value read by several outputs receives the sum of their
        // cotangents; a fill value is a constant, entering b_P as ⟨δ_out, fill⟩ over its outputs.
        float* t = target_of(net, s, layer.inputs[0]);
        const std::int32_t* map = layer.map.data();
        for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
          for (std::size_t r = r0; r < r1; ++r) {
            const float* dy = cot + r * out;
            float* dx = t + r * in;
            double constant = 0.0;
            for (std::size_t o = 0; o < out; ++o) {
              if (map[o] >= 0) dx[map[o]] += dy[o];
              else constant += double(dy[o]);
            }
            if (bias) bias[r] += constant * double(layer.fill);
          }
        });
        break;
      }
      case LayerKind::Concat: {
        // Each producer receives its own columns of the cotangent rows (summed if it is read twice).
        std::size_t offset = 0;
        for (int p : layer.inputs) {
          const std::size_t size = net.producer_size(p);
          float* t = target_of(net, s, p);
          for_rows(rows, size, [&](std::size_t r0, std::size_t r1, std::size_t) {
            for (std::size_t r = r0; r < r1; ++r)
              for (std::size_t q = 0; q < size; ++q) t[r * size + q] += cot[r * out + offset + q];
          });
          offset += size;
        }
        break;
      }
      case LayerKind::Add: {
        const int from = s.support_from[i];
        for (int p : layer.inputs) {
          bool fresh = false;
          float* t = target_of(net, s, p, &fresh, from >= 0);
          if (from >= 0 && p >= 0) {
            // The cotangent is +0 but at the kept units: copy or add those alone (adding +0 changes
            // no value a cotangent holds: they are never −0).
            const auto& kept = s.gate_support[std::size_t(from)];
            const std::size_t per = s.rows_per_example;
            for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
              for (std::size_t r = r0; r < r1; ++r) {
                float* dx = t + r * out;
                const float* dy = cot + r * out;
                if (fresh) {
                  for (std::uint32_t u : kept[r / per]) dx[u] = 0.0f + dy[u];
                } else {
                  for (std::uint32_t u : kept[r / per]) dx[u] += dy[u];
                }
              }
            });
            if (fresh) s.support_from[std::size_t(p)] = from;
            continue;
          }
          for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
            if (fresh)
              for (std::size_t q = r0 * out; q < r1 * out; ++q) t[q] = 0.0f + cot[q];
            else
              for (std::size_t q = r0 * out; q < r1 * out; ++q) t[q] += cot[q];
          });
        }
        break;
      }
    }
    // A cotangent known +0 but at its kept units goes back to the arena zeroed (those alone
    // cleared), so the next sweep's zero-filled buffer needs no fill: the fills were a quarter of
    // resnet18 at depth 'all' (perf).
    std::size_t zeros = 0;
    if (s.support_from[i] >= 0) {
      const auto& kept = s.gate_support[std::size_t(s.support_from[i])];
      const std::size_t per = s.rows_per_example;
      float* c = own.data();
      for_rows(rows, out, [&](std::size_t r0, std::size_t r1, std::size_t) {
        for (std::size_t r = r0; r < r1; ++r)
          for (std::uint32_t u : kept[r / per]) c[r * out + u] = 0.0f;
      });
      zeros = own.size();
    }
    s.release(own, zeros);
    s.support_from[i] = -1;
  }
}

}  // namespace pathwise
