// Typings of the published package, checked by tsd (`npm run test:types`) against dist/*.d.ts
// through the package's own "exports" map (the self-import below), the way a user's TypeScript
// sees them. tsd ships its own TypeScript 5.9: it cannot run on TypeScript 7's native compiler,
// which has no JS API, and it does not need to.
import { expectAssignable, expectError, expectNotAssignable, expectType } from 'tsd';
import {
  evaluateMetrics,
  evaluateQuality,
  explain,
  explainBatch,
  explainBatchSync,
  explainSync,
  kernelInfo,
  loadModel,
  loadModelSync,
  Model,
  PathwiseError,
  quadrature,
  type AttributeOptions,
  type DenseLayerSpec,
  type EvalMetric,
  type MetricsReport,
  type QualityExplainer,
  type QualityMetric,
  type QualityReport,
  type Depth,
  type ExplainBatchOptions,
  type ExplainOptions,
  type Explanation,
  type KernelInfo,
  type LayerSpec,
  type LoadOptions,
  type ModelSource,
  type NetworkSpec,
  type PathLayer,
  type PathwiseErrorCode,
  type QuadratureRule,
  type ReluLayerInfo,
  type Width,
} from 'pathwise';

declare const bytes: Uint8Array;
declare const buffer: ArrayBuffer;
declare const x: Float32Array;

// --- loadModel / loadModelSync: every source kind, nothing else --------------------------------
const dense: DenseLayerSpec = { type: 'dense', weights: x, bias: x, in: 4, out: 3 };
const layers: LayerSpec[] = [dense, { type: 'relu' }, { type: 'dense', weights: x, in: 3, out: 2 }];
const spec: NetworkSpec = { inputShape: [4], layers };

expectType<Promise<Model>>(loadModel('model.onnx'));
expectType<Promise<Model>>(loadModel(bytes));
expectType<Promise<Model>>(loadModel(buffer));
expectType<Promise<Model>>(loadModel(layers, { inputShape: [1, 2, 2] }));
expectType<Promise<Model>>(loadModel(spec));
expectType<Model>(loadModelSync('model.onnx'));
expectType<Model>(loadModelSync(layers));
expectAssignable<ModelSource>(spec);
expectAssignable<LoadOptions>({});
expectError(loadModel(42));
expectError(loadModel([{ type: 'softmax' }]));
expectError(loadModel(layers, { inputShape: '4' }));
// Dense weights are Float32Array, not plain arrays (the engine reads them in place).
expectError(loadModel([{ type: 'dense', weights: [1, 2], in: 1, out: 2 }]));

// --- Model -------------------------------------------------------------------------------------
declare const model: Model;
expectType<readonly number[]>(model.inputShape);
expectType<number>(model.inputSize);
expectType<number>(model.numClasses);
expectType<readonly ReluLayerInfo[]>(model.reluLayers);
expectType<boolean>(model.disposed);
expectType<Float32Array>(model.forward(x));
expectType<Float32Array>(model.forward([0, 1, 2, 3]));
expectType<void>(model.dispose());
expectError((model.inputSize = 3));

// --- explain options: width is k, 'P%' or 'all'; depth is d or 'all' ---------------------------
expectType<Promise<Explanation>>(explain(model, x));
expectType<Promise<Explanation>>(explain(model, [0.5, 0.5], { width: 16, depth: 'all' }));
expectType<Promise<Explanation>>(explain(model, x, { width: '10%', depth: 2, target: 3 }));
expectType<Promise<Explanation>>(explain(model, x, { width: '12.5%', semantics: 'official' }));
expectType<Explanation>(explainSync(model, x, { width: 'all' }));
expectAssignable<Width>('0.5%');
expectNotAssignable<Width>('10');
expectNotAssignable<Width>('ten%');
expectNotAssignable<Width>('all%');
expectNotAssignable<Depth>('10%');
expectError(explain(model, x, { width: '10' }));
expectError(explain(model, x, { width: 'half' }));
expectError(explain(model, x, { depth: '2' }));
expectType<Promise<Explanation>>(explain(model, x, { semantics: 'linear', threshold: 0 }));
expectError(explain(model, x, { semantics: 'clean' }));
expectType<Promise<Explanation>>(explain(model, x, { decompose: { by: { top: 3 } }, region: { x: 0, y: 0, width: 4, height: 4 }, paths: { k: 5, rank: 'abs' } }));
expectError(explain(model, x, { decompose: { by: 'neuron' } }));
expectError(explain(model, x, { target: '1' }));
// Unknown option names are rejected at run time; TypeScript's excess property check agrees.
expectError(explain(model, x, { widht: 4 }));
expectError(explain(model, 'not an input'));
expectError(explain('model.onnx', x));

// --- batches -----------------------------------------------------------------------------------
expectType<Promise<Explanation[]>>(explainBatch(model, x, { targets: [0, 1], width: '5%' }));
expectType<Explanation[]>(explainBatchSync(model, x, { targets: new Int32Array(2) }));
expectAssignable<ExplainBatchOptions>({ depth: 1 });
// One target per example in a batch: `target` belongs to explain(), `targets` to explainBatch().
expectError(explainBatch(model, x, { target: 0 }));
expectNotAssignable<ExplainOptions>({ targets: [0] });

// --- Explanation fields ------------------------------------------------------------------------
declare const ex: Explanation;
expectType<Float32Array>(ex.attribution);
expectType<Float32Array>(ex.weights);
expectType<number>(ex.bias);
expectType<number>(ex.target);
expectType<number>(ex.predicted);
expectType<Float32Array>(ex.logits);
expectType<Float32Array>(ex.pathLogits);
expectType<number>(ex.pathLogit);
expectType<number>(ex.residual);
expectType<PathLayer[]>(ex.layers);
expectType<number>(ex.stats.recomputes);
const layer = ex.layers[0];
expectType<number>(layer.ordinal);
expectType<Int32Array>(layer.units);
expectType<Float32Array>(layer.scores);
expectType<boolean>(layer.fallback);
expectType<number>(layer.k);
expectType<number>(layer.borderline);

// --- errors: PathwiseError with a closed set of codes ------------------------------------------
declare const err: unknown;
if (err instanceof PathwiseError) {
  expectType<PathwiseErrorCode>(err.code);
  expectAssignable<Error>(err);
  expectError((err.code = 'PATHWISE_NATIVE'));
}
expectType<
  | 'PATHWISE_UNSUPPORTED_OP'
  | 'PATHWISE_BAD_MODEL'
  | 'PATHWISE_DISPOSED'
  | 'PATHWISE_NO_BINARY'
  | 'PATHWISE_MEMORY_LIMIT'
  | 'PATHWISE_NATIVE'
>({} as PathwiseErrorCode);
expectNotAssignable<PathwiseErrorCode>('PATHWISE_OOPS');

// --- kernelInfo --------------------------------------------------------------------------------
expectType<KernelInfo>(kernelInfo());
expectType<string>(kernelInfo().active);
expectType<string[]>(kernelInfo().available);
expectType<string | undefined>(kernelInfo().forceError);

// --- attribute: the integrated-gradients rule (captum's names, the 'gauss-legendre' spelling, 'trapezoid') ---
expectAssignable<AttributeOptions>({ method: 'integratedGradients', rule: 'riemann_trapezoid', steps: 50 });
expectAssignable<AttributeOptions>({ method: 'integratedGradients', rule: 'gauss-legendre' });
expectAssignable<QuadratureRule>('gausslegendre');
expectAssignable<QuadratureRule>('trapezoid');
expectNotAssignable<AttributeOptions>({ method: 'integratedGradients', rule: 'riemann' });
expectType<{ alpha: Float64Array; weight: Float64Array }>(quadrature('riemann_middle', 7));
expectError(quadrature('simpson', 7));

// --- quality metrics: the explainer gets the network to explain as its third argument -----------
declare const qualityModel: Model;
const explainer: QualityExplainer = async (inputs, targets, m) => {
  expectType<Float32Array>(inputs);
  expectType<Int32Array>(targets);
  expectType<Model>(m);
  return (await explainBatch(m, inputs, { targets })).flatMap((e) => Array.from(e.attribution));
};
const quality = evaluateQuality(qualityModel, x, x, { metrics: ['mprt', 'maxSensitivity'], explainer, spec, sensitivitySamples: 10 });
expectType<Promise<QualityReport>>(quality);
expectAssignable<QualityMetric>('regionPerturbationMorf');
expectNotAssignable<QualityMetric>('insertion');
expectAssignable<EvalMetric>('insertion');
expectError(evaluateQuality(qualityModel, x, x, { metrics: ['nope'] }));
declare const dataset: { name: string; inputs: Float32Array; shape: number[]; count: number };
expectType<Promise<MetricsReport>>(evaluateMetrics(qualityModel, dataset, { metrics: ['deletion', 'mprt'], spec }));
