/**
 * From a parsed PyTorch checkpoint to our encoder's variables (issue 11). Understands:
 *
 * - official MoCo (main_moco.py's save_checkpoint): {epoch, arch, state_dict, optimizer} with
 *   state_dict keys `module.encoder_q.*`, `module.encoder_k.*`, `module.queue` [C, K] and
 *   `module.queue_ptr` [1] (the `module.` of DistributedDataParallel optional); v1 fc head or
 *   v2 MLP head (fc.0 / fc.2);
 * - a torchvision ResNet-18/34/50 state dict (bare, or under `state_dict` / `model`, `module.`
 *   optional), ImageNet stem or our 3x3 small-image stem.
 *
 * The architecture is inferred from the keys (torch-layout.ts); every key must be used and every
 * needed key present, or the error names them.
 */
import { inferEncoderShape, keyPlan, toOurLayout, type EncoderShape } from './torch-layout.js';
import { PickleDict, TensorRef, type PickleValue } from './restricted-unpickler.js';
import type { TorchCheckpoint } from './torch-checkpoint.js';

export interface NamedArray {
  readonly shape: number[];
  readonly values: Float32Array;
}

export interface ImportedModel {
  readonly format: 'zip' | 'legacy';
  readonly layout: 'moco' | 'torchvision';
  readonly shape: EncoderShape;
  /** Our variable names (stem.conv, layer1.0.bn1.gamma, head.fc.weight, ...) -> values in our layout. */
  readonly query: ReadonlyMap<string, NamedArray>;
  /** The key encoder when the file has one (MoCo), else null (a copy of the query encoder is used). */
  readonly key: ReadonlyMap<string, NamedArray> | null;
  /** The queue [C, K] when the file has one. */
  readonly queue: NamedArray | null;
  readonly queuePointer: number;
  /** Training epochs recorded in the file (MoCo checkpoints), and its `arch` string. */
  readonly epoch: number | null;
  readonly arch: string | null;
  /** dtypes found in the state dict (float16/float64 are converted to float32). */
  readonly dtypes: readonly string[];
}

function tensorsOf(dict: PickleDict, where: string): Map<string, TensorRef> {
  const tensors = new Map<string, TensorRef>();
  for (const [key, value] of dict.entries) {
    if (typeof key !== 'string') throw new Error(`${where}: a state dict key is not a string (${String(key)})`);
    if (!(value instanceof TensorRef)) throw new Error(`${where}: "${key}" is not a tensor`);
    tensors.set(key, value);
  }
  return tensors;
}

/** The state dict inside a checkpoint object, and its metadata. */
function findStateDict(root: PickleValue, file: string): { tensors: Map<string, TensorRef>; epoch: number | null; arch: string | null } {
  if (!(root instanceof PickleDict)) throw new Error(`${file}: the checkpoint is not a dict (a whole pickled model is not supported: save model.state_dict())`);
  const epoch = root.entries.get('epoch');
  const arch = root.entries.get('arch');
  const meta = { epoch: typeof epoch === 'number' ? epoch : null, arch: typeof arch === 'string' ? arch : null };
  for (const field of ['state_dict', 'model']) {
    const inner = root.entries.get(field);
    if (inner instanceof PickleDict) return { tensors: tensorsOf(inner, `${file} [${field}]`), ...meta };
  }
  return { tensors: tensorsOf(root, file), ...meta };
}

function stripPrefix(tensors: Map<string, TensorRef>, prefix: string): Map<string, TensorRef> {
  if (![...tensors.keys()].every((k) => k.startsWith(prefix))) return tensors;
  return new Map([...tensors].map(([k, v]) => [k.slice(prefix.length), v]));
}

function listSome(names: readonly string[]): string {
  return `${names.slice(0, 12).join(', ')}${names.length > 12 ? `, ... (${names.length} in all)` : ''}`;
}

function mapEncoder(tensors: Map<string, TensorRef>, shape: EncoderShape, checkpoint: TorchCheckpoint, where: string, dtypes: Set<string>): Map<string, NamedArray> {
  const { keys, batchNorms } = keyPlan(shape);
  const missing = keys.filter((k) => !tensors.has(k.torch)).map((k) => k.torch);
  const known = new Set([...keys.map((k) => k.torch), ...batchNorms.map((b) => `${b}.num_batches_tracked`)]);
  const unknown = [...tensors.keys()].filter((k) => !known.has(k));
  if (missing.length > 0 || unknown.length > 0) {
    const arch = `${shape.architecture}${shape.smallImageStem ? ' (small-image stem)' : ''}, ${shape.head === 'mlp' ? 'MLP' : 'fc'} head`;
    throw new Error(`${where}: the keys do not match a ${arch}.${missing.length ? ` Missing: ${listSome(missing)}.` : ''}${unknown.length ? ` Unknown: ${listSome(unknown)}.` : ''}`);
  }
  const result = new Map<string, NamedArray>();
  for (const plan of keys) {
    const ref = tensors.get(plan.torch)!;
    if (ref.shape.join('x') !== plan.torchShape.join('x')) {
      throw new Error(`${where}: "${plan.torch}" has shape [${ref.shape.join(', ')}], a ${shape.architecture} of this width needs [${plan.torchShape.join(', ')}]`);
    }
    const tensor = checkpoint.tensor(ref);
    dtypes.add(tensor.dtype);
    if (!tensor.values.every(Number.isFinite)) throw new Error(`${where}: "${plan.torch}" holds NaN or Inf`);
    result.set(plan.ours, toOurLayout(tensor.values, plan.torchShape, plan.transform));
  }
  return result;
}

export function importTorchModel(checkpoint: TorchCheckpoint, file: string): ImportedModel {
  const { tensors: all, epoch, arch } = findStateDict(checkpoint.root, file);
  const tensors = stripPrefix(all, 'module.');
  const dtypes = new Set<string>();
  const isMoco = [...tensors.keys()].some((k) => k.startsWith('encoder_q.'));
  if (!isMoco) {
    const shapes = new Map([...tensors].map(([k, v]) => [k, v.shape]));
    const shape = inferEncoderShape(shapes, file);
    const query = mapEncoder(tensors, shape, checkpoint, file, dtypes);
    return { format: checkpoint.format, layout: 'torchvision', shape, query, key: null, queue: null, queuePointer: 0, epoch, arch, dtypes: [...dtypes] };
  }
  const part = (prefix: string): Map<string, TensorRef> => new Map([...tensors].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]));
  const q = part('encoder_q.');
  const k = part('encoder_k.');
  const other = [...tensors.keys()].filter((name) => !name.startsWith('encoder_q.') && !name.startsWith('encoder_k.') && name !== 'queue' && name !== 'queue_ptr');
  if (other.length > 0) throw new Error(`${file}: unknown keys in a MoCo checkpoint: ${listSome(other)}`);
  const shape = inferEncoderShape(new Map([...q].map(([name, v]) => [name, v.shape])), `${file} (encoder_q)`);
  const query = mapEncoder(q, shape, checkpoint, `${file} (encoder_q)`, dtypes);
  const key = k.size > 0 ? mapEncoder(k, shape, checkpoint, `${file} (encoder_k)`, dtypes) : null;
  let queue: NamedArray | null = null;
  let queuePointer = 0;
  const queueRef = tensors.get('queue');
  if (queueRef) {
    if (queueRef.shape.length !== 2 || queueRef.shape[0] !== shape.dim) throw new Error(`${file}: queue has shape [${queueRef.shape.join(', ')}], expected [${shape.dim}, K]`);
    const t = checkpoint.tensor(queueRef);
    queue = { shape: t.shape, values: t.values };
    const ptrRef = tensors.get('queue_ptr');
    if (ptrRef) queuePointer = checkpoint.tensor(ptrRef).values[0] ?? 0;
  }
  return { format: checkpoint.format, layout: 'moco', shape, query, key, queue, queuePointer, epoch, arch, dtypes: [...dtypes] };
}
