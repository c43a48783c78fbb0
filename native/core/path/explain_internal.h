// Internal to path/: the state one chunk of a batch is explained with, and the saturating size
// arithmetic of the memory budget. explain.cc runs the chunk (selection and the path network),
// memory_budget.cc estimates and checks working memory, decompose.cc and oneway.cc add the
// decomposition and the one-way paths. Nothing outside path/ includes this header.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "../forward/forward.h"
#include "../ir/network.h"
#include "../vjp/vjp.h"
#include "explain.h"
#include "select.h"

namespace pathwise::explain_internal {

// Saturating size arithmetic for the estimate: a network of legal sizes (each tensor < 2^31 values)
// can still need more than 2^64 bytes (C × widest × 12), and a wrapped estimate would let it in.
constexpr std::size_t kSizeMax = ~std::size_t(0);
inline std::size_t sat_add(std::size_t a, std::size_t b) { return a > kSizeMax - b ? kSizeMax : a + b; }
inline std::size_t sat_mul(std::size_t a, std::size_t b) { return a != 0 && b > kSizeMax / a ? kSizeMax : a * b; }

// Floats one example keeps for the whole explanation (memory_budget.cc).
std::size_t cached_floats(const Network& net);
// Per-row floats a sweep from the logits down to layer lo holds at its peak (memory_budget.cc).
std::size_t sweep_row_floats(const Network& net, std::size_t lo);
// With class chunks: the lowest path ordinal still swept with all C classes at once, whose sweep
// state the chunked layers below start from (relus.size(): none; chunks sweep from the logits).
std::size_t checkpoint_ordinal(const Network& net, const ExplainOptions& options);

// The cancellation flag and progress count of one explain call, shared by its chunks (which may
// run on several pool threads at once).
struct Watch {
  const ExplainOptions& opt;
  std::size_t total;
  std::size_t done = 0;
  std::mutex lock;  // one progress call at a time, with done increasing

  // Throws Error(Cancelled) when the caller has asked to stop.
  void check() const;
  // One layer step finished: report it, then stop here if asked.
  void step();
};

// What a Chunk allocates and a later Chunk on the same thread can reuse: the original forward's
// activations, the gated forwards', the sweep's arena and the scoring buffers. Fresh ones cost the
// Fashion CNN's batch-1 explanation ~13 % in malloc, page faults and zero-fills (perf).
struct ChunkBuffers {
  Activations orig, upper, fin;
  Sweep sweep;
  std::vector<std::vector<float>> mask_store;
  ChunkedScores score_work;
  TopScratch top_work;
  std::vector<float> scores;
  std::vector<std::uint8_t> identical;
  std::vector<std::int32_t> order;
};

// State shared by both semantics while one chunk is explained.
struct Chunk {
  const Network& net;
  const float* x;
  std::size_t n;
  const ExplainOptions& opt;
  const float* region;  // this chunk's part of opt.region (n × d), or null
  ExplainResult* results;
  std::size_t class_chunk;  // < classes: score in class chunks (memory-bounded mode)
  std::size_t held = 0;     // bytes of cached activations the chunk keeps (the estimate's 2 or 3 × cached)
  std::size_t classes, depth, first_path, top;
  std::vector<std::size_t> target;
  Activations orig;  // H0 / L0: the original forward
  Activations upper, fin;  // H1's gated forward, H4's path network forward
  Activations tau;   // with a region: the JVP of x ⊙ mask through the frozen original network
  Frozen frozen;     // the frozen network the sweeps run through
  std::vector<std::vector<float>> mask_store;     // path layer → n × N_l selection (or gate)
  std::vector<const float*> masks;                // what forward passes apply at path layers
  std::vector<std::vector<float>> constant_store; // path layer → n × N_l kept constants (non-ReLU gates)
  std::vector<const float*> mask_constants;       // the constants forward passes add at path layers
  Sweep sweep;
  // Class chunks (class_chunk < classes): path layers with ordinal >= full_from sweep all C classes
  // at once as above; each lower one sweeps class chunk by class chunk into class_sweep, from the
  // state `sweep` was left in at layer checkpoint_hi (while its routing still holds), else from the
  // logits. ChunkedScores keeps what it needs of each chunk (one pass; store_floats per example).
  std::size_t full_from = 0;
  std::size_t checkpoint_hi = 0;
  bool checkpoint_valid = false, entered_chunks = false;
  Sweep class_sweep;
  std::size_t store_floats = 0;
  std::vector<ChunkedScores> chunked_scores;
  float threshold;
  ChunkedScores score_work;
  TopScratch top_work;
  std::vector<float> scores;
  std::vector<std::uint8_t> identical;
  std::vector<std::int32_t> order;
  Watch* watch = nullptr;  // the call's cancellation and progress (null: neither)

  // reuse_buffers: take the buffers this thread's last Chunk left (ChunkBuffers) and leave them for
  // the next; for calls whose working memory is small enough to keep between calls.
  Chunk(const Network& net_, const float* x_, std::size_t n_, const ExplainOptions& opt_, const float* region_,
        std::size_t opt_class_chunk, const std::int32_t* targets, ExplainResult* results_, bool reuse_buffers = false);
  ~Chunk();
  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  bool borrowed = false;
  void swap_buffers(ChunkBuffers& b);

  // The explanation steps (explain.cc).
  // lo: the lowest layer swept (0: p + 1, the path layer's output).
  void sweep_from_logits(std::size_t p, std::size_t lo = 0);
  // Rows of classes [c0, c1) of every example, swept into class_sweep down to layer p.
  void sweep_class_chunk(std::size_t p, std::size_t c0, std::size_t c1);
  // The first class-chunked step: keeps the sweep state as the checkpoint (if there is one).
  void enter_class_chunks();
  std::vector<float>& select(std::size_t o, std::size_t p);
  // Selection from the max pool above a path layer (explain.cc); pooled_step: this step does it,
  // pool_swept: the pool's VJP has run (the sweep holds the path layer's cotangent).
  bool pooled(std::size_t o, std::size_t p) const;
  bool select_pooled(std::size_t o, std::size_t p, const std::vector<float>& h, std::vector<float>& mask);
  bool pooled_step = false, pool_swept = false;
  std::vector<float> pooled_h;
  void select_official();
  void select_linear();
  void freeze_gate_piece(std::size_t p, bool official);
  void finish();
  Frozen frozen_for(std::size_t e) const;

  // Working memory known only at run time (memory_budget.cc).
  void check_budget(std::size_t need, const char* what, const char* advice) const;
  std::size_t vjp_bytes(std::size_t rows, std::size_t end) const;

  // A path layer's components (decompose.cc).
  void decompose(std::size_t e, std::size_t o, std::size_t pk, const float* delta_all, const float* z_all,
                 double bias_above);

  // The one-way paths (oneway.cc).
  std::vector<float> block_jvp(std::size_t e, std::size_t from, std::size_t to, std::vector<float> t,
                               std::size_t rows) const;
  void one_way_paths(std::size_t e, const std::vector<std::vector<float>>& deltas, double bias_above,
                     const Activations& fin);
};

}  // namespace pathwise::explain_internal
