// Types of shaped-models.mjs (plain JavaScript, shared by the tests and the bench).
import type { NetworkSpec } from '../../lib/model/layers.js';

/** A seeded standard normal generator (LCG + Box–Muller). */
export declare function seededNormal(seed: number): () => number;
/** VGG16 (13 conv 3×3 + 5 max-pools) with the paper's 25088-256-64-10 head, seeded He weights. */
export declare function vgg16Spec(seed?: number, size?: number): NetworkSpec;
/** ResNet-18 (basic blocks, BatchNorm, residual adds) with a 10-class head, seeded He weights. */
export declare function resnet18Spec(seed?: number, size?: number): NetworkSpec;
