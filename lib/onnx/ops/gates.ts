/**
 * Piecewise-linear gates beyond Relu: Clip (ReLU6, Hardtanh), LeakyRelu and PRelu, lowered to the
 * gate spec kinds of lib/model/layers.ts (docs/semantics.md, "Gates beyond ReLU").
 */
import { badModel, unsupported } from '../deps.js';
import type { NodeContext } from '../context.js';
import { perChannel } from '../shapes.js';

/**
 * Clip: min and max are attributes before opset 11 and optional inputs (a Constant node, an
 * initializer, or absent / the empty name) from opset 11. No bound at all is the identity.
 */
export function clip(n: NodeContext): void {
  const x = n.act(0);
  const min = clipBound(n, 1, 'min', -Infinity);
  const max = clipBound(n, 2, 'max', Infinity);
  if (Number.isNaN(min) || Number.isNaN(max) || min > max) {
    throw badModel(`${n.where} has min ${min} > max ${max}`);
  }
  if (min === -Infinity && max === Infinity) {
    n.emit({ type: 'identity' }, [x.layer], x.shape, n.passFold(x));
    return;
  }
  const spec: { type: 'clip'; min?: number; max?: number } = { type: 'clip' };
  if (min !== -Infinity) spec.min = min;
  if (max !== Infinity) spec.max = max;
  n.emit(spec, [x.layer], x.shape);
}

function clipBound(n: NodeContext, pos: number, name: 'min' | 'max', dflt: number): number {
  if (n.node.input[pos]) {
    const t = n.floatAt(pos, name);
    if (t.data.length !== 1) throw badModel(`${n.where}: ${name} has shape [${t.dims}]; expected a scalar`);
    return t.data[0];
  }
  return n.floatAttr(name, dflt);
}

export function leakyRelu(n: NodeContext): void {
  const x = n.act(0);
  // The default is the float32 value, as an explicit attribute would hold it.
  const alpha = n.floatAttr('alpha', Math.fround(0.01));
  if (!Number.isFinite(alpha)) throw badModel(`${n.where} has alpha ${alpha}`);
  n.emit({ type: 'leakyrelu', alpha }, [x.layer], x.shape);
}

/** PRelu: slope [C, 1, 1] after a conv, [C] after a dense layer, or one shared value. */
export function prelu(n: NodeContext): void {
  const x = n.act(0);
  const t = n.floatAt(1, 'slope');
  if (t.data.some((v) => !Number.isFinite(v))) throw badModel(`${n.where}: the slope holds a non-finite value`);
  if (t.data.length === 1) {
    n.emit({ type: 'prelu', slope: Float32Array.of(t.data[0]) }, [x.layer], x.shape);
    return;
  }
  const slope = perChannel(n, t, x.shape, 'slope');
  if (!slope) {
    throw unsupported(
      `${n.where}: the slope of shape [${t.dims}] is not one value per channel of [batch, ${x.shape}]; pathwise ` +
        'supports a PRelu slope per channel ([C, 1, 1] after a conv, [C] after a dense layer) or shared',
    );
  }
  n.emit({ type: 'prelu', slope: Float32Array.from(slope) }, [x.layer], x.shape);
}
