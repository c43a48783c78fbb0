/**
 * pathwise: explains the decisions of ReLU networks by their decision paths (Lim, Jo, Lee, Choi,
 * AISTATS 2024), with exact path linear models W_P x + b_P.
 */
export { loadModel, loadModelSync, Model } from './model.js';
export type { ModelSource, LoadOptions } from './model.js';
export { explain, explainSync, explainBatch, explainBatchSync } from './explain.js';
export { PathwiseError } from './errors.js';
export type { PathwiseErrorCode } from './errors.js';
export type * from './types.js';
export type * from './layers.js';
export { kernelInfo } from './runtime.js';
export type { KernelInfo } from './native.js';
