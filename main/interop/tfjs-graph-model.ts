/**
 * An InferenceGraph as a TensorFlow.js graph model (issue 12 item 4): `model.json` (format
 * "graph-model", a TensorFlow GraphDef in JSON, a weights manifest) and one little-endian
 * `weights.bin`, which `tf.loadGraphModel` loads and runs: `model.predict(pixels [N, S, S, 3])`
 * -> embedding [N, C]. Only core TensorFlow ops that tfjs-converter executes: Placeholder,
 * Const, Pad, Conv2D (VALID), BiasAdd, Relu, AddV2, MaxPool, Mean, Square, Sum, Sqrt, Maximum,
 * Sub, Mul, RealDiv. Padding is an explicit Pad (PyTorch's symmetric padding; TF's 'SAME' pads
 * asymmetrically at stride 2).
 */
import { GRAPH_INPUT, L2_EPSILON, STANDARDISATION_TRACE, type InferenceGraph } from './inference-graph.js';

export const TFJS_WEIGHTS_FILE = 'weights.bin';

type AttrValue = Record<string, unknown>;
interface GraphNode { name: string; op: string; input?: string[]; attr: Record<string, AttrValue> }
interface WeightSpec { name: string; shape: number[]; dtype: 'float32' | 'int32' }

const FLOAT: AttrValue = { type: 'DT_FLOAT' };
const INT32: AttrValue = { type: 'DT_INT32' };
const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');
const ints = (values: readonly number[]): AttrValue => ({ list: { i: values.map(String) } });
const shapeAttr = (shape: readonly number[]): AttrValue => ({ shape: { dim: shape.map((size) => ({ size: String(size) })) } });

export interface TfjsGraphModel {
  readonly modelJson: Record<string, unknown>;
  readonly weights: Buffer;
}

/** `metadata` goes into model.json's userDefinedMetadata (tfjs keeps it: model.metadata). */
export function toTfjsGraphModel(graph: InferenceGraph, metadata: Record<string, unknown>): TfjsGraphModel {
  const nodes: GraphNode[] = [];
  const specs: WeightSpec[] = [];
  const chunks: Buffer[] = [];
  const constant = (name: string, shape: readonly number[], values: Float32Array | Int32Array): string => {
    const dtype = values instanceof Float32Array ? 'float32' : 'int32';
    nodes.push({ name, op: 'Const', attr: { value: { tensor: { dtype: dtype === 'float32' ? 'DT_FLOAT' : 'DT_INT32', tensorShape: { dim: shape.map((size) => ({ size: String(size) })) } } }, dtype: dtype === 'float32' ? FLOAT : INT32 } });
    specs.push({ name, shape: [...shape], dtype });
    chunks.push(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
    return name;
  };
  const op = (name: string, type: string, input: string[], attr: Record<string, AttrValue> = {}): string => {
    nodes.push({ name, op: type, input, attr: { T: FLOAT, ...attr } });
    return name;
  };
  const l2 = (name: string, x: string): string => {
    const norm = op(`${name}/norm`, 'Sqrt', [op(`${name}/sumsq`, 'Sum', [op(`${name}/square`, 'Square', [x]), constant(`${name}/axis`, [1], Int32Array.of(1))], { keep_dims: { b: true }, Tidx: INT32 })]);
    return op(name, 'RealDiv', [x, op(`${name}/floor`, 'Maximum', [norm, constant(`${name}/epsilon`, [], Float32Array.of(L2_EPSILON))])]);
  };
  const pad = (name: string, x: string, p: number): string => p === 0 ? x
    : op(`${name}/pad`, 'Pad', [x, constant(`${name}/paddings`, [4, 2], Int32Array.of(0, 0, p, p, p, p, 0, 0))], { Tpaddings: INT32 });

  nodes.push({ name: GRAPH_INPUT, op: 'Placeholder', attr: { dtype: FLOAT, shape: shapeAttr([-1, graph.imageSize, graph.imageSize, 3]) } });
  const names = new Map<string, string>([[GRAPH_INPUT, GRAPH_INPUT]]);
  const from = (tensor: string): string => {
    const node = names.get(tensor);
    if (node === undefined) throw new Error(`inference graph: "${tensor}" is used before it is made`);
    return node;
  };
  for (const o of graph.ops) {
    let out: string;
    switch (o.kind) {
      case 'conv': {
        const x = pad(o.name, from(o.input), o.pad);
        const conv = op(`${o.name}/conv`, 'Conv2D', [x, constant(`${o.name}/kernel`, o.shape, o.weight)], {
          strides: ints([1, o.stride, o.stride, 1]), padding: { s: base64('VALID') }, data_format: { s: base64('NHWC') }, dilations: ints([1, 1, 1, 1]),
        });
        out = op(o.name, 'BiasAdd', [conv, constant(`${o.name}/bias`, [o.bias.length], o.bias)], { data_format: { s: base64('NHWC') } });
        break;
      }
      case 'relu': out = op(o.name, 'Relu', [from(o.input)]); break;
      case 'add': out = op(o.name, 'AddV2', [from(o.inputs[0]), from(o.inputs[1])]); break;
      case 'maxpool':
        out = op(o.name, 'MaxPool', [pad(o.name, from(o.input), 1)], { ksize: ints([1, 3, 3, 1]), strides: ints([1, 2, 2, 1]), padding: { s: base64('VALID') }, data_format: { s: base64('NHWC') } });
        break;
      case 'global-average-pool':
        out = op(o.name, 'Mean', [from(o.input), constant(`${o.name}/axes`, [2], Int32Array.of(1, 2))], { keep_dims: { b: false }, Tidx: INT32 });
        break;
      case 'l2-normalize': out = l2(o.name, from(o.input)); break;
      case 'standardise': {
        const x = from(o.input);
        const c = o.mean.length;
        const z = op(`${o.name}/z`, 'RealDiv', [op(`${o.name}/centred`, 'Sub', [x, constant(`${o.name}/mean`, [1, c], o.mean)]), constant(`${o.name}/std`, [1, c], o.std)]);
        const traced = op(`${o.name}/traced`, 'AddV2', [z, op(`${o.name}/trace`, 'Mul', [x, constant(`${o.name}/trace_weight`, [], Float32Array.of(STANDARDISATION_TRACE))])]);
        out = l2(o.name, traced);
        break;
      }
    }
    names.set(o.output, out);
  }
  const output = from(graph.output);
  const modelJson = {
    format: 'graph-model',
    generatedBy: 'MoCo Studio',
    convertedBy: null,
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    signature: {
      inputs: { [GRAPH_INPUT]: { name: `${GRAPH_INPUT}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: [-1, graph.imageSize, graph.imageSize, 3].map((size) => ({ size: String(size) })) } } },
      outputs: { [graph.output]: { name: `${output}:0`, dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: String(graph.featureChannels) }] } } },
    },
    userDefinedMetadata: metadata,
    weightsManifest: [{ paths: [TFJS_WEIGHTS_FILE], weights: specs }],
  };
  return { modelJson, weights: Buffer.concat(chunks) };
}
