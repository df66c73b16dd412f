/**
 * An InferenceGraph as an ONNX model (issue 12 item 4), opset 13, IR version 7, written with
 * our minimal protobuf writer. Input `pixels` [N, 3, S, S] (NCHW, ONNX's and PyTorch's layout;
 * the same ImageNet-normalised pixels as the app's eval transform), output `embedding` [N, C].
 * Ops: Conv (symmetric pads, folded BN as bias), Relu, Add, MaxPool, GlobalAveragePool,
 * Flatten, ReduceSumSquare, Sqrt, Max, Div, Sub, Mul. onnxruntime-node runs it (tested).
 *
 * Field numbers are those of onnx/onnx.proto: ModelProto {ir_version 1, producer_name 2,
 * producer_version 3, doc_string 6, graph 7, opset_import 8, metadata_props 14}, GraphProto {node 1,
 * name 2, initializer 5, input 11, output 12}, NodeProto {input 1, output 2, name 3, op_type 4,
 * attribute 5}, AttributeProto {name 1, f 2, i 3, ints 8, type 20}, TensorProto {dims 1,
 * data_type 2, name 8, raw_data 9}, ValueInfoProto {name 1, type 2}, TypeProto {tensor_type 1},
 * TypeProto.Tensor {elem_type 1, shape 2}, TensorShapeProto {dim 1}, Dimension {dim_value 1,
 * dim_param 2}, OperatorSetIdProto {domain 1, version 2}, StringStringEntryProto {key 1, value 2}.
 */
import { GRAPH_INPUT, L2_EPSILON, STANDARDISATION_TRACE, type InferenceGraph } from './inference-graph.js';
import { bytesField, floatField, intField, message, messageField, stringField, type EncodedField } from './protobuf-writer.js';

const IR_VERSION = 7;
const OPSET = 13;
const FLOAT = 1;
const INT64 = 7;
const ATTRIBUTE_FLOAT = 1;
const ATTRIBUTE_INT = 2;
const ATTRIBUTE_INTS = 7;

type Attribute = { name: string; int: number } | { name: string; ints: readonly number[] } | { name: string; float: number };

function attribute(a: Attribute): EncodedField {
  const fields = [stringField(1, a.name)];
  if ('int' in a) fields.push(intField(3, a.int), intField(20, ATTRIBUTE_INT));
  else if ('ints' in a) fields.push(...a.ints.map((v) => intField(8, v)), intField(20, ATTRIBUTE_INTS));
  else fields.push(floatField(2, a.float), intField(20, ATTRIBUTE_FLOAT));
  return messageField(5, fields);
}

function valueInfo(field: number, name: string, dims: readonly (number | string)[]): EncodedField {
  const dimFields = dims.map((d) => messageField(1, [typeof d === 'number' ? intField(1, d) : stringField(2, d)]));
  return messageField(field, [stringField(1, name), messageField(2, [messageField(1, [intField(1, FLOAT), messageField(2, dimFields)])])]);
}

/** HWIO [kh, kw, cin, cout] -> OIHW [cout, cin, kh, kw]. */
function hwioToOihw(values: Float32Array, [kh, kw, cin, cout]: readonly [number, number, number, number]): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let i = 0; i < cin; i++) for (let o = 0; o < cout; o++) {
    out[((o * cin + i) * kh + y) * kw + x] = values[((y * kw + x) * cin + i) * cout + o]!;
  }
  return out;
}

export function toOnnxModel(graph: InferenceGraph, metadata: Record<string, string>): Buffer {
  const nodes: EncodedField[] = [];
  const initializers: EncodedField[] = [];
  const initializer = (name: string, dims: readonly number[], values: Float32Array | BigInt64Array): string => {
    const raw = Buffer.from(values.buffer, values.byteOffset, values.byteLength);
    initializers.push(messageField(5, [...dims.map((d) => intField(1, d)), intField(2, values instanceof Float32Array ? FLOAT : INT64), stringField(8, name), bytesField(9, raw)]));
    return name;
  };
  const node = (name: string, opType: string, inputs: readonly string[], attributes: readonly Attribute[] = []): string => {
    nodes.push(messageField(1, [...inputs.map((i) => stringField(1, i)), stringField(2, name), stringField(3, name), stringField(4, opType), ...attributes.map(attribute)]));
    return name;
  };
  const l2 = (name: string, x: string): string => {
    const norm = node(`${name}/norm`, 'Sqrt', [node(`${name}/sumsq`, 'ReduceSumSquare', [x], [{ name: 'axes', ints: [1] }, { name: 'keepdims', int: 1 }])]);
    return node(name, 'Div', [x, node(`${name}/floor`, 'Max', [norm, initializer(`${name}/epsilon`, [], Float32Array.of(L2_EPSILON))])]);
  };

  const names = new Map<string, string>([[GRAPH_INPUT, GRAPH_INPUT]]);
  const from = (tensor: string): string => {
    const n = names.get(tensor);
    if (n === undefined) throw new Error(`inference graph: "${tensor}" is used before it is made`);
    return n;
  };
  for (const o of graph.ops) {
    let out: string;
    switch (o.kind) {
      case 'conv': {
        const [kh, kw, cin, cout] = o.shape;
        out = node(o.name, 'Conv', [from(o.input), initializer(`${o.name}/weight`, [cout, cin, kh, kw], hwioToOihw(o.weight, o.shape)), initializer(`${o.name}/bias`, [cout], o.bias)], [
          { name: 'kernel_shape', ints: [kh, kw] }, { name: 'strides', ints: [o.stride, o.stride] }, { name: 'pads', ints: [o.pad, o.pad, o.pad, o.pad] },
        ]);
        break;
      }
      case 'relu': out = node(o.name, 'Relu', [from(o.input)]); break;
      case 'add': out = node(o.name, 'Add', [from(o.inputs[0]), from(o.inputs[1])]); break;
      case 'maxpool':
        out = node(o.name, 'MaxPool', [from(o.input)], [{ name: 'kernel_shape', ints: [3, 3] }, { name: 'strides', ints: [2, 2] }, { name: 'pads', ints: [1, 1, 1, 1] }]);
        break;
      case 'global-average-pool':
        out = node(o.name, 'Flatten', [node(`${o.name}/gap`, 'GlobalAveragePool', [from(o.input)])], [{ name: 'axis', int: 1 }]);
        break;
      case 'l2-normalize': out = l2(o.name, from(o.input)); break;
      case 'standardise': {
        const x = from(o.input);
        const c = o.mean.length;
        const z = node(`${o.name}/z`, 'Div', [node(`${o.name}/centred`, 'Sub', [x, initializer(`${o.name}/mean`, [1, c], o.mean)]), initializer(`${o.name}/std`, [1, c], o.std)]);
        const traced = node(`${o.name}/traced`, 'Add', [z, node(`${o.name}/trace`, 'Mul', [x, initializer(`${o.name}/trace_weight`, [], Float32Array.of(STANDARDISATION_TRACE))])]);
        out = l2(o.name, traced);
        break;
      }
    }
    names.set(o.output, out);
  }
  // The graph's output must carry the output's name: an Identity renames the last node.
  node(graph.output, 'Identity', [from(graph.output)]);

  const graphProto = [
    ...nodes,
    stringField(2, 'moco_studio_encoder'),
    ...initializers,
    valueInfo(11, GRAPH_INPUT, ['N', 3, graph.imageSize, graph.imageSize]),
    valueInfo(12, graph.output, ['N', graph.featureChannels]),
  ];
  return message([
    intField(1, IR_VERSION),
    stringField(2, 'MoCo Studio'),
    stringField(3, '1'),
    stringField(6, 'The query encoder of a MoCo Studio run: pixels [N, 3, S, S] (ImageNet-normalised RGB, resize + centre crop) -> the embedding the app stores and searches.'),
    messageField(7, graphProto),
    messageField(8, [stringField(1, ''), intField(2, OPSET)]),
    ...Object.entries(metadata).map(([k, v]) => messageField(14, [stringField(1, k), stringField(2, v)])),
  ]);
}
