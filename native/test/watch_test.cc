// The core's cancellation flag and progress callback (ExplainOptions::cancel, ::progress): steps
// counted to explain_progress_total, in parallel chunks too; a set flag stops the call with
// Error(Cancelled); results are the same bits with and without them. Part of pathwise_core_test.
#include <atomic>
#include <cstring>
#include <random>
#include <vector>

#include "../core/ir/network.h"
#include "../core/path/explain.h"
#include "../core/util/error.h"

void check_core(bool ok, const char* what, double a, double b);  // core_test.cc

namespace {

pathwise::Network dense_net(std::mt19937& rng, std::vector<std::vector<float>>& store) {
  std::normal_distribution<float> g(0.0f, 0.5f);
  const std::size_t sizes[] = {12, 16, 16, 16, 5};
  std::vector<pathwise::LayerDesc> descs;
  for (std::size_t i = 0; i + 1 < 5; ++i) {
    store.emplace_back(sizes[i] * sizes[i + 1]);
    for (auto& v : store.back()) v = g(rng);
    pathwise::LayerDesc d;
    d.kind = pathwise::LayerKind::Dense;
    d.in_shape = {sizes[i], 1, 1};
    d.out_features = sizes[i + 1];
    d.weights = store.back().data();
    d.weights_len = store.back().size();
    descs.push_back(d);
    if (i + 2 < 5) {
      pathwise::LayerDesc relu;
      relu.kind = pathwise::LayerKind::Relu;
      descs.push_back(relu);
    }
  }
  return pathwise::Network::build({12, 1, 1}, descs);
}

}  // namespace

void test_watch() {
  std::mt19937 rng(17);
  std::vector<std::vector<float>> store;
  const pathwise::Network net = dense_net(rng, store);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  const std::size_t n = 40;  // enough for parallel chunks on a pool of 2 or more
  std::vector<float> x(n * 12);
  for (auto& v : x) v = u(rng);
  pathwise::ExplainOptions plain;
  plain.width = {pathwise::WidthRule::Mode::Count, 4};
  const auto expected = pathwise::explain(net, x.data(), n, plain);

  pathwise::ExplainOptions watched = plain;
  std::atomic<bool> cancel{false};
  std::vector<std::size_t> done;
  std::size_t total = 0;
  watched.cancel = &cancel;
  watched.progress = [&](std::size_t d, std::size_t t) {
    done.push_back(d);
    total = t;
  };
  const auto got = pathwise::explain(net, x.data(), n, watched);
  check_core(total == pathwise::explain_progress_total(net, n, plain), "progress total", double(total), 0);
  check_core(done.size() == total, "one progress call per step", double(done.size()), double(total));
  for (std::size_t i = 0; i < done.size(); ++i) check_core(done[i] == i + 1, "progress increases by one", double(done[i]), double(i + 1));
  bool same = got.size() == expected.size();
  for (std::size_t e = 0; same && e < n; ++e)
    same = got[e].weights.size() == expected[e].weights.size() &&
           std::memcmp(got[e].weights.data(), expected[e].weights.data(), got[e].weights.size() * sizeof(float)) == 0 &&
           got[e].bias == expected[e].bias;
  check_core(same, "the same bits with a cancel flag and progress", 0, 0);

  // Cancelled after the first step: Error(Cancelled), no further progress.
  done.clear();
  watched.progress = [&](std::size_t d, std::size_t) {
    done.push_back(d);
    cancel.store(true);
  };
  bool cancelled = false;
  try {
    pathwise::explain(net, x.data(), 1, watched);
  } catch (const pathwise::Error& e) {
    cancelled = e.kind() == pathwise::Error::Kind::Cancelled;
  }
  check_core(cancelled, "a set flag stops explain with Error(Cancelled)", 0, 0);
  check_core(done.size() == 1, "no step after the cancel", double(done.size()), 1);
  // Already set: nothing runs.
  done.clear();
  cancelled = false;
  try {
    pathwise::explain(net, x.data(), n, watched);
  } catch (const pathwise::Error& e) {
    cancelled = e.kind() == pathwise::Error::Kind::Cancelled;
  }
  check_core(cancelled && done.empty(), "an already-set flag stops explain before any step", double(done.size()), 0);
}
