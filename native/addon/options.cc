// Option parsing for explain and the baselines (options.h).
#include "options.h"

#include <string>

#include "convert.h"
#include "errors.h"

namespace pathwise_addon {

namespace {

void parse_width(Napi::Env env, Napi::Object o, pathwise::ExplainOptions& opt) {
  using Mode = pathwise::WidthRule::Mode;
  opt.width.mode = expect_choice<Mode>(env, o.Get("widthMode"), "widthMode",
                                      {{"all", Mode::All}, {"count", Mode::Count}, {"percent", Mode::Percent}},
                                      "widthMode must be 'all', 'count' or 'percent'");
  if (opt.width.mode != Mode::All) {
    Napi::Value wv = o.Get("widthValue");
    PATHWISE_THROW_TYPE_ERROR_IF(!wv.IsNumber(), env, "widthValue must be a number");
    opt.width.value = wv.As<Napi::Number>().DoubleValue();
  }
}

void parse_paths(Napi::Env env, Napi::Value v, pathwise::PathsOptions& paths) {
  Napi::Object po = expect_object(env, v, "paths");
  paths.k = expect_size(env, po.Get("k"), "paths.k");
  PATHWISE_THROW_RANGE_ERROR_IF(paths.k == 0, env, "paths.k must be >= 1");
  Napi::Value rank = po.Get("rank");
  if (!rank.IsUndefined()) {
    const auto abs = choice<bool>(string_or_empty(rank), {{"signed", false}, {"abs", true}});
    PATHWISE_THROW_RANGE_ERROR_IF(!abs, env, "paths.rank must be 'signed' or 'abs'");
    paths.abs_rank = *abs;
  }
  paths.max_edges = size_or(env, po.Get("maxEdges"), "paths.maxEdges", paths.max_edges);
  paths.beam = size_or(env, po.Get("beam"), "paths.beam", paths.beam);
}

void parse_decompose(Napi::Env env, Napi::Value v, pathwise::DecomposeOptions& dec) {
  using By = pathwise::DecomposeOptions::By;
  Napi::Object d = expect_object(env, v, "decompose");
  const auto by = choice<By>(string_or_empty(d.Get("by")), {{"unit", By::Unit}, {"channel", By::Channel}, {"top", By::Top}});
  PATHWISE_THROW_RANGE_ERROR_IF(!by, env, "decompose.by must be 'unit', 'channel' or 'top'");
  dec.by = *by;
  if (dec.by == By::Top) dec.top = expect_size(env, d.Get("top"), "decompose.top");
  Napi::Value layer = d.Get("layer");
  if (!layer.IsUndefined()) dec.ordinal = std::ptrdiff_t(expect_size(env, layer, "decompose.layer"));
}

// The research selection rules and objective (docs/research.md); absent keys keep the reference.
void parse_research(Napi::Env env, Napi::Object o, pathwise::ExplainOptions& opt) {
  using Score = pathwise::SelectionRule::Score;
  using Objective = pathwise::ExplainOptions::Objective;
  Napi::Value score = o.Get("score");
  if (!score.IsUndefined())
    opt.rule.score = expect_choice<Score>(env, score, "score", {{"softmax", Score::Softmax}, {"target", Score::Target}},
                                          "score must be 'softmax' or 'target'");
  Napi::Value adaptive = o.Get("adaptiveThreshold");
  if (!adaptive.IsUndefined() && adaptive.ToBoolean())
    opt.rule.threshold = pathwise::SelectionRule::Threshold::Adaptive;
  Napi::Value opposing = o.Get("keepOpposing");
  if (!opposing.IsUndefined()) opt.rule.keep_opposing = opposing.ToBoolean();
  Napi::Value objective = o.Get("objective");
  if (!objective.IsUndefined())
    opt.objective = expect_choice<Objective>(env, objective, "objective",
                                             {{"logit", Objective::Logit}, {"logSoftmax", Objective::LogSoftmax}},
                                             "objective must be 'logit' or 'logSoftmax'");
}

}  // namespace

pathwise::ExplainOptions parse_explain_options(Napi::Env env, Napi::Value v) {
  Napi::Object o = expect_object(env, v, "options");
  pathwise::ExplainOptions opt;
  parse_width(env, o, opt);
  opt.depth = expect_size(env, o.Get("depth"), "depth");
  Napi::Value sem = o.Get("semantics");
  using S = pathwise::Semantics;
  if (!sem.IsUndefined())
    opt.semantics = expect_choice<S>(env, sem, "semantics", {{"official", S::Official}, {"linear", S::Linear}},
                                     "semantics must be 'official' or 'linear'");
  Napi::Value paths = o.Get("paths");
  if (!paths.IsUndefined()) parse_paths(env, paths, opt.paths);
  Napi::Value region = o.Get("region");
  if (!region.IsUndefined()) opt.region = copy_f32(env, region, "region");
  Napi::Value dec = o.Get("decompose");
  if (!dec.IsUndefined()) parse_decompose(env, dec, opt.decompose);
  Napi::Value thr = o.Get("threshold");
  if (!thr.IsUndefined()) {
    PATHWISE_THROW_TYPE_ERROR_IF(!thr.IsNumber(), env, "threshold must be a number");
    const double tv = thr.As<Napi::Number>().DoubleValue();
    PATHWISE_THROW_RANGE_ERROR_IF(!(tv >= 0.0 && tv < 1.0), env, "threshold must be in [0, 1)");
    opt.threshold = float(tv);
  }
  parse_research(env, o, opt);
  opt.targets = copy_optional_i32(env, o.Get("targets"), "targets");
  opt.max_memory_bytes = size_or(env, o.Get("maxMemoryBytes"), "maxMemoryBytes", opt.max_memory_bytes);
  return opt;
}

pathwise::AttributeOptions parse_attribute_options(Napi::Env env, Napi::Value v) {
  Napi::Object o = expect_object(env, v, "options");
  pathwise::AttributeOptions opt;
  using M = pathwise::BaselineMethod;
  const std::string method = expect_string(env, o.Get("method"), "method");
  const auto m = choice<M>(method, {{"saliency", M::Saliency},
                                    {"inputXGradient", M::InputXGradient},
                                    {"integratedGradients", M::IntegratedGradients},
                                    {"guidedBackprop", M::GuidedBackprop},
                                    {"guidedGradCam", M::GuidedGradCam}});
  PATHWISE_THROW_RANGE_ERROR_IF(!m, env, "unknown method " + method);
  opt.method = *m;
  opt.targets = copy_optional_i32(env, o.Get("targets"), "targets");
  opt.steps = size_or(env, o.Get("steps"), "steps", 50);
  Napi::Value rule = o.Get("rule");
  if (!rule.IsUndefined()) {
    const auto named = pathwise::ig_rule_named(expect_string(env, rule, "rule"));
    PATHWISE_THROW_RANGE_ERROR_IF(!named, env, std::string("rule must be ") + pathwise::kIgRuleNames);
    opt.rule = *named;
  }
  Napi::Value base = o.Get("baseline");
  if (!base.IsUndefined() && !base.IsNull()) opt.baseline = copy_f32(env, base, "baseline");
  opt.chunk = size_or(env, o.Get("chunkSize"), "chunkSize", 0);
  Napi::Value layer = o.Get("layer");
  if (!layer.IsUndefined()) opt.layer = long(expect_size(env, layer, "layer"));
  opt.max_memory_bytes = size_or(env, o.Get("maxMemoryBytes"), "maxMemoryBytes", opt.max_memory_bytes);
  return opt;
}

UnwrapOptions parse_unwrap_options(Napi::Env env, Napi::Value v) {
  Napi::Object o = expect_object(env, v, "options");
  UnwrapOptions opt;
  opt.chunk = size_or(env, o.Get("chunkSize"), "chunkSize", opt.chunk);
  opt.max_memory_bytes = size_or(env, o.Get("maxMemoryBytes"), "maxMemoryBytes", opt.max_memory_bytes);
  return opt;
}

pathwise::InsDelOptions parse_insdel_options(Napi::Env env, Napi::Value v) {
  Napi::Object o = expect_object(env, v, "options");
  pathwise::InsDelOptions opt;
  opt.step = size_or(env, o.Get("step"), "step", 0);
  Napi::Value order = o.Get("order");
  using T = pathwise::TieOrder;
  if (!order.IsUndefined())
    opt.order = expect_choice<T>(env, order, "order", {{"stable", T::Stable}, {"reference", T::Reference}},
                                 "order must be 'stable' or 'reference'");
  for (const auto& [key, flag] : {std::pair<const char*, bool*>{"insertion", &opt.insertion},
                                  {"deletion", &opt.deletion},
                                  {"reuse", &opt.reuse}}) {
    Napi::Value value = o.Get(key);
    if (!value.IsUndefined()) *flag = value.ToBoolean();
  }
  opt.classes = copy_optional_i32(env, o.Get("targets"), "targets");
  opt.chunk = size_or(env, o.Get("chunkSize"), "chunkSize", 0);
  opt.max_memory_bytes = size_or(env, o.Get("maxMemoryBytes"), "maxMemoryBytes", opt.max_memory_bytes);
  return opt;
}

}  // namespace pathwise_addon
