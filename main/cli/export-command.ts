/** `moco-studio export <run> --format csv|npy|tfjs|onnx --out <path>` (issue 12 item 4); torch and torchrun are in interop-commands.ts. */
import { resolve } from 'node:path';
import { EXPORT_FORMATS } from '../core/export-files.js';
import { exportCsv, exportNpy, readEmbeddings } from '../core/embeddings/embedding-store.js';
import { runPaths } from '../core/run-store.js';
import { exportRunModel } from '../interop/model-export.js';

export { EXPORT_FORMATS };

export async function exportOtherFormat(run: string, format: 'csv' | 'npy' | 'tfjs' | 'onnx', out: string, json: boolean): Promise<number> {
  const runDirectory = resolve(run);
  const path = resolve(out);
  if (format === 'csv' || format === 'npy') {
    const embeddings = await readEmbeddings(runPaths(runDirectory).embeddings).catch((error: unknown) => {
      throw new Error(`${(error as Error).message}\nRun "moco-studio embed ${run}" first.`);
    });
    if (format === 'csv') await exportCsv(path, embeddings);
    else await exportNpy(path, embeddings);
    const result = { path, format, rows: embeddings.rows, dim: embeddings.dim, checkpoint: embeddings.manifest.checkpoint };
    process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n` : `Wrote ${path} (${result.rows} x ${result.dim} embeddings of ${result.checkpoint})\n`);
    return 0;
  }
  const result = await exportRunModel({ runDirectory, format, out: path });
  process.stdout.write(json ? `${JSON.stringify(result, null, 2)}\n`
    : `Wrote ${result.path} (${format === 'tfjs' ? 'TF.js graph model' : 'ONNX model'} of ${result.checkpoint}, ${(result.bytes / 1e6).toFixed(1)} MB${result.standardised ? '' : '; without the folder standardisation: the run has no embeddings of this checkpoint (moco-studio embed <run>)'})\n`);
  return 0;
}
