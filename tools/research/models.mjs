// The four Fashion-MNIST networks of docs/research.md, by the short names the research scripts take
// (--models mlp,cnn,...): paths from the repository root, and modelPath() to load one.
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const MODELS = {
  mlp: 'test/fixtures/models/fashion_mlp.onnx',
  cnn: 'test/fixtures/models/fashion_cnn.onnx',
  resnet: 'test/fixtures/models/fashion_resnet.onnx',
  leaky: 'test/fixtures/models/fashion_cnn_leaky.onnx',
};
export const modelPath = (name) => join(root, MODELS[name]);
