/**
 * Reading node attributes: by name, with a default where ONNX gives one, checking the declared
 * attribute type (an UNDEFINED type, as old exporters write, is accepted).
 */
import { AttrType, badModel, type AttributeProto, type NodeProto } from './deps.js';
import { bigToNumber } from './numbers.js';

export function findAttr(node: NodeProto, name: string): AttributeProto | undefined {
  return node.attribute.find((a) => a.name === name);
}

/** The attribute `name` if present, checked to be of `type` (described as `kind` in messages). */
function typedAttr(node: NodeProto, name: string, type: AttrType, kind: string, label: string): AttributeProto | undefined {
  const a = findAttr(node, name);
  if (a && a.type !== type && a.type !== AttrType.UNDEFINED) {
    throw badModel(`Attribute "${name}" of ${node.opType} at node ${label} should be ${kind} (type ${a.type})`);
  }
  return a;
}

export function intAttr(node: NodeProto, name: string, dflt: number, label: string): number {
  const a = typedAttr(node, name, AttrType.INT, 'an int', label);
  return a ? bigToNumber(a.i, `attribute "${name}" of node ${label}`) : dflt;
}

export function intsAttr(node: NodeProto, name: string, label: string): number[] | undefined {
  const a = typedAttr(node, name, AttrType.INTS, 'a list of ints', label);
  return a?.ints.map((v) => bigToNumber(v, `attribute "${name}" of node ${label}`));
}

export function floatAttr(node: NodeProto, name: string, dflt: number, label: string): number {
  const a = typedAttr(node, name, AttrType.FLOAT, 'a float', label);
  return a ? a.f : dflt;
}

export function stringAttr(node: NodeProto, name: string, dflt: string, label: string): string {
  const a = typedAttr(node, name, AttrType.STRING, 'a string', label);
  return a ? new TextDecoder().decode(a.s) : dflt;
}
