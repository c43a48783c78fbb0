/**
 * Graph structure: the single graph input and its shape, and the order in which the loader
 * visits nodes. Only the nodes the graph output depends on are visited, in file order when it is
 * topological (ONNX requires it), otherwise in a stable topological order; a cycle, a value
 * produced twice, or an input nothing produces is PATHWISE_BAD_MODEL.
 */
import { DataType, badModel, unsupported, type NodeProto, type ValueInfoProto } from './deps.js';
import { dataTypeName } from './decode.js';
import { product } from './numbers.js';
import { MAX_ELEMENTS } from './values.js';

/** How messages name a node: its name, or its index and op when it has none. */
export function nodeLabel(node: NodeProto, index: number): string {
  return node.name ? `"${node.name}"` : `#${index} (unnamed ${node.opType})`;
}

/** The graph's one real input: graph inputs that are not initializers (`isInitializer`). */
export function graphInput(inputs: ValueInfoProto[], isInitializer: (name: string) => boolean): ValueInfoProto {
  // Before IR 4 initializers were also listed as graph inputs; those are weights, not the input.
  const real = inputs.filter((v) => !isInitializer(v.name));
  if (real.length === 0) throw badModel('The ONNX graph has no input (every graph input is an initializer)');
  if (real.length > 1) {
    throw unsupported(
      `The ONNX graph has ${real.length} inputs (${real.map((v) => `"${v.name}"`).join(', ')}); pathwise ` +
        'supports models with a single input tensor',
    );
  }
  return real[0];
}

/** The input's shape without the batch dimension, and whether the batch is fixed at 1. */
export function inputShapeOf(input: ValueInfoProto): { inputShape: number[]; batchIsOne: boolean } {
  const label = `The ONNX graph input "${input.name}"`;
  const typeValue = input.type?.value;
  if (!typeValue || typeValue.case !== 'tensorType') throw badModel(`${label} has no tensor type`);
  const tensorType = typeValue.value;
  if (tensorType.elemType !== DataType.FLOAT) {
    throw badModel(`${label} has element type ${dataTypeName(tensorType.elemType)}; pathwise needs a float32 input`);
  }
  const dims = tensorType.shape?.dim;
  if (!dims) throw badModel(`${label} has no shape`);
  if (dims.length < 2) {
    throw badModel(`${label} has rank ${dims.length}; pathwise needs a batch dimension followed by the sample's dimensions`);
  }
  const batch = dims[0].value;
  if (batch.case === 'dimValue' && batch.value !== 1n) {
    throw badModel(`${label} has a fixed batch size of ${batch.value}; pathwise needs a symbolic batch dimension or 1`);
  }
  const inputShape = dims.slice(1).map((d, i) => {
    if (d.value.case !== 'dimValue') {
      const what = d.value.case === 'dimParam' ? `symbolic ("${d.value.value}")` : 'unknown';
      throw badModel(`${label}: dimension ${i + 1} is ${what}; pathwise needs fixed sizes apart from the batch dimension`);
    }
    const n = d.value.value;
    if (n < 1n || n > BigInt(Number.MAX_SAFE_INTEGER)) throw badModel(`${label}: dimension ${i + 1} has size ${n}`);
    return Number(n);
  });
  if (product(inputShape) > MAX_ELEMENTS) {
    throw badModel(`${label} has shape [batch, ${inputShape}]: more than 2^31 values per example`);
  }
  return { inputShape, batchIsOne: batch.case === 'dimValue' };
}

/**
 * The nodes the graph output depends on, in a topological order (file order when that is one,
 * as ONNX requires; otherwise Kahn's algorithm, lowest file index first), and the number of
 * consumers of every value (the graph output counts as one).
 */
export function liveNodeOrder(
  nodes: NodeProto[],
  isSource: (name: string) => boolean,
  outputName: string,
): { order: number[]; uses: Map<string, number> } {
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output) {
      if (!o) continue;
      const other = producer.get(o);
      if (other !== undefined) {
        throw badModel(`The ONNX value "${o}" is produced twice, by nodes ${nodeLabel(nodes[other], other)} and ${nodeLabel(n, i)}`);
      }
      if (isSource(o)) {
        throw badModel(`ONNX node ${nodeLabel(n, i)} writes "${o}", which is already the graph input or an initializer`);
      }
      producer.set(o, i);
    }
  });

  const live = new Uint8Array(nodes.length);
  const stack: number[] = [];
  const need = (name: string, by: string): void => {
    if (!name || isSource(name)) return;
    const p = producer.get(name);
    if (p === undefined) {
      throw badModel(`${by} uses "${name}", which is neither the graph input, an initializer nor the output of a node`);
    }
    if (!live[p]) {
      live[p] = 1;
      stack.push(p);
    }
  };
  if (!isSource(outputName) && !producer.has(outputName)) {
    throw badModel(`The ONNX graph output "${outputName}" is not produced by any node`);
  }
  need(outputName, 'The ONNX graph output');
  while (stack.length > 0) {
    const i = stack.pop()!;
    for (const name of nodes[i].input) need(name, `ONNX node ${nodeLabel(nodes[i], i)}`);
  }

  const uses = new Map<string, number>();
  const use = (name: string): void => {
    if (name) uses.set(name, (uses.get(name) ?? 0) + 1);
  };
  use(outputName);
  const liveIdx: number[] = [];
  for (let i = 0; i < nodes.length; i++) {
    if (!live[i]) continue;
    liveIdx.push(i);
    for (const name of nodes[i].input) use(name);
  }

  // File order is topological when every input is a source or comes from an earlier node.
  if (liveIdx.every((i) => nodes[i].input.every((name) => !name || isSource(name) || producer.get(name)! < i))) {
    return { order: liveIdx, uses };
  }

  const indegree = new Map<number, number>();
  const consumers = new Map<number, number[]>();
  for (const i of liveIdx) {
    let d = 0;
    for (const name of nodes[i].input) {
      if (!name || isSource(name)) continue;
      const p = producer.get(name)!;
      d++;
      if (!consumers.has(p)) consumers.set(p, []);
      consumers.get(p)!.push(i);
    }
    indegree.set(i, d);
  }
  const heap = new MinHeap();
  for (const i of liveIdx) if (indegree.get(i) === 0) heap.push(i);
  const order: number[] = [];
  while (heap.size > 0) {
    const i = heap.pop();
    order.push(i);
    for (const c of consumers.get(i) ?? []) {
      const d = indegree.get(c)! - 1;
      indegree.set(c, d);
      if (d === 0) heap.push(c);
    }
  }
  if (order.length < liveIdx.length) {
    // Walk back from a node that never became ready along unready producers: that loops.
    let at = liveIdx.find((i) => indegree.get(i)! > 0)!;
    const seen = new Set<number>();
    while (!seen.has(at)) {
      seen.add(at);
      at = nodes[at].input.map((name) => producer.get(name)).find((p) => p !== undefined && indegree.get(p)! > 0)!;
    }
    throw badModel(`The ONNX graph has a cycle through node ${nodeLabel(nodes[at], at)}, which depends on its own output`);
  }
  return { order, uses };
}

/** A binary min-heap of node indices (stable topological order). */
class MinHeap {
  private a: number[] = [];
  get size(): number {
    return this.a.length;
  }
  push(v: number): void {
    const a = this.a;
    a.push(v);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p] <= a[i]) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }
  pop(): number {
    const a = this.a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l] < a[m]) m = l;
        if (r < a.length && a[r] < a[m]) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}
