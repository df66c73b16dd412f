/**
 * GET /exports/<runId>/<format> (issue 12 item 4): a browser user's download of a run's export.
 * The core writes the export into the run's exports folder (main/core/export-files.ts); the
 * route streams that file with Content-Disposition: attachment, so the browser saves it under
 * the run's name instead of showing a path on the server's disk. Token checked by the caller.
 */
import type { ServerResponse } from 'node:http';
import type { AppCore } from '../core/app-core.js';
import { downloadFileName, EXPORT_FORMATS, isExportFormat } from '../core/export-files.js';

export async function serveExport(
  response: ServerResponse,
  segments: readonly string[],
  core: AppCore,
  sendText: (response: ServerResponse, status: number, text: string) => void,
  serveFile: (response: ServerResponse, path: string, headers: Record<string, string>) => Promise<void>,
): Promise<void> {
  const [, runId, format, ...rest] = segments;
  if (runId === undefined || format === undefined || rest.length > 0) {
    sendText(response, 404, 'Not found: expected /exports/<runId>/<format>');
    return;
  }
  if (!isExportFormat(format)) {
    sendText(response, 400, `Unknown export format "${format}": expected one of ${EXPORT_FORMATS.join(', ')}`);
    return;
  }
  let path: string;
  try {
    path = await core.exportFile(runId, format);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    sendText(response, code === 'unknown-run' ? 404 : 409, `The ${format} export of run ${runId} could not be made: ${(error as Error).message}`);
    return;
  }
  const name = downloadFileName(runId, format);
  await serveFile(response, path, {
    'Content-Disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(name)}`,
    'Cache-Control': 'no-store',
  });
}
