/**
 * Shape-only layers on activations: Flatten, Reshape, Squeeze / Unsqueeze (all → flatten or
 * reshape layers), Identity and inference-mode Dropout (→ identity); the Reshapes of a channel
 * shuffle (→ channelshuffle). The batch dimension must stay
 * first and separate. A pending bias fold passes through them (see NodeContext.passFold).
 */
import { badModel, unsupported } from '../deps.js';
import type { NodeContext } from '../context.js';
import { bigToNumber, product, sameShape } from '../numbers.js';
import { axesOf, normAxes, resolveReshape, unsqueezeDims } from '../shapes.js';
import { BATCH, intsOf, type Act } from '../values.js';

export function identity(n: NodeContext): void {
  const x = n.act(0);
  n.emit({ type: 'identity' }, [x.layer], x.shape, n.passFold(x));
}

export function dropout(n: NodeContext): void {
  const x = n.act(0);
  checkDropoutInference(n);
  n.emit({ type: 'identity' }, [x.layer], x.shape, n.passFold(x));
}

function checkDropoutInference(n: NodeContext): void {
  // Opset 12+: input 2 is training_mode. Only a constant false (or its absence) is inference.
  const tm = n.node.input[2];
  if (!tm) return;
  const v = n.operand(tm);
  if ('act' in v) {
    throw unsupported(`Dropout at node ${n.label} has a non-constant training_mode "${tm}"; pathwise needs inference mode`);
  }
  const t = intsOf(v.c, `training_mode of Dropout at node ${n.label}`);
  if (t.data.some((x) => x !== 0)) {
    throw unsupported(`Dropout at node ${n.label} runs in training mode (training_mode = true); pathwise needs inference mode`);
  }
}

export function flatten(n: NodeContext): void {
  const { label } = n;
  const x = n.act(0);
  const rank = x.shape.length + 1;
  const given = n.intAttr('axis', 1);
  const axis = given < 0 ? given + rank : given;
  if (axis < 0 || axis > rank) {
    throw badModel(`Flatten at node ${label}: axis ${given} is out of range for rank ${rank}`);
  }
  // Same result as axis 1 (batch kept, the rest merged)? axis 0 only with a fixed batch of 1;
  // axis k > 1 when the dimensions it keeps beside the batch are all 1.
  const noOp = axis === 1 || (axis === 0 ? n.batchIsOne : product(x.shape.slice(0, axis - 1)) === 1);
  if (!noOp) {
    throw unsupported(
      `Flatten at node ${label} with axis=${axis} on [batch, ${x.shape}] does not keep the batch dimension ` +
        'separate; pathwise supports Flatten with axis=1',
    );
  }
  n.emit({ type: 'flatten' }, [x.layer], [product(x.shape)], n.passFold(x));
}

export function reshape(n: NodeContext): void {
  const { label } = n;
  const x = n.act(0);
  const target = reshapeTarget(n);
  const resolved = resolveReshape([1, ...x.shape], target, n.intAttr('allowzero', 0), label);
  if (resolved[0] !== 1) {
    throw unsupported(
      `Reshape at node ${label} to [${target}] does not keep the batch dimension first (from [batch, ${x.shape}]); ` +
        'pathwise needs the first dimension of the new shape to be the batch (0, -1 or 1)',
    );
  }
  const shape = resolved.slice(1);
  if (channelShuffleStep(n, x, shape)) return;
  n.emit({ type: 'reshape', shape: shape.slice() }, [x.layer], shape, n.passFold(x));
}

/**
 * The Reshapes of ShuffleNet's channel shuffle: [C, H, W] → [g, C/g, H, W] is kept as a 5-D step
 * without a layer, and after Transpose([0, 2, 1, 3, 4]), [C/g, g, H, W] → [C, H, W] emits
 * 'channelshuffle'. Returns false for a Reshape outside the pattern (a plain reshape layer); the
 * 5-D step read by another Reshape becomes a plain reshape then.
 */
function channelShuffleStep(n: NodeContext, x: Act, shape: number[]): boolean {
  const s = x.shuffle;
  if (!s) {
    const grouped = x.shape.length === 3 && shape.length === 4 && shape[0] * shape[1] === x.shape[0] &&
      shape[2] === x.shape[1] && shape[3] === x.shape[2];
    if (grouped) n.setOutput({ layer: x.layer, shape, shuffle: { groups: shape[0], transposed: false, src: x } });
    return grouped;
  }
  if (s.transposed) {
    if (!sameShape(shape, s.src.shape)) {
      throw unsupported(
        `Reshape at node ${n.label} to [batch, ${shape}] after a Transpose of [batch, ${x.shape}]: pathwise reads 5-D ` +
          'activations only in the channel shuffle Reshape([1, g, C/g, H, W]) → Transpose([0, 2, 1, 3, 4]) → ' +
          'Reshape([1, -1, H, W])',
      );
    }
    n.emit({ type: 'channelshuffle', groups: s.groups }, [s.src.layer], shape);
    return true;
  }
  // Reshape → Reshape: a plain reshape of the 5-D view (no data moves).
  n.emit({ type: 'reshape', shape: shape.slice() }, [s.src.layer], shape);
  return true;
}

function reshapeTarget(n: NodeContext): number[] {
  const { label } = n;
  if (!n.node.input[1]) {
    // Opset 1-4 carried the shape as an attribute; its ints are read whatever its declared type.
    const a = n.attr('shape');
    if (!a) throw badModel(`Reshape at node ${label} has no shape input`);
    return a.ints.map((v) => bigToNumber(v, `shape of Reshape at node ${label}`));
  }
  const name = n.node.input[1];
  const v = n.operand(name);
  if ('act' in v) {
    throw unsupported(
      `Reshape at node ${label}: the shape "${name}" is computed from activation values; pathwise supports ` +
        'Reshape with a constant shape (or one folded from static shapes)',
    );
  }
  const t = intsOf(v.c, `shape of Reshape at node ${label}`);
  if (t.dims.length !== 1) throw badModel(`Reshape at node ${label}: the shape tensor has shape [${t.dims}], expected 1-D`);
  return t.data.map((d, i) => {
    if (d !== BATCH) return d;
    // The batch dimension itself (x.view(x.size(0), -1)) is a batch-preserving entry at 0.
    if (i === 0) return 1;
    throw unsupported(
      `Reshape at node ${label} moves the batch dimension to position ${i} of the new shape; pathwise needs ` +
        'the batch first',
    );
  });
}

/** Squeeze and Unsqueeze of an activation, on axes other than the batch. */
export function squeezeOrUnsqueeze(n: NodeContext): void {
  const { label, op } = n;
  const x = n.act(0);
  const axes = axesOf(n);
  const inRank = x.shape.length + 1;
  let shape: number[];
  if (op === 'Unsqueeze') {
    if (!axes) throw badModel(`Unsqueeze at node ${label} has no axes`);
    const outRank = inRank + axes.length;
    const norm = normAxes(axes, outRank, op, label);
    if (norm.includes(0)) {
      throw unsupported(`Unsqueeze at node ${label} inserts a dimension before the batch; pathwise needs the batch first`);
    }
    // The batch (axis 0) is not among the new axes: unsqueeze [1, ...shape] and drop it again.
    shape = unsqueezeDims([1, ...x.shape], norm).slice(1);
  } else {
    if (!axes) {
      throw unsupported(
        `Squeeze at node ${label} has no axes: on an activation it would also drop a batch dimension of 1; ` +
          'pathwise supports Squeeze of activations with explicit axes',
      );
    }
    const norm = normAxes(axes, inRank, op, label);
    if (norm.includes(0)) throw unsupported(`Squeeze at node ${label} removes the batch dimension`);
    for (const a of norm) {
      if (x.shape[a - 1] !== 1) {
        throw badModel(`Squeeze at node ${label}: axis ${a} of [batch, ${x.shape}] has size ${x.shape[a - 1]}, not 1`);
      }
    }
    shape = x.shape.filter((_, i) => !norm.includes(i + 1));
  }
  n.emit({ type: 'reshape', shape: shape.slice() }, [x.layer], shape, n.passFold(x));
}
