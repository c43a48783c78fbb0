/**
 * pathwise: explains the decisions of ReLU networks by their decision paths (Lim, Jo, Lee, Choi,
 * AISTATS 2024), with exact path linear models W_P x + b_P.
 */
export { loadModel, loadModelSync, Model } from './model/model.js';
export type { ModelSource, LoadOptions, TfjsLayersModelLike } from './model/model.js';
export { explain, explainSync, explainBatch, explainBatchSync } from './explain/explain.js';
export { explainIntegrated, explainRegional, tileMasks } from './explain/variants.js';
export type { VariantExplanation, IntegratedOptions, RegionalOptions } from './explain/variants.js';
export { estimate, machineRate } from './explain/estimate.js';
export type { Estimate, EstimateOptions } from './explain/estimate.js';
export { explainFlopsFromMacs, explainFlopsSpec, specLayerMacs } from './explain/cost.js';
export type { SequentialShapeSpec } from './explain/cost.js';
export { PathwiseError } from './errors.js';
export type { PathwiseErrorCode } from './errors.js';
export type * from './explain/types.js';
export type * from './model/layers.js';
export { kernelInfo, setThreads } from './addon/runtime.js';
export type { KernelInfo } from './addon/native.js';
export { loadTfjsModel, loadTfjsModelSync, tfjsArtifactsToSpec, tfjsLayersModelToSpec } from './tfjs/index.js';
export {
  explainDataset, pathStatistics, pathStatisticsAsync, PathStatisticsBuilder, comparePaths, pathStatisticsToJSON, pathStatisticsFromJSON, pathwiseCallback,
} from './explain/dataset.js';
export type * from './explain/dataset.js';
export { renderReport } from './report/index.js';
export type { ReportOptions, ReportExample, ReportModelInfo } from './report/index.js';
export { renderHeatmap, heatmapPng } from './render/heatmap.js';
export type { HeatmapOptions, Heatmap, ShapeLike } from './render/heatmap.js';
export { renderHeatmapFigure, softmaxAt } from './render/figure.js';
export type { HeatmapFigureOptions } from './render/figure.js';
export { pathEdges } from './render/path-edges.js';
export type { PathEdge, PathEdges } from './render/path-edges.js';
export type { RgbaImage, ImageShape } from './render/image.js';
export { pathDiagramSvg, unitLabel } from './render/diagram.js';
export type { DiagramOptions, DiagramExplanation } from './render/diagram.js';
export type { TfjsConvertOptions, TfjsArtifacts, TfjsWeightSpec } from './tfjs/index.js';
export { attribute, attributeSync, attributeBatch, attributeBatchSync, unwrap, unwrapSync, unwrapBatch, unwrapBatchSync, modelLayers, quadrature } from './baselines/attribute.js';
export type { AttributionMethod, QuadratureRule, AttributeOptions, AttributeBatchOptions, Attribution, Unwrapped, UnwrapOptions, EngineLayer } from './baselines/attribute.js';
export { insertionDeletion, insertionDeletionSync, insertionDeletionBatch, insertionDeletionBatchSync, curveAuc, blurSubstrate } from './eval/metrics.js';
export type { TieOrder, InsertionDeletionOptions, InsertionDeletionBatchOptions, InsertionDeletionResult, InsertionDeletionBatchResult } from './eval/metrics.js';
export { evaluate, formatTable } from './eval/evaluate.js';
export type { EvalMethod, EvaluateOptions, EvaluationRow, EvaluationReport, MeanSe } from './eval/evaluate.js';
export { loadFashionMnist, loadNpyDataset, normalise, FASHION_MNIST_DIR, FASHION_MNIST_NORMALISATION } from './io/datasets.js';
export type { Dataset, Normalisation, FashionMnistOptions, NpyDatasetOptions } from './io/datasets.js';
export { readIdx, parseIdx } from './io/idx.js';
export type { IdxArray } from './io/idx.js';
export { readNpyFile, parseNpy, encodeNpy, writeNpyFile } from './io/npy.js';
export type { NpyArray } from './io/npy.js';
export { samplePath, loadSamples, FASHION_MNIST_CLASSES } from './io/samples.js';
export type { Samples } from './io/samples.js';
export { loadImage, imageToInput } from './io/image.js';
export type { ImageInputOptions } from './io/image.js';
export { readOnnxMetadata } from './io/onnx-metadata.js';
export { parseOnnx } from './onnx/load.js';
export { planRun, startWorker, runStatus, reduceRun, aggregateToJson, parseDataSource } from './scale/index.js';
export type { PlanOptions, PlanResult, StartWorkerOptions, WorkerHandle, WorkerEvent, WorkerEventType, RunStatus, FailedShard, ReduceOptions, RunAggregate, CheckpointAggregate, DataSource, RedisConnection, RunExplainOptions, RunManifest, RunModel, ShardJob } from './scale/index.js';
export { encodeExplanationsParquet, writeExplanationsParquet, readExplanationsParquet } from './io/parquet.js';
export type { ExplanationRow, ExplanationRecord, ParquetExplanations } from './io/parquet.js';
export { evaluateQuality, QUALITY_METRICS, EXPLAINER_METRICS, HIGHER_IS_BETTER, sparseness, complexity, pearson, spearman, ssim1d } from './eval/quality.js';
export type { QualityMetric, QualityExplainer, QualityModel, QualityOptions, QualityValues, QualityReport, MprtLayer } from './eval/quality.js';
export { patches as regionPatches } from './eval/quality-faithfulness.js';
export { randomisedLayer, shiftedSpec } from './eval/quality-model.js';
export { evaluateMetrics, formatMetricsTable, methodExplainer, randomAttribution, higherIsBetter, EVAL_METRICS, METRIC_LABEL } from './eval/evaluate-metrics.js';
export type { EvalMetric, EvaluateMetricsOptions, MethodConfig, MetricCell, MetricsRow, MetricsReport, MetricSettings } from './eval/evaluate-metrics.js';
