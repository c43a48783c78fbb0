/**
 * pathwise: explains the decisions of ReLU networks by their decision paths (Lim, Jo, Lee, Choi,
 * AISTATS 2024), with exact path linear models W_P x + b_P.
 */
export { loadModel, loadModelSync, Model } from './model.js';
export type { ModelSource, LoadOptions, TfjsLayersModelLike } from './model.js';
export { explain, explainSync, explainBatch, explainBatchSync } from './explain.js';
export { PathwiseError } from './errors.js';
export type { PathwiseErrorCode } from './errors.js';
export type * from './types.js';
export type * from './layers.js';
export { kernelInfo, setThreads } from './runtime.js';
export type { KernelInfo } from './native.js';
export { loadTfjsModel, loadTfjsModelSync, tfjsArtifactsToSpec, tfjsLayersModelToSpec } from './tfjs/index.js';
export { explainDataset, pathStatistics, pathStatisticsAsync, PathStatisticsBuilder, comparePaths } from './dataset/index.js';
export type * from './dataset/index.js';
export { renderReport } from './report/index.js';
export type { ReportOptions, ReportExample, ReportModelInfo } from './report/index.js';
export { renderHeatmap, heatmapPng } from './render/heatmap.js';
export type { HeatmapOptions, Heatmap } from './render/heatmap.js';
export type { RgbaImage, ImageShape } from './render/image.js';
export { pathDiagramSvg } from './render/diagram.js';
export type { DiagramOptions, DiagramExplanation } from './render/diagram.js';
export type { TfjsConvertOptions, TfjsArtifacts, TfjsWeightSpec } from './tfjs/index.js';
export { attribute, attributeSync, attributeBatch, attributeBatchSync, unwrap, unwrapSync, unwrapBatch, unwrapBatchSync, modelLayers, quadrature } from './attribute.js';
export type { AttributionMethod, AttributeOptions, AttributeBatchOptions, Attribution, Unwrapped, UnwrapOptions, EngineLayer } from './attribute.js';
export { insertionDeletion, insertionDeletionSync, insertionDeletionBatch, insertionDeletionBatchSync, curveAuc, blurSubstrate } from './metrics.js';
export type { TieOrder, InsertionDeletionOptions, InsertionDeletionBatchOptions, InsertionDeletionResult, InsertionDeletionBatchResult } from './metrics.js';
export { evaluate, formatTable } from './evaluate.js';
export type { EvalMethod, EvaluateOptions, EvaluationRow, EvaluationReport, MeanSe } from './evaluate.js';
export { loadFashionMnist, loadNpyDataset, normalise, FASHION_MNIST_DIR, FASHION_MNIST_NORMALISATION } from './data/datasets.js';
export type { Dataset, Normalisation, FashionMnistOptions, NpyDatasetOptions } from './data/datasets.js';
export { readIdx, parseIdx } from './data/idx.js';
export type { IdxArray } from './data/idx.js';
export { readNpyFile, parseNpy, encodeNpy, writeNpyFile } from './data/npy.js';
export type { NpyArray } from './data/npy.js';
