// libFuzzer target over the native core's user-reachable entry points: Network::build (random layer
// specs, weights and geometry, including invalid and absurd ones) and then explain() and
// forward_logits() (random inputs and options) on every network that builds.
//
// The contract checked: every input either builds and explains, or throws pathwise::Error — never
// another exception, a crash, a sanitizer report, a hang or an oversized allocation (libFuzzer's
// -malloc_limit_mb catches an allocation sized from an unchecked number). Results must be
// well-formed (units in range and ascending, vectors of the right lengths), and the working
// memory explain() really allocates must stay within its own estimate (explain_bytes_per_example),
// which is what maxMemoryBytes relies on.
//
// Sizes are bounded so that one execution takes well under a millisecond: a "guided" decoder keeps
// shapes consistent most of the time so the fuzzer reaches explain(), and a "raw" mode feeds the
// builder arbitrary 64-bit geometry to exercise its overflow checks.
//
// Build: cmake -S . -B build-fuzz -G Ninja -DCMAKE_CXX_COMPILER=clang++ -DPATHWISE_FUZZ=ON
//        cmake --build build-fuzz --target pathwise_fuzz_network
// Run:   scripts/fuzz-native.sh [seconds|-runs=N]  (corpus in build-fuzz/corpus)
#include <fuzzer/FuzzedDataProvider.h>
#include <sanitizer/allocator_interface.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <limits>
#include <memory>
#include <vector>

#include "../core/forward/forward.h"
#include "../core/ir/network.h"
#include "../core/path/explain.h"
#include "../core/util/error.h"

// ---------------------------------------------------------------------------------------------
// Allocation accounting through the sanitizer allocator's hooks: live and peak bytes while
// `tracking` (ASan keeps its own checks of new/delete; libFuzzer installs hooks of its own too).

namespace {
std::atomic<bool> tracking{false};
std::atomic<std::size_t> live_bytes{0}, peak_bytes{0};

void on_malloc(const volatile void*, std::size_t n) {
  if (!tracking.load(std::memory_order_relaxed)) return;
  const std::size_t now = live_bytes.fetch_add(n, std::memory_order_relaxed) + n;
  std::size_t peak = peak_bytes.load(std::memory_order_relaxed);
  while (now > peak && !peak_bytes.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

void on_free(const volatile void* p) {
  if (!tracking.load(std::memory_order_relaxed) || !p) return;
  const std::size_t n = __sanitizer_get_allocated_size(const_cast<const void*>(p));
  std::size_t live = live_bytes.load(std::memory_order_relaxed);
  // Blocks allocated before tracking started are freed without having been counted.
  while (!live_bytes.compare_exchange_weak(live, live > n ? live - n : 0, std::memory_order_relaxed)) {
  }
}

[[maybe_unused]] const int hooks_installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
}  // namespace

namespace {

using pathwise::LayerDesc;
using pathwise::LayerKind;
using pathwise::Shape;

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_network: invariant violated: %s\n", what);
  std::abort();
}

// A float from the input: mostly small and finite, sometimes extreme.
float fuzz_float(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 15)) {
    case 0: return std::numeric_limits<float>::quiet_NaN();
    case 1: return in.ConsumeBool() ? std::numeric_limits<float>::infinity() : -std::numeric_limits<float>::infinity();
    case 2: return in.ConsumeBool() ? 3e38f : -3e38f;
    case 3: return std::numeric_limits<float>::denorm_min();
    case 4: return 0.0f;
    case 5: {  // any bit pattern
      const std::uint32_t bits = in.ConsumeIntegral<std::uint32_t>();
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default: return float(in.ConsumeIntegralInRange<int>(-1000, 1000)) / 256.0f;
  }
}

// Weights: finite small values unless the input asks for trouble (rarely, so most models build).
void fill(FuzzedDataProvider& in, std::vector<float>& v, bool wild) {
  for (float& x : v) x = wild ? fuzz_float(in) : float(in.ConsumeIntegralInRange<int>(-256, 256)) / 128.0f;
}

std::size_t sweep_extent(std::size_t in, std::size_t k, std::size_t s, std::size_t pb, std::size_t pe,
                         std::size_t d, bool ceil_mode) {
  const std::size_t padded = in + pb + pe, span = d * (k - 1) + 1;
  if (k == 0 || s == 0 || d == 0 || span > padded) return 0;
  std::size_t out = (padded - span) / s + 1;
  if (ceil_mode && (padded - span) % s != 0) {
    ++out;
    if ((out - 1) * s >= in + pb) --out;
  }
  return out;
}

// A size near `good`, usually equal to it: what a slightly wrong loader would pass.
std::size_t near(FuzzedDataProvider& in, std::size_t good) {
  switch (in.ConsumeIntegralInRange<int>(0, 31)) {
    case 0: return good + 1;
    case 1: return good == 0 ? 0 : good - 1;
    case 2: return 0;
    default: return good;
  }
}

// A gate's parameters (docs/semantics.md "Gates beyond ReLU"): ReLU two times in three, else
// bounds (±∞ at times, crossed at times), a lower value and 1 or C slopes (or a wrong count).
void fuzz_gate(FuzzedDataProvider& in, pathwise::GateParams& g, std::size_t channels, bool wild) {
  if (in.ConsumeIntegralInRange<int>(0, 2) != 0) return;
  const float inf = std::numeric_limits<float>::infinity();
  const auto value = [&] {
    return wild && in.ConsumeIntegralInRange<int>(0, 7) == 0 ? fuzz_float(in) : float(in.ConsumeIntegralInRange<int>(-8, 8)) / 4.0f;
  };
  g.lower = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? -inf : value();
  g.upper = in.ConsumeIntegralInRange<int>(0, 3) == 0 ? inf : in.ConsumeIntegralInRange<int>(0, 15) == 0 ? value() : g.lower + std::fabs(value());
  if (std::isnan(g.upper)) g.upper = inf;  // −∞ + |x| for a finite lower is fine; only the NaN of −∞ + ∞ is not meant
  g.lower_value = value();
  g.slope.resize(near(in, in.ConsumeBool() || channels > 4096 ? 1 : channels));  // (raw shapes can be huge)
  for (float& v : g.slope) v = value();
}

// 64-bit geometry for raw mode: small, near a power of two, or the extremes.
std::size_t raw_size(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange<int>(0, 7)) {
    case 0: return 0;
    case 1: return std::size_t(1) << in.ConsumeIntegralInRange<int>(0, 63);
    case 2: return (std::size_t(1) << in.ConsumeIntegralInRange<int>(1, 63)) - 1;
    case 3: return std::numeric_limits<std::size_t>::max();
    case 4: return in.ConsumeIntegral<std::size_t>();
    default: return in.ConsumeIntegralInRange<std::size_t>(0, 9);
  }
}

struct Built {
  Shape input;
  std::vector<LayerDesc> descs;
  std::vector<std::vector<float>> storage;  // weights and biases the descs point into
};

// Decodes a network. Guided mode mirrors the builder's shape rules so that most networks are
// valid; each field is sometimes perturbed so that the rejections are exercised too.
void decode_network(FuzzedDataProvider& in, Built& b) {
  const bool raw = in.ConsumeIntegralInRange<int>(0, 15) == 0;
  const bool wild = in.ConsumeIntegralInRange<int>(0, 7) == 0;
  b.input = {in.ConsumeIntegralInRange<std::size_t>(1, 4), in.ConsumeIntegralInRange<std::size_t>(1, 8),
             in.ConsumeIntegralInRange<std::size_t>(1, 8)};
  if (raw && in.ConsumeBool()) b.input = {raw_size(in), raw_size(in), raw_size(in)};
  const std::size_t count = in.ConsumeIntegralInRange<std::size_t>(1, 12);
  b.storage.reserve(2 * count + 2);
  std::vector<Shape> shapes;  // guided: the output shape of each layer
  auto shape_of = [&](int p) { return p < 0 ? b.input : shapes[std::size_t(p)]; };
  for (std::size_t i = 0; i < count; ++i) {
    LayerDesc d;
    const bool last = i + 1 == count;
    // The last layer is usually a dense head (a valid network must end in one).
    d.kind = last && in.ConsumeIntegralInRange<int>(0, 7) != 0
                 ? LayerKind::Dense
                 : LayerKind(in.ConsumeIntegralInRange<int>(0, int(LayerKind::Gather)));
    if (d.kind == LayerKind::Add) {
      d.inputs = {int(i) - 1, in.ConsumeIntegralInRange<int>(-1, int(i) - 1)};
    } else if (d.kind == LayerKind::Concat) {  // 2 or 3 producers, sometimes the same one twice
      d.inputs = {int(i) - 1, in.ConsumeIntegralInRange<int>(-1, int(i) - 1)};
      if (in.ConsumeBool()) d.inputs.push_back(in.ConsumeIntegralInRange<int>(-1, int(i) - 1));
      if (in.ConsumeIntegralInRange<int>(0, 31) == 0) d.inputs.resize(1);
    } else if (in.ConsumeIntegralInRange<int>(0, 15) == 0) {
      d.inputs = {in.ConsumeIntegralInRange<int>(-3, int(i) + 1)};  // possibly a forward edge
    }
    if (in.ConsumeIntegralInRange<int>(0, 63) == 0) d.inputs.push_back(in.ConsumeIntegralInRange<int>(-2, int(i)));
    const int src = d.inputs.empty() ? int(i) - 1 : d.inputs[0];
    const bool src_ok = src >= -1 && src < int(i);
    Shape s = src_ok ? shape_of(src) : Shape{1, 1, 1};
    // Reading the producer as another shape (a flatten or reshape): the flattened vector, or junk.
    if (in.ConsumeIntegralInRange<int>(0, 7) == 0) s = {s.size(), 1, 1};
    if (in.ConsumeIntegralInRange<int>(0, 31) == 0) s = {near(in, s.c), near(in, s.h), near(in, s.w)};
    if (raw && in.ConsumeBool()) s = {raw_size(in), raw_size(in), raw_size(in)};
    d.in_shape = (d.kind == LayerKind::Dense && in.ConsumeBool()) ? Shape{s.size(), 1, 1} : s;
    if (in.ConsumeIntegralInRange<int>(0, 31) == 0) d.in_shape = {0, 0, 0};  // "take the producer's"
    Shape out = s;
    pathwise::Window& w = d.window;
    switch (d.kind) {
      case LayerKind::Dense: {
        d.out_features = last ? in.ConsumeIntegralInRange<std::size_t>(1, 6) : in.ConsumeIntegralInRange<std::size_t>(1, 16);
        if (raw && in.ConsumeBool()) d.out_features = raw_size(in);
        const std::size_t in_size = d.in_shape.size() == 0 ? s.size() : d.in_shape.size();
        std::size_t len = d.out_features <= 64 && in_size <= 4096 ? d.out_features * in_size : 0;
        len = near(in, len);
        b.storage.emplace_back(len);
        fill(in, b.storage.back(), wild);
        d.weights = in.ConsumeIntegralInRange<int>(0, 63) == 0 ? nullptr : b.storage.back().data();
        d.weights_len = b.storage.back().size();
        out = {d.out_features, 1, 1};
        break;
      }
      case LayerKind::Conv:
      case LayerKind::MaxPool:
      case LayerKind::AvgPool: {
        const bool conv = d.kind == LayerKind::Conv;
        w.kh = in.ConsumeIntegralInRange<std::size_t>(conv ? 1 : 1, 4);
        w.kw = in.ConsumeIntegralInRange<std::size_t>(1, 4);
        w.sh = in.ConsumeIntegralInRange<std::size_t>(1, 3);
        w.sw = in.ConsumeIntegralInRange<std::size_t>(1, 3);
        w.dh = in.ConsumeIntegralInRange<std::size_t>(1, 2);
        w.dw = in.ConsumeIntegralInRange<std::size_t>(1, 2);
        w.pt = in.ConsumeIntegralInRange<std::size_t>(0, 2);
        w.pl = in.ConsumeIntegralInRange<std::size_t>(0, 2);
        w.pb = in.ConsumeIntegralInRange<std::size_t>(0, 2);
        w.pr = in.ConsumeIntegralInRange<std::size_t>(0, 2);
        w.ceil_mode = !conv && in.ConsumeBool();
        w.count_include_pad = in.ConsumeBool();
        if (in.ConsumeIntegralInRange<int>(0, 31) == 0) (in.ConsumeBool() ? w.sh : w.kw) = 0;
        if (raw) {
          std::size_t* fields[] = {&w.kh, &w.kw, &w.sh, &w.sw, &w.dh, &w.dw, &w.pt, &w.pl, &w.pb, &w.pr};
          for (std::size_t* f : fields)
            if (in.ConsumeBool()) *f = raw_size(in);
        }
        const Shape& is = d.in_shape.size() == 0 ? s : d.in_shape;
        const std::size_t oh = sweep_extent(is.h, w.kh, w.sh, w.pt, w.pb, w.dh, w.ceil_mode);
        const std::size_t ow = sweep_extent(is.w, w.kw, w.sw, w.pl, w.pr, w.dw, w.ceil_mode);
        if (conv) {
          d.groups = in.ConsumeIntegralInRange<std::size_t>(0, 8) == 0 ? 0 : in.ConsumeIntegralInRange<std::size_t>(1, 2);
          if (d.groups == 2 && is.c % 2 != 0) d.groups = 1;
          if (in.ConsumeIntegralInRange<int>(0, 15) == 0) d.groups = in.ConsumeIntegralInRange<std::size_t>(0, 4);
          if (raw && in.ConsumeBool()) d.groups = raw_size(in);
          d.out_features = in.ConsumeIntegralInRange<std::size_t>(1, 4) * std::max<std::size_t>(1, std::min<std::size_t>(d.groups, 4));
          if (raw && in.ConsumeBool()) d.out_features = raw_size(in);
          const std::size_t g = std::max<std::size_t>(d.groups, 1);
          std::size_t len = 0;
          if (is.c <= 64 && w.kh <= 8 && w.kw <= 8 && d.out_features <= 64) len = d.out_features * (is.c / g) * w.kh * w.kw;
          len = near(in, len);
          b.storage.emplace_back(len);
          fill(in, b.storage.back(), wild);
          d.weights = b.storage.back().data();
          d.weights_len = len;
          out = {d.out_features, oh, ow};
        } else {
          out = {is.c, oh, ow};
        }
        break;
      }
      case LayerKind::Affine: {
        const std::size_t c = d.in_shape.size() == 0 ? s.c : d.in_shape.c;
        const std::size_t len = c <= 4096 ? near(in, c) : 0;
        b.storage.emplace_back(len);
        fill(in, b.storage.back(), wild);
        d.weights = b.storage.back().data();
        d.weights_len = len;
        break;
      }
      case LayerKind::Relu:
      case LayerKind::Add:
        out = src_ok ? shape_of(src) : s;
        if (d.kind == LayerKind::Relu) fuzz_gate(in, d.gate, out.c, wild);
        break;
      case LayerKind::Concat: {
        // The builder's rule: channels add up when every H × W agrees, else the flat sum.
        std::size_t total = 0, channels = 0;
        bool agree = true;
        for (int p : d.inputs) {
          const Shape ps = p >= -1 && p < int(i) ? shape_of(p) : Shape{1, 1, 1};
          total += ps.size();
          channels += ps.c;
          agree = agree && ps.h == out.h && ps.w == out.w;
        }
        out = agree ? Shape{channels, out.h, out.w} : Shape{total, 1, 1};
        break;
      }
      case LayerKind::Gather: {
        // A crop or pad of H and W (or junk): map entries mostly in range, sometimes -1 or beyond.
        const Shape& is = d.in_shape.size() == 0 ? s : d.in_shape;
        d.out_shape = {is.c, in.ConsumeIntegralInRange<std::size_t>(1, 8), in.ConsumeIntegralInRange<std::size_t>(1, 8)};
        if (raw && in.ConsumeBool()) d.out_shape = {raw_size(in), raw_size(in), raw_size(in)};
        const std::size_t len = d.out_shape.size() <= 4096 ? near(in, d.out_shape.size()) : 0;
        const std::size_t in_size = std::min<std::size_t>(is.size(), 1 << 20);
        for (std::size_t o = 0; o < len; ++o)
          d.map.push_back(in.ConsumeIntegralInRange<int>(0, 7) == 0
                              ? in.ConsumeIntegralInRange<std::int32_t>(-2, std::int32_t(in_size) + 1)
                              : std::int32_t(in.ConsumeIntegralInRange<std::size_t>(0, in_size - 1)));
        d.fill = wild && in.ConsumeBool() ? fuzz_float(in) : float(in.ConsumeIntegralInRange<int>(-4, 4));
        out = d.out_shape;
        break;
      }
    }
    if (d.kind == LayerKind::Dense || d.kind == LayerKind::Conv || d.kind == LayerKind::Affine) {
      const int mode = in.ConsumeIntegralInRange<int>(0, 3);
      if (mode != 0 || d.kind == LayerKind::Affine) {
        const std::size_t len = std::min<std::size_t>(near(in, out.c), 4096);
        b.storage.emplace_back(len);
        fill(in, b.storage.back(), wild);
        d.bias = b.storage.back().data();
        d.bias_len = len;
      }
    }
    if (out.size() == 0 || out.size() > (std::size_t(1) << 20)) out = {1, 1, 1};
    shapes.push_back(out);
    b.descs.push_back(d);
  }
}

void check_results(const pathwise::Network& net, const std::vector<pathwise::ExplainResult>& rs, std::size_t n,
                   const pathwise::ExplainOptions& opt) {
  if (rs.size() != n) fail("one result per input");
  const std::size_t relus = net.relu_positions().size();
  const std::size_t depth = opt.depth == 0 ? relus : opt.depth;
  for (std::size_t e = 0; e < n; ++e) {
    const auto& r = rs[e];
    if (r.logits.size() != net.num_classes() || r.path_logits.size() != net.num_classes()) fail("logits length");
    if (r.weights.size() != net.input_size() || r.attribution.size() != net.input_size()) fail("attribution length");
    if (r.target < 0 || std::size_t(r.target) >= net.num_classes()) fail("target in range");
    if (r.layers.size() != depth) fail("one layer result per path layer");
    for (std::size_t l = 0; l < depth; ++l) {
      const auto& lr = r.layers[l];
      if (lr.ordinal != relus - depth + l) fail("path layers bottom to top");
      const std::size_t units = net.layers()[net.relu_positions()[lr.ordinal]].out_size();
      const auto& u = lr.selection.units;
      if (u.empty()) fail("a selection is never empty");
      if (u.size() != lr.selection.scores.size()) fail("one score per unit");
      for (std::size_t q = 0; q < u.size(); ++q) {
        if (u[q] < 0 || std::size_t(u[q]) >= units) fail("unit index in range");
        if (q > 0 && u[q] <= u[q - 1]) fail("units ascending");
      }
      if (lr.selection.k < 1 || lr.selection.k > units) fail("k in [1, N]");
    }
    if (opt.decompose.by != pathwise::DecomposeOptions::By::None) {
      if (!r.has_decomposition) fail("decomposition present");
      for (const auto& c : r.decomposition.components)
        if (c.weights.size() != net.input_size() || c.attribution.size() != net.input_size()) fail("component length");
    }
    if (opt.paths.k > 0) {
      if (!r.has_paths || r.paths.paths.size() > opt.paths.k) fail("at most k one-way paths");
      for (const auto& path : r.paths.paths) {
        if (path.units.size() != depth || path.weights.size() != net.input_size()) fail("path shape");
        for (std::size_t j = 0; j < depth; ++j) {
          const std::size_t units = net.layers()[net.relu_positions()[relus - depth + j]].out_size();
          if (path.units[j] < 0 || std::size_t(path.units[j]) >= units) fail("path unit in range");
        }
      }
    }
    if (!opt.region.empty() && (!r.has_region || r.region_attribution.size() != net.input_size())) fail("region length");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  Built b;
  decode_network(in, b);
  std::unique_ptr<pathwise::Network> net;
  try {
    net = std::make_unique<pathwise::Network>(pathwise::Network::build(b.input, b.descs));
  } catch (const pathwise::Error&) {
    return 0;  // rejected: the expected outcome for most malformed networks
  }
  // A network that builds must be small here (the decoder's sizes are bounded), unless raw mode
  // found geometry the builder accepted: that must still be within its own limits.
  if (net->input_size() == 0 || net->num_classes() < 2 || net->relu_positions().empty()) fail("build postconditions");

  const std::size_t d = net->input_size();
  const std::size_t n = in.ConsumeIntegralInRange<std::size_t>(1, 3);
  pathwise::ExplainOptions opt;
  opt.semantics = in.ConsumeBool() ? pathwise::Semantics::Official : pathwise::Semantics::Linear;
  switch (in.ConsumeIntegralInRange<int>(0, 3)) {
    case 0: break;
    case 1:
      opt.width = {pathwise::WidthRule::Mode::Count, double(in.ConsumeIntegralInRange<int>(-1, 40))};
      break;
    case 2:
      opt.width = {pathwise::WidthRule::Mode::Percent, double(in.ConsumeIntegralInRange<int>(-10, 1100)) / 10.0};
      break;
    default:
      opt.width = {in.ConsumeBool() ? pathwise::WidthRule::Mode::Count : pathwise::WidthRule::Mode::Percent,
                   double(fuzz_float(in)) * (in.ConsumeBool() ? 1e280 : 1.0)};
  }
  const std::size_t relus = net->relu_positions().size();
  opt.depth = in.ConsumeIntegralInRange<std::size_t>(0, relus + 1);
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0)
    opt.threshold = in.ConsumeBool() ? fuzz_float(in) : float(in.ConsumeIntegralInRange<int>(0, 100)) / 100.0f;
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    const std::size_t len = near(in, n);
    for (std::size_t e = 0; e < len; ++e)
      opt.targets.push_back(in.ConsumeIntegralInRange<std::int32_t>(-1, std::int32_t(net->num_classes())));
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    using By = pathwise::DecomposeOptions::By;
    opt.decompose.by = By(in.ConsumeIntegralInRange<int>(1, 3));
    opt.decompose.top = in.ConsumeIntegralInRange<std::size_t>(0, 5);
    opt.decompose.ordinal = in.ConsumeIntegralInRange<std::ptrdiff_t>(-2, std::ptrdiff_t(relus));
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {  // one-way paths (docs/method.md §8), exact or beam
    opt.paths.k = in.ConsumeIntegralInRange<std::size_t>(0, 6);
    opt.paths.abs_rank = in.ConsumeBool();
    if (in.ConsumeBool()) opt.paths.max_edges = in.ConsumeIntegralInRange<std::size_t>(0, 64);
    if (in.ConsumeBool()) opt.paths.beam = in.ConsumeIntegralInRange<std::size_t>(0, 8);
  }
  if (in.ConsumeIntegralInRange<int>(0, 3) == 0) {
    opt.region.resize(near(in, n * d));
    const bool binary = in.ConsumeIntegralInRange<int>(0, 7) != 0;
    for (float& v : opt.region) v = binary ? float(in.ConsumeBool()) : fuzz_float(in);
  }
  // Small bounds force chunking (and, below one example's need, the memory error).
  if (in.ConsumeBool()) opt.max_memory_bytes = in.ConsumeIntegralInRange<std::size_t>(0, 1 << 16);
  std::vector<float> x(n * d);
  const bool wild_input = in.ConsumeIntegralInRange<int>(0, 7) == 0;
  for (float& v : x) v = wild_input ? fuzz_float(in) : float(in.ConsumeIntegralInRange<int>(-512, 512)) / 128.0f;

  if (std::getenv("PATHWISE_FUZZ_DUMP")) {  // what a reproducer needs to know
    static const char* kinds[] = {"dense", "conv", "relu", "maxpool", "avgpool", "affine", "add", "concat", "gather"};
    std::fprintf(stderr, "input [%zu, %zu, %zu], n %zu\n", b.input.c, b.input.h, b.input.w, n);
    for (std::size_t i = 0; i < net->layers().size(); ++i) {
      const auto& l = net->layers()[i];
      const auto& w = l.window;
      std::fprintf(stderr, "  %zu %s in [%zu,%zu,%zu] out [%zu,%zu,%zu] inputs %d%s k %zux%zu s %zux%zu p %zu,%zu,%zu,%zu d %zux%zu g %zu\n", i,
                   kinds[int(l.kind)], l.in_shape.c, l.in_shape.h, l.in_shape.w, l.out_shape.c, l.out_shape.h, l.out_shape.w,
                   l.inputs[0], l.inputs.size() > 1 ? ("," + std::to_string(l.inputs[1])).c_str() : "", w.kh, w.kw, w.sh, w.sw,
                   w.pt, w.pl, w.pb, w.pr, w.dh, w.dw, l.groups);
    }
    std::fprintf(stderr, "options: semantics %d width %d/%g depth %zu threshold %g targets %zu decompose %d/%zu/%td paths %zu/%d/%zu/%zu region %zu max_memory %zu\n",
                 int(opt.semantics), int(opt.width.mode), opt.width.value, opt.depth, double(opt.threshold), opt.targets.size(),
                 int(opt.decompose.by), opt.decompose.top, opt.decompose.ordinal, opt.paths.k, int(opt.paths.abs_rank),
                 opt.paths.max_edges, opt.paths.beam, opt.region.size(), opt.max_memory_bytes);
  }
  std::vector<pathwise::ExplainResult> results;
  bool explained = false;
  live_bytes = 0;
  peak_bytes = 0;
  tracking = true;
  try {
    results = pathwise::explain(*net, x.data(), n, opt);
    explained = true;
  } catch (const pathwise::Error&) {
  }
  tracking = false;
  if (explained) {
    check_results(*net, results, n, opt);
    // Only meaningful for options explain() accepted (it validates them first).
    const std::size_t per_example =
        pathwise::explain_bytes_per_example(*net, opt, pathwise::class_chunk_for(*net, opt));
    // The working memory of one chunk must stay within the estimate for that chunk; what explain
    // returns (the results) is output, not working memory, so it is allowed on top.
    const std::size_t chunk = std::min<std::size_t>(n, pathwise::explain_chunk_examples(*net, opt, per_example));
    const std::size_t fixed = pathwise::explain_fixed_bytes(*net);
    std::size_t output = 0;
    for (const auto& r : results) {
      output += sizeof(r) + 4 * (r.logits.size() + r.path_logits.size() + r.weights.size() + r.attribution.size() +
                                 r.region_attribution.size());
      for (const auto& l : r.layers) output += sizeof(l) + 8 * l.selection.units.size();
      for (const auto& c : r.decomposition.components)
        output += sizeof(c) + 4 * (c.units.size() + c.weights.size() + c.attribution.size());
      for (const auto& p : r.paths.paths) output += sizeof(p) + 4 * (p.units.size() + p.weights.size());
    }
    // Decompositions and the path search check their own working memory against what
    // maxMemoryBytes leaves (their row counts are known only at run time).
    const bool runtime_checked = opt.decompose.by != pathwise::DecomposeOptions::By::None || opt.paths.k > 0;
    const std::size_t bound = std::max(chunk * per_example + fixed, runtime_checked ? opt.max_memory_bytes : 0);
    const std::size_t allowed = bound + output + n * 4 * (opt.region.size() + 1) + 8192;
    static double worst = 0;
    const double ratio = double(peak_bytes.load()) / double(chunk * per_example + fixed);
    if (ratio > worst) {
      worst = ratio;
      if (std::getenv("PATHWISE_FUZZ_MEMORY_REPORT"))
        std::fprintf(stderr, "memory: peak %zu bytes = %.3f x the estimate for %zu example(s) (%zu each; output %zu)\n",
                     peak_bytes.load(), ratio, chunk, per_example, output);
    }
    if (peak_bytes > allowed) fail("explain used more memory than its estimate");
  }
  if (net->total_activation() * n <= (std::size_t(1) << 22)) {
    try {
      const std::vector<float> logits = pathwise::forward_logits(*net, x.data(), n);
      if (logits.size() != n * net->num_classes()) fail("forward_logits length");
    } catch (const pathwise::Error&) {
    }
  }
  return 0;
}
