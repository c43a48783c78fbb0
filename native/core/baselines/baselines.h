// Gradient baselines (docs/method.md §9) and unwrapping in the same engine as pathwise: the original network
// at x, one forward pass to freeze gates and pool routing, then batched VJPs (vjp/vjp.h). Every
// method runs a batch of examples (and, for integrated gradients, a batch of path points) as one
// set of matrix products, cut into chunks that fit a memory budget.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../ir/network.h"

namespace pathwise {

enum class BaselineMethod { Saliency, InputXGradient, IntegratedGradients, GuidedBackprop, GuidedGradCam };
// Integrated-gradients quadrature rules on [0, 1] (docs/method.md §9). GaussLegendre and the four
// Riemann rules are captum's approximation methods, computed as captum's approximation_methods.py
// defines them; Trapezoid is the textbook composite rule (steps 1/(n − 1), weights summing to 1),
// which captum does not have: its riemann_trapezoid takes steps of 1/n with halved ends.
enum class IgRule { GaussLegendre, Trapezoid, RiemannLeft, RiemannRight, RiemannMiddle, RiemannTrapezoid };

// The rule an option string names: captum's names ('gausslegendre', 'riemann_left', 'riemann_right',
// 'riemann_middle', 'riemann_trapezoid'), 'gauss-legendre' (the same rule as 'gausslegendre') and
// 'trapezoid' (the textbook rule). Empty for any other string.
std::optional<IgRule> ig_rule_named(const std::string& name);
// "'gauss-legendre', 'gausslegendre', …": for error messages.
extern const char* const kIgRuleNames;
// Fewest points a rule takes: 2 for the Riemann rules (captum asserts n > 1) and the textbook
// trapezoid, 1 for Gauss–Legendre.
std::size_t ig_rule_min_steps(IgRule rule);

struct AttributeOptions {
  BaselineMethod method = BaselineMethod::Saliency;
  // One target per example, or empty: each example's predicted class (lowest index on ties).
  std::vector<std::int32_t> targets;
  // Integrated gradients: number of path points, the quadrature rule, and the baseline x₀ —
  // empty = zeros, input_size values = one baseline for every example, n × input_size = one each.
  std::size_t steps = 50;
  IgRule rule = IgRule::GaussLegendre;
  std::vector<float> baseline;
  // Examples (IG: path points) per engine batch; 0 = as many as fit max_memory_bytes.
  std::size_t chunk = 0;
  // GuidedGradCam: the engine layer whose output is L; -1 = the last MaxPool (docs/method.md §9).
  long layer = -1;
  std::size_t max_memory_bytes = std::size_t(1) << 30;
};

struct AttributeResult {
  std::vector<float> attribution;  // n × input size
  std::vector<float> logits;       // n × C, original network at x
  std::vector<std::int32_t> target, predicted;
  std::vector<double> delta;       // IG: Σ attribution − (f_t(x) − f_t(x₀)) per example; else empty
  long layer = -1;                 // GuidedGradCam: the layer used
};

// Throws Error(Range) on options that cannot apply (targets, steps, baseline length, layer).
void validate_attribute_options(const Network& net, std::size_t n, const AttributeOptions& options);

// Attributions of the n examples in x (n × input size) to their targets.
AttributeResult attribute(const Network& net, const float* x, std::size_t n, const AttributeOptions& options);

// The GuidedGradCam default: the last MaxPool layer in topological order. Error(Range) if none.
std::size_t default_gradcam_layer(const Network& net);

// Quadrature on [0, 1], ascending α, in float64 (docs/method.md §9). Gauss–Legendre: nodes by Newton
// iteration, weights summing to 1. Textbook trapezoid: α_i = i/(n − 1), weights 1/(n − 1) with the
// two ends halved (sum 1). Captum's Riemann rules, weights 1/n: left α_i = i/n, right (i + 1)/n,
// middle (i + ½)/n, and riemann_trapezoid α_i = i/(n − 1) with the two end weights halved (sum
// (n − 1)/n, as captum has it). n = 1 for a rule that needs 2 (ig_rule_min_steps) gives the midpoint
// α = ½, weight 1; validation rejects it before.
void quadrature_01(IgRule rule, std::size_t n, std::vector<double>& alpha, std::vector<double>& weight);

// The full local linear model of the original network at x: f(x') = W x' + b on x's linear region.
struct UnwrapResult {
  std::vector<float> weights;    // n × C × input size: W = ∂f/∂x
  std::vector<double> bias;      // n × C: b from the bias terms met on each row's backward pass
  std::vector<float> logits;     // n × C, f(x)
  std::vector<double> residual;  // n × C: W x + b − f(x), in float64 (rounding only)
};

UnwrapResult unwrap(const Network& net, const float* x, std::size_t n, std::size_t chunk = 0,
                    std::size_t max_memory_bytes = std::size_t(1) << 30);

}  // namespace pathwise
