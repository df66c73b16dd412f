/** The backend doctor's stored report (`<data>/backend-report.json`), read by the core (Backends view) and the trainer (backend order). */
import { readFile } from 'node:fs/promises';
import { backendReportSchema, type BackendReport } from '../../shared/trainer-protocol.js';

/** The stored report, or null when there is none or it cannot be read (an unreadable report is ignored, not fatal). */
export async function readBackendReport(path: string): Promise<BackendReport | null> {
  try {
    const parsed = backendReportSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}
